"""Smoke test of examples/seq2seq_dates.py with its tiny settings (seconds, not minutes)."""

import datetime

import numpy as np
import pytest
from repo_scripts import load_script


@pytest.fixture(scope="module")
def example():
    return load_script("examples/seq2seq_dates.py")


def test_generated_dates_are_unambiguous_and_use_known_characters(example):
    rng = np.random.default_rng(0)
    pairs = example.make_pairs(500, rng)
    assert len({source for source, _ in pairs}) == 500
    for source, target in pairs:
        assert set(source) <= set(example.SOURCE_CHARS)
        assert datetime.date.fromisoformat(target).isoformat() == target
    held_out = example.make_pairs(50, rng, exclude=[source for source, _ in pairs])
    assert not {source for source, _ in held_out} & {source for source, _ in pairs}
    date = datetime.date(2026, 11, 22)
    spellings = {example.render_date(date, rng) for _ in range(300)}
    assert {"22/11/26", "2026-11-22", "20261122"} <= spellings


def test_tiny_run_trains_decodes_saves_and_plots(example, tmp_path, capsys):
    plot, weights = tmp_path / "attention.png", tmp_path / "dates.safetensors"
    accuracy = example.main(["--tiny", "--plot", str(plot), "--save", str(weights)])
    out = capsys.readouterr().out
    assert 0.0 <= accuracy <= 1.0
    assert "held-out exact match, greedy" in out and "beam 2" in out
    assert "epoch  2" in out and weights.exists()
    assert "s wall, " in out and "s CPU (load average " in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no heat-map" in out
    else:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
