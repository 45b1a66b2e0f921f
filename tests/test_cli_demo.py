"""``numrnn demo`` as a script runs it: output checked first, clean logs, one unit throughout."""

import re

import pytest

from numrnn.demo import run_demo
from numrnn.errors import ArgumentError
from tests.cli_process import assert_one_line_refusal, run_numrnn

TINY = ["--epochs", "2", "--hidden-size", "32", "--embedding-dim", "8", "--seq-length", "32",
        "--batch-size", "16", "--corpus-chars", "24000", "--sample-chars", "60"]
TINY_KWARGS = dict(epochs=2, hidden_size=32, embedding_dim=8, seq_length=32, batch_size=16,
                   corpus_chars=24_000, sample_chars=60)
EPOCH_LINE = re.compile(r"epoch (\d)/2: validation ([\d.]+) bits/char \(training ([\d.]+)\)")


def test_an_unwritable_output_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    output = blocker / "demo.safetensors"
    done = run_numrnn("demo", *TINY, "--output", output)
    line = assert_one_line_refusal(done, "demo")
    assert line.startswith(f"numrnn demo: error: cannot write the demo output '{output}'")
    assert done.stdout == ""  # nothing was trained


def test_logs_have_no_progress_redraws_when_stderr_is_not_a_terminal(tmp_path):
    done = run_numrnn("demo", *TINY, "--output", tmp_path / "demo.safetensors")
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\r" not in done.stdout
    assert [match[0] for match in EPOCH_LINE.findall(done.stdout)] == ["1", "2"]
    assert "losses in bits per character" in done.stdout


def test_the_progress_bar_shows_the_losses_the_epoch_lines_show(tmp_path, capsys):
    run_demo(**TINY_KWARGS, output=str(tmp_path / "demo.safetensors"), progress=True)
    captured = capsys.readouterr()
    for epoch, validation, training in EPOCH_LINE.findall(captured.out):
        bars = re.findall(rf"epoch {epoch}/2: 100%.*?loss=([\d.]+), val=([\d.]+)",
                          captured.err)
        assert bars, captured.err
        bar_loss, bar_validation = map(float, bars[-1])
        assert bar_loss == pytest.approx(float(training), abs=1e-3)
        assert bar_validation == pytest.approx(float(validation), abs=1e-3)


@pytest.mark.parametrize("options, message", [
    (dict(epochs=0), "demo: epochs must be a positive int, got 0"),
    (dict(prompt=""), "demo: prompt must be a str of at least one character"),
    (dict(corpus_chars=300), "fewer than 2 for each of the 16 streams"),
    (dict(top_k=0), "top_k must be a positive int or None, got 0"),
    (dict(temperature=-1.0), "temperature must be a number >= 0, got -1.0"),
])
def test_run_demo_refuses_an_option_before_training(tmp_path, capsys, options, message):
    with pytest.raises(ArgumentError, match=re.escape(message)):
        run_demo(**{**TINY_KWARGS, **options}, output=str(tmp_path / "demo.safetensors"))
    assert "before training" not in capsys.readouterr().out
    assert not (tmp_path / "demo.safetensors").exists()


def test_run_demo_refuses_an_unwritable_output_before_reading_the_corpus(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot write the demo output"):
        run_demo(**TINY_KWARGS, output=str(tmp_path / "missing" / "demo.safetensors"))
