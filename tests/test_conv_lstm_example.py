"""examples/conv_lstm_classifier.py runs end to end in its --quick mode."""

import math

from repo_scripts import load_script


def test_conv_lstm_classifier_quick_run(capsys):
    result = load_script("examples/conv_lstm_classifier.py").main(["--quick"])
    out = capsys.readouterr().out
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 < result["chance"] <= 1.0
    assert math.isfinite(result["seconds"])
    assert "epoch  2" in out and "held-out accuracy" in out
    # docs/examples.md quotes wall time, CPU time and load: the script must print all three.
    assert "s wall, " in out and "s CPU (load average " in out
    assert "Conv1d(2, 8, kernel_size=(5,)" in out and "MaxPool1d(kernel_size=2" in out
