"""The regression script's verdicts (pure logic: nothing here is timed)."""

import os

import pytest
from repo_scripts import load_script


@pytest.fixture(scope="module")
def regression():
    return load_script("perf/regression.py")


BASELINE = {"lstm-infer-small": 4.0, "gru-train-small": 10.0, "rnn-infer-small": 2.0}


def test_a_2x_slowdown_fails(regression):
    current = dict(BASELINE, **{"gru-train-small": 20.0})
    findings = regression.compare(BASELINE, current, tolerance=1.5)
    assert regression.failed(findings)
    statuses = {case: status for case, *_, status in findings}
    assert statuses == {"lstm-infer-small": "ok", "gru-train-small": "slower",
                        "rnn-infer-small": "ok"}


def test_a_1_1x_slowdown_passes(regression):
    current = {case: 1.1 * figure for case, figure in BASELINE.items()}
    findings = regression.compare(BASELINE, current, tolerance=1.5)
    assert not regression.failed(findings)
    assert all(status == "ok" for *_, status in findings)
    assert [round(ratio, 6) for *_, ratio, _ in findings] == [1.1] * 3


def test_speedups_new_and_missing_cases(regression):
    current = {"lstm-infer-small": 1.0, "gru-train-small": 10.0, "brand-new": 3.0}
    findings = {case: status for case, *_, status in regression.compare(BASELINE, current)}
    assert findings == {"lstm-infer-small": "faster", "gru-train-small": "ok",
                        "brand-new": "new", "rnn-infer-small": "missing"}
    # A case that vanished from the measured set is a failure: it cannot hide a slowdown.
    assert regression.failed(regression.compare(BASELINE, current))


def test_the_committed_baseline_covers_every_case(regression):
    baseline = regression.harness.load_json(regression.BASELINE)
    assert set(baseline["cases"]) == set(regression.CASES)
    assert all(entry["normalised"] > 0 for entry in baseline["cases"].values())


def test_importing_the_script_leaves_thread_settings_alone(regression):
    # The thread variables are set only when the script runs: a leaked
    # NUMBA_NUM_THREADS makes numba refuse to compile anything later in this process.
    assert "NUMBA_NUM_THREADS" not in os.environ or os.environ["NUMBA_NUM_THREADS"] == str(
        __import__("numba").config.NUMBA_NUM_THREADS)
