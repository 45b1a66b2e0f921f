"""perf/peak_memory.py: its numrnn child in a fresh process, and the theoretical floor."""

import sys

import pytest
from repo_scripts import load_script


@pytest.fixture(scope="module")
def peak_memory():
    return load_script("perf/peak_memory.py")


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the high-water mark is reset through /proc (Linux only)")
def test_numrnn_child_reports_a_positive_peak(peak_memory):
    result = peak_memory.run_child("numrnn", "LSTM", "tiny-b1", repeat=2)
    assert result["library"] == "numrnn"
    assert result["shape"] == [1, 50, 32, 64]
    assert len(result["increases_mib"]) == 2
    assert result["peak_increase_mib"] == max(result["increases_mib"]) > 0
    assert result["hwm_mib"] == pytest.approx(result["baseline_mib"]
                                              + result["peak_increase_mib"])


def test_theoretical_floor_of_the_large_lstm(peak_memory):
    floor = peak_memory.theoretical("LSTM", (64, 100, 512, 512))
    assert floor["residual_min_mib"] == 75.0  # 6 floats x T*B*H = 6 x 12.5 MiB
    assert floor["weight_grads_mib"] == (2048 * 1024 + 2 * 2048) * 4 / 2 ** 20
