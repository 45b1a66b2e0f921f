"""The demo, shrunk: it trains, the loss falls, it saves, and the reloaded model agrees."""

import numrnn
from numrnn.cli import main
from numrnn.demo import run_demo


def test_tiny_demo_trains_saves_and_reloads(tmp_path, capsys):
    path = tmp_path / "demo.safetensors"
    result = run_demo(epochs=2, hidden_size=32, embedding_dim=8, seq_length=32, batch_size=16,
                      corpus_chars=24_000, learning_rate=1e-2, sample_chars=60,
                      output=str(path), progress=False)
    assert result.epoch_bpc[-1] < result.initial_bpc - 1.5
    assert result.epoch_bpc[1] < result.epoch_bpc[0]
    assert result.sample == result.reloaded_sample and len(result.sample) == 60
    assert isinstance(numrnn.load_model(path), numrnn.CharLanguageModel)
    out = capsys.readouterr().out
    assert "epoch 2/2: validation" in out and "bits/char" in out
    assert str(path) in out and "identical" in out


def test_cli_help_lists_the_demo_options(capsys):
    try:
        main(["demo", "--help"])
    except SystemExit as stop:
        assert stop.code == 0
    out = capsys.readouterr().out
    for flag in ("--epochs", "--hidden-size", "--corpus-chars", "--seed", "--no-progress",
                 "--output"):
        assert flag in out


def test_cli_reports_a_refused_option_value_in_one_line(tmp_path, capsys):
    code = main(["demo", "--hidden-size", "0", "--corpus-chars", "20000", "--no-progress",
                 "--output", str(tmp_path / "demo.safetensors")])
    assert code == 2
    error = capsys.readouterr().err
    assert error == ("numrnn demo: error: argument --hidden-size: must be an int >= 1, got '0' "
                     "(see numrnn demo --help)\n")
    assert not (tmp_path / "demo.safetensors").exists()
