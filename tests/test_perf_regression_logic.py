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


def test_every_committed_baseline_covers_every_case(regression):
    document = regression.harness.load_json(regression.BASELINE)
    assert document["format"] == regression.BASELINE_FORMAT and document["machines"]
    for key, entry in document["machines"].items():
        assert entry["machine"]["machine_key"] == key
        assert set(entry["cases"]) == set(regression.CASES)
        assert all(case["normalised"] > 0 for case in entry["cases"].values())


def test_the_session_3_baseline_is_kept_under_the_zen_3_avx2_machine(regression):
    document = regression.harness.load_json(regression.BASELINE)
    entry = regression.machine_baseline(
        document, "AMD EPYC | family 25 model unrecorded (Zen 3) | avx2")
    assert entry["machine"]["time"] == "2026-11-23 05:40:23 UTC"
    assert entry["cases"]["lstm-infer-small"]["normalised"] == pytest.approx(1.897967063717122)


ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw avx512vl avx512_vnni avx512_bf16

processor\t: 1
model name\t: another CPU, never read
"""
ZEN3 = ZEN4.replace("model\t\t: 17", "model\t\t: 1").replace(
    " avx512f avx512bw avx512vl avx512_vnni avx512_bf16", "")


def test_the_machine_key_names_model_family_and_vector_width(regression):
    harness = regression.harness
    zen4, zen3 = harness.cpu_features(ZEN4), harness.cpu_features(ZEN3)
    assert harness.machine_key(zen4) == "AMD EPYC | family 25 model 17 | avx512"
    assert harness.machine_key(zen3) == "AMD EPYC | family 25 model 1 | avx2"
    assert harness.vector_extensions(zen4["flags"]) == [
        "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx2", "fma", "avx"]
    assert harness.vector_isa(["sse", "sse2"]) == "sse"
    # A machine whose /proc/cpuinfo cannot be read still gets a key.
    assert harness.machine_key(harness.cpu_features("")).endswith("| sse")


def _entry(key, blas_core="SkylakeX", figure=4.0):
    return {"machine": {"machine_key": key, "blas_core": blas_core, "time": "t", "git": "g"},
            "gemm_size": 512, "cases": {"lstm-infer-small": {"normalised": figure}}}


def test_a_baseline_is_found_only_for_the_same_kind_of_machine(regression):
    zen4, zen3 = ("AMD EPYC | family 25 model 17 | avx512",
                  "AMD EPYC | family 25 model 1 | avx2")
    document = regression.with_machine_baseline({}, zen3, _entry(zen3, "Zen"))
    assert regression.machine_baseline(document, zen4) is None
    assert "no baseline for this kind of machine" in regression.comparable(None, zen4,
                                                                           "SkylakeX")
    found = regression.machine_baseline(document, zen3)
    assert regression.comparable(found, zen3, "Zen") is None
    # The same CPU with its GEMM on other OpenBLAS kernels is not the same yardstick.
    assert "not comparable" in regression.comparable(found, zen3, "Haswell")


def test_recording_replaces_this_machine_and_keeps_the_others(regression):
    zen4, zen3 = ("AMD EPYC | family 25 model 17 | avx512",
                  "AMD EPYC | family 25 model 1 | avx2")
    document = regression.with_machine_baseline({}, zen3, _entry(zen3, figure=1.0))
    document = regression.with_machine_baseline(document, zen4, _entry(zen4, figure=2.0))
    document = regression.with_machine_baseline(document, zen4, _entry(zen4, figure=3.0))
    assert set(document["machines"]) == {zen3, zen4}
    assert regression.figures(document["machines"][zen3]["cases"]) == {"lstm-infer-small": 1.0}
    assert regression.figures(document["machines"][zen4]["cases"]) == {"lstm-infer-small": 3.0}


def test_check_without_a_baseline_for_this_machine_says_so_and_passes(regression, tmp_path,
                                                                      capsys):
    other = "Imaginary CPU | family 0 model 0 | avx2"
    path = tmp_path / "baseline.json"
    regression.harness.write_json(str(path), regression.with_machine_baseline(
        {}, other, _entry(other)))
    threads = __import__("numba").get_num_threads()
    # Returns before timing anything or pinning threads: no case runs.
    assert regression.main(["check", "--baseline", str(path)]) == 0
    assert __import__("numba").get_num_threads() == threads
    output = capsys.readouterr().out
    assert output.startswith("NO BASELINE: no baseline for this kind of machine")
    assert other in output and "Nothing was compared" in output


def test_importing_the_script_leaves_thread_settings_alone(regression):
    # The thread variables are set only when the script runs: a leaked
    # NUMBA_NUM_THREADS makes numba refuse to compile anything later in this process.
    assert "NUMBA_NUM_THREADS" not in os.environ or os.environ["NUMBA_NUM_THREADS"] == str(
        __import__("numba").config.NUMBA_NUM_THREADS)
