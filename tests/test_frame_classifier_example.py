"""examples/frame_classifier.py runs end to end in its --quick mode, saves and reloads."""

import math

from repo_scripts import load_script


def test_frame_classifier_quick_run(capsys):
    result = load_script("examples/frame_classifier.py").main(["--quick"])
    out = capsys.readouterr().out
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 < result["chance"] <= 1.0
    assert math.isfinite(result["seconds"])
    assert "epoch  2" in out and "held-out accuracy" in out
    # docs/examples.md quotes wall time, CPU time and load: the script must print all three.
    assert "s wall, " in out and "s CPU (load average " in out
    assert "Conv2d(1, 4, kernel_size=(3, 3)" in out and "MaxPool2d(kernel_size=(2, 2)" in out
    assert "LSTM(128, 16" in out
    assert result["reloaded_same"] and "the same predictions" in out
