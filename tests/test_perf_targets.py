"""Issue 21's targets as perf/compare.py judges them (pure logic: nothing here is timed).

The rows are made up; what is checked is the rule: inference against the
*faster* of PyTorch and ONNX Runtime (≤ 0.8 at tiny-b1, small-b8 and small;
≤ 1.0 plus ≥ 80% of the GEMM rate at medium and large), training ≤ 0.7 against
PyTorch at every size, a missing figure not judged rather than met, and the
report's count of targets met.
"""

import pytest
from repo_scripts import ROOT, load_script

PERF = str(ROOT / "perf")


@pytest.fixture(scope="module")
def targets():
    return load_script("perf/targets.py")


@pytest.fixture(scope="module")
def compare():
    # compare.py imports its neighbours (harness, peers, targets) by name, as when run.
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(PERF)
        yield load_script("perf/compare.py")


def row(config, mode, ratios, gflops=100.0, layers=1, cell="LSTM"):
    return {"cell": cell, "config": config, "mode": mode, "layers": layers,
            "bidirectional": layers > 1, "ratios": ratios, "gflops": gflops}


def test_latency_inference_is_judged_against_the_faster_peer(targets):
    # 0.5 of torch but 0.9 of ORT: ORT is the faster peer, and 0.9 > 0.8.
    judged = targets.row_targets(row("small", "infer", {"torch": 0.5, "onnxruntime": 0.9}),
                                 gemm_peak_gflops=400.0)
    assert set(judged) == {"faster_peer"}
    assert judged["faster_peer"]["peer"] == "onnxruntime"
    assert judged["faster_peer"]["ratio"] == 0.9
    assert judged["faster_peer"]["max_ratio"] == 0.8
    assert judged["faster_peer"]["met"] is False
    assert targets.overall(judged) is False


@pytest.mark.parametrize("config", ["tiny-b1", "small-b8", "small"])
def test_every_latency_size_has_the_0_8_bound(targets, config):
    judged = targets.row_targets(row(config, "infer", {"torch": 0.79, "onnxruntime": 0.3}),
                                 gemm_peak_gflops=400.0)
    assert judged["faster_peer"]["peer"] == "torch"
    assert judged["faster_peer"]["met"] is True


@pytest.mark.parametrize("config", ["medium", "large"])
def test_arithmetic_inference_needs_both_the_ratio_and_80_percent_of_gemm(targets, config):
    ratios = {"torch": 0.9, "onnxruntime": 0.95}
    fast = targets.row_targets(row(config, "infer", ratios, gflops=330.0), 400.0)
    assert fast["faster_peer"]["met"] is True and fast["gemm_rate"]["met"] is True
    assert fast["gemm_rate"]["fraction"] == pytest.approx(0.825)
    assert targets.overall(fast) is True
    slow = targets.row_targets(row(config, "infer", ratios, gflops=300.0), 400.0)
    assert slow["faster_peer"]["met"] is True and slow["gemm_rate"]["met"] is False
    assert targets.overall(slow) is False
    behind = targets.row_targets(row(config, "infer", {"torch": 1.05}, gflops=390.0), 400.0)
    assert behind["faster_peer"]["met"] is False and behind["gemm_rate"]["met"] is True
    assert targets.overall(behind) is False


@pytest.mark.parametrize("config", ["tiny-b1", "small-b8", "small", "medium", "large"])
def test_training_is_0_7_of_torch_everywhere(targets, config):
    assert targets.row_targets(row(config, "train", {"torch": 0.69}), 400.0)["torch"]["met"]
    missed = targets.row_targets(row(config, "train", {"torch": 0.71}), 400.0)
    assert missed == {"torch": {"peer": "torch", "ratio": 0.71, "max_ratio": 0.7,
                                "met": False}}


def test_a_missing_peer_is_not_judged_and_counted_apart(targets):
    rows = [row("small", "infer", {}), row("small", "train", {"torch": 0.5}),
            row("medium", "infer", {"onnxruntime": 1.2}, gflops=350.0),
            row("small", "train", {"torch": 0.9}, layers=2)]
    for each in rows:
        each["targets"] = targets.row_targets(each, 400.0)
    assert rows[0]["targets"]["faster_peer"]["met"] is None
    assert targets.overall(rows[0]["targets"]) is None
    assert targets.summary(rows) == {
        "one-layer": {"targets": 3, "met": 1, "missed": 1, "not_judged": 1},
        "LSTM 2-layer bi": {"targets": 1, "met": 0, "missed": 1, "not_judged": 0}}


def test_verdicts_read_as_text(targets):
    judged = targets.row_targets(row("large", "infer", {"torch": 1.1, "onnxruntime": 1.25},
                                     gflops=300.0), 400.0)
    assert targets.describe_row(judged) == ("MISSED 1.25 > 1.0 vs ORT (faster peer); "
                                            "MISSED 75% < 80% of GEMM")
    assert targets.describe_row({}) == "—"
    counts = {"one-layer": {"targets": 30, "met": 12, "missed": 17, "not_judged": 1}}
    assert targets.summary_lines(counts) == [
        "Issue 21's targets, one-layer rows: **12 of 30 met**, 17 missed, 1 not judged."]


def machine():
    return {"time": "2026-12-07 06:00:00 UTC", "git": "abc1234", "cpu": "Test CPU",
            "cpu_family": "26", "cpu_model": "2", "cores": 2, "vector_extensions": ["avx2"],
            "load_average": [0.1, 0.1, 0.1], "python": "3.11", "numpy": "2", "numba": "0.6",
            "threads": "library defaults"}


def report_row(compare, targets, config, mode, numrnn_ms, peers_ms):
    timings = {"numrnn": {"median_ms": numrnn_ms, "first_ms": 1.0, "cores": 1.9}}
    timings.update({peer: {"median_ms": ms, "first_ms": 1.0} for peer, ms in peers_ms.items()})
    measured = {"cell": "GRU", "config": config, "shape": list(compare.CONFIGS[config]),
                "mode": mode, "layers": 1, "bidirectional": False, "timings": timings,
                "checks": {peer: {"agree": True} for peer in peers_ms}}
    measured = compare.finish_row(measured, {"bidirectional": False})
    measured["targets"] = targets.row_targets(measured, 400.0)
    return measured


def test_compare_report_gives_issue_21_verdicts_and_the_count(compare, targets):
    rows = [report_row(compare, targets, "small-b8", "infer", 1.0,
                       {"torch": 2.0, "onnxruntime": 1.1}),
            report_row(compare, targets, "small-b8", "train", 3.0, {"torch": 4.0})]
    report = {"machine": machine(), "peers": {}, "method": "fresh processes", "processes": 1,
              "blas_core": "Zen", "environment": {}, "gemm_gflops": {512: 400.0},
              "gemm_peak_gflops": 400.0, "notes": [], "rows": rows,
              "targets": {"issue": 21, "counts": targets.summary(rows)}}
    text = compare.markdown(report)
    assert "| MISSED 0.91 > 0.8 vs ORT (faster peer) |" in text
    assert "| MISSED 0.75 > 0.7 vs torch |" in text
    assert "Issue 21's targets, one-layer rows: **0 of 2 met**, 2 missed, 0 not judged." in text


def test_in_process_reports_judge_nothing(compare):
    report = {"machine": machine(), "peers": {}, "method": "in one process", "processes": None,
              "blas_core": None, "environment": {}, "gemm_gflops": {512: 400.0},
              "gemm_peak_gflops": 400.0, "notes": [], "rows": [], "targets": None}
    assert "none judged in this run" in compare.markdown(report)


@pytest.fixture(scope="module")
def odd_hidden():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(PERF)
        yield load_script("perf/odd_hidden.py")


def test_odd_hidden_sizes_pair_with_the_nearest_multiple_of_64(odd_hidden):
    assert [odd_hidden.nearest_multiple(h) for h in (100, 200, 330, 20)] == [128, 192, 320, 64]
    assert odd_hidden._parse([]).hidden == [100, 200, 330]


def test_odd_hidden_refuses_sizes_that_are_multiples_of_16(odd_hidden, capsys):
    with pytest.raises(SystemExit) as exit_info:
        odd_hidden._parse(["--hidden", "100,128"])
    assert exit_info.value.code == 2
    assert "not multiples of 16, got 128" in capsys.readouterr().err
