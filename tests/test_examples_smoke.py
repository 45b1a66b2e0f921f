"""Every example in examples/ runs end to end in its --quick mode and reports sane numbers.

The examples are scripts, not modules of the package, so each is imported by
path. Quick mode shrinks data, models and epochs so that all of them together
take seconds; what is checked is that they finish and that their results have
the right kind (finite, in range, a real PNG), not how good they are.
"""

import importlib.util
import math
import sys

import numpy as np
import pytest
from repo_scripts import load_script

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_example(name):
    return load_script(f"examples/{name}.py")


def has_matplotlib():
    return importlib.util.find_spec("matplotlib") is not None


def check_plot(path, out):
    """A PNG was written when matplotlib is installed; otherwise the script said why not."""
    if has_matplotlib():
        assert path.read_bytes()[:8] == PNG_SIGNATURE
    else:
        assert not path.exists() and "matplotlib is not installed" in out


def test_char_language_model(capsys):
    result = load_example("char_language_model").main(["--quick"])
    out = capsys.readouterr().out
    assert len(result["bpc"]) == 1 and all(math.isfinite(bpc) and bpc > 0 for bpc in result["bpc"])
    assert "epoch 1/1: held-out" in out and "bits/char" in out
    assert set(result["samples"]) == {"greedy", "temperature 0.5", "temperature 1.0",
                                      "temperature 1.0, top-5"}
    assert all(isinstance(sample, str) and sample for sample in result["samples"].values())


def test_sequence_classification(capsys):
    result = load_example("sequence_classification").main(["--quick"])
    out = capsys.readouterr().out
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 < result["chance"] <= 1.0
    assert "epoch  2" in out and "held-out accuracy" in out


def test_sequence_labelling(capsys):
    result = load_example("sequence_labelling").main(["--quick"])
    out = capsys.readouterr().out
    for name in ("bidirectional", "left-to-right"):
        assert 0.0 <= result[name] <= 1.0
    assert "held-out per-token accuracy" in out and "predicted" in out


def test_sequence_labelling_tags():
    tag = load_example("sequence_labelling").tag
    # The docstring's example: 3 8 2 5 5 9 4 is tagged v ^ v - - ^ v (ties make slopes).
    assert tag([3, 8, 2, 5, 5, 9, 4]).tolist() == [2, 1, 2, 0, 0, 1, 2]
    assert tag([7, 7]).tolist() == [0, 0]


def test_forecasting(tmp_path, capsys):
    plot = tmp_path / "forecast.png"
    errors = load_example("forecasting").main(["--quick", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert all(math.isfinite(errors[key]) for key in ("forecast", "persistence", "zero"))
    assert "10-step forecast MSE" in out
    check_plot(plot, out)


def test_forecasting_without_matplotlib(tmp_path, capsys, monkeypatch):
    # None in sys.modules makes "import matplotlib" raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    plot = tmp_path / "forecast.png"
    load_example("forecasting").main(["--quick", "--epochs", "1", "--plot", str(plot)])
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not plot.exists()


def test_adding_problem(tmp_path, capsys):
    plot = tmp_path / "gradients.png"
    results = load_example("adding_problem").main(["--quick", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert list(results) == ["tanh RNN", "IRNN", "LSTM"]
    for result in results.values():
        assert np.isfinite(result["test_mse"])
        ratios = result["gradient_ratio"]
        assert set(ratios) == {"before training", "after training"}
        assert all(np.isfinite(ratio) and ratio >= 0 for ratio in ratios.values())
    assert "test MSE at T = 20" in out
    check_plot(plot, out)


@pytest.mark.parametrize("name", ["char_language_model", "sequence_classification",
                                  "sequence_labelling", "forecasting", "adding_problem"])
def test_help_documents_quick_mode(name, capsys):
    with pytest.raises(SystemExit) as stop:
        load_example(name).main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--seed" in out


@pytest.fixture(scope="module")
def melody_example():
    # Loaded once: the script registers its model class for numrnn.load_model, and a
    # second, different class of the same name would be refused.
    return load_example("melody_generation")


def test_melody_generation(capsys, melody_example):
    result = melody_example.main(["--quick"])
    out = capsys.readouterr().out
    assert 0.0 <= result["greedy"] <= 1.0 and 0.0 <= result["sampled"] <= 1.0
    assert result["reloaded_same"] and "the same melodies" in out


def test_melody_grammar_accepts_its_melodies_and_nothing_else(melody_example):
    example = melody_example
    rng = np.random.default_rng(0)
    for root, mode, contour in example.all_conditions():
        notes = example.melody(root, mode, contour, 12, rng)
        assert example.keeps_grammar(notes, root, mode, contour)
        # Wrong contour, a note off the key, a leap of three scale steps: refused.
        other = {"rising": "falling", "falling": "rising", "arch": "valley",
                 "valley": "arch"}[contour]
        assert not example.keeps_grammar(notes, root, mode, other)
        off_key = next(pitch for pitch in range(notes[5], notes[5] + 12)
                       if (pitch - root) % 12 not in example.SCALES[mode])
        assert not example.keeps_grammar(notes[:5] + [off_key] + notes[6:], root, mode, contour)
        scale = list(example.scale_pitches(root, mode))
        leap = [notes[0], scale[scale.index(notes[0]) + (3 if contour in ("rising", "arch")
                                                         else -3)]]
        assert not example.keeps_grammar(leap, root, mode, contour)
