"""perf/compare_options.py run tiny: the report's form, not its speeds.

Speed targets live in perf/ (docs/performance.md records them); a timed test on
a shared machine would only measure the neighbours. This runs the script's
quick mode on two options, the two with a PyTorch peer, in a subprocess as a
user runs it, and checks what it writes: the header naming the CPU and its
vector extensions, one table row per option with the ratio to the plain cell
and a verdict per target, the first calls apart, and that the peers, given the
option layer's weights, computed what numrnn computed.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest
from repo_scripts import ROOT

SCRIPT = ROOT / "perf" / "compare_options.py"
HAS_TORCH = importlib.util.find_spec("torch") is not None
NUMBER = r"[0-9]+\.[0-9]+"


def run_script(*arguments):
    path = os.environ.get("PYTHONPATH")
    environment = dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ""))
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=900,
                          check=False)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare_options")
    done = run_script("--quick", "--budget", "0.05", "--options",
                      "lstm-proj_size,lstm-layer_norm", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    text = (out / "compare_options.md").read_text()
    report = json.loads((out / "compare_options.json").read_text())
    return text, report


def test_header_names_the_cpu_its_vector_extensions_and_the_method(quick_report):
    text, report = quick_report
    first_line = text.splitlines()[0]
    assert first_line.startswith("Measured ")
    assert f"on {report['machine']['cpu']} (family" in first_line
    assert "vector extensions: " in first_line and "load average" in first_line
    assert "Method: **fresh processes** (1 per contestant and row, rotated)" in text
    # The script restarts itself without the OpenBLAS overrides the host may set.
    assert "OPENBLAS_CORETYPE" not in report["machine"]["blas_environment"]


def test_one_row_per_option_with_ratio_to_plain_and_verdicts(quick_report):
    text, _ = quick_report
    header = ("| option | cell | config (B, T, I, H) | option ms | plain ms | option / plain "
              "| peer | peer ms | numrnn / peer | targets |")
    assert header in text
    peers = {"proj_size=H/2": ("torch.nn.LSTM(proj_size=H/2)", "0.8"),
             "layer_norm": ("torch LayerNorm LSTM loop", "0.2")}
    for label, (peer, bound) in peers.items():
        verdict = r"(met|MISSED) vs plain \(≤ 1\.3\)"
        if HAS_TORCH:
            peer_cells = (rf"{re.escape(peer)} \| {NUMBER} \| {NUMBER} \| {verdict}; "
                          rf"(met|MISSED) vs {re.escape(peer)} \(≤ {bound}\)")
        else:
            peer_cells = rf"{re.escape(peer)} \| — \| — \| {verdict}"
        row = (rf"^\| {re.escape(label)} \| LSTM \| tiny-b1 \(1, 50, 32, 64\) "
               rf"\| {NUMBER} \| {NUMBER} \| {NUMBER} \| {peer_cells} \|$")
        assert len(re.findall(row, text, flags=re.MULTILINE)) == 1, (label, text)
        first_call = rf"^\| {re.escape(label)} \| LSTM \| tiny-b1 \| {NUMBER} \| {NUMBER} \| "
        assert re.search(first_call, text, flags=re.MULTILINE), (label, text)


def test_json_rows_hold_medians_and_the_peers_agree(quick_report):
    _, report = quick_report
    assert [row["option"] for row in report["rows"]] == ["lstm-proj_size", "lstm-layer_norm"]
    for row in report["rows"]:
        contestants = {"option", "plain", "peer"} if HAS_TORCH else {"option", "plain"}
        assert set(row["timings"]) == contestants
        for timing in row["timings"].values():
            assert timing["median_ms"] > 0 and timing["processes"] == 1
        assert row["over_plain"] == pytest.approx(row["timings"]["option"]["median_ms"]
                                                  / row["timings"]["plain"]["median_ms"])
        if HAS_TORCH:
            assert row["checks"]["peer"]["agree"], row["checks"]
            assert set(row["targets"]) == {"plain", "peer"}


def test_an_unknown_option_is_refused_by_name():
    done = run_script("--options", "lstm-peepholes,lstm-zoneout")
    assert done.returncode == 2
    assert "unknown option lstm-zoneout" in done.stderr


@pytest.mark.skipif(not HAS_TORCH, reason="the peers need torch")
def test_layer_norm_peer_agrees_in_float64_and_the_report_says_which_check(quick_report):
    text, report = quick_report
    checks = {row["option"]: row["checks"] for row in report["rows"]}
    # The proj_size peer keeps the float32 check of the timed runs, with its bounds.
    proj = checks["lstm-proj_size"]
    assert set(proj) == {"peer"}
    assert proj["peer"]["precision"] == "float32"
    assert (proj["peer"]["output_atol"], proj["peer"]["gradient_rtol"]) == (1e-4, 1e-3)
    # The layer-normalised loop is checked in float64 within bounds far tighter than
    # float32's, and the float32 differences are kept for the record.
    layer_norm = checks["lstm-layer_norm"]
    assert layer_norm["peer"]["precision"] == "float64" and layer_norm["peer"]["agree"]
    assert layer_norm["peer"]["output_max_abs_diff"] <= 1e-9
    assert layer_norm["peer"]["grad_rel_diff"] <= 1e-9
    assert layer_norm["peer_float32"]["precision"] == "float32"
    assert set(layer_norm["peer_float32"]["output_error_from_float64"]) == {"option", "peer"}
    assert re.search(r"^- layer_norm LSTM tiny-b1: float64 check, .*: agree; the float32 "
                     r"results \(timed\) differ by ", text, flags=re.MULTILINE), text
    assert re.search(r"^- proj_size=H/2 LSTM tiny-b1: float32 check, .*: agree$", text,
                     flags=re.MULTILINE), text
