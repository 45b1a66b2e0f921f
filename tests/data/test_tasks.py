"""Generated tasks: shapes, structure, and the statistics that define their baselines."""

import numpy as np
import pytest

import numrnn
import numrnn.defaults
from numrnn.data import adding_problem, copy_task, noisy_sines
from numrnn.errors import ArgumentError


def test_adding_problem_structure():
    inputs, targets = adding_problem(500, 30, rng=0)
    assert inputs.shape == (30, 500, 2) and targets.shape == (500, 1)
    assert inputs.dtype == np.float32 and targets.dtype == np.float32
    markers = inputs[:, :, 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:15].sum(axis=0) == 1) and np.all(markers[15:].sum(axis=0) == 1)
    np.testing.assert_allclose(targets[:, 0], (inputs[:, :, 0] * markers).sum(axis=0),
                               rtol=1e-6)
    assert inputs[:, :, 0].min() >= 0.0 and inputs[:, :, 0].max() < 1.0


def test_adding_problem_mean_prediction_mse_is_one_sixth():
    _, targets = adding_problem(200_000, 10, rng=np.random.default_rng(1))
    mse = float(np.mean((targets.astype(np.float64) - 1.0) ** 2))
    # Var of a sum of two U(0,1) is 1/6; the standard error at n=200k is about 5e-4.
    assert mse == pytest.approx(1 / 6, abs=2.5e-3)
    assert float(targets.mean()) == pytest.approx(1.0, abs=5e-3)


def test_adding_problem_is_deterministic_for_a_seed():
    a = adding_problem(10, 8, rng=3)
    b = adding_problem(10, 8, rng=3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], adding_problem(10, 8, rng=4)[0])


def test_copy_task_structure():
    inputs, targets = copy_task(64, steps=5, n_symbols=6, delay=7, rng=0)
    assert inputs.shape == targets.shape == (17, 64)
    assert inputs.dtype == targets.dtype == np.int64
    blank, go = 6, 7
    np.testing.assert_array_equal(targets[12:], inputs[:5])
    assert np.all(inputs[:5] < 6)
    assert np.all(inputs[5:11] == blank) and np.all(inputs[11] == go)
    assert np.all(inputs[12:] == blank) and np.all(targets[:12] == blank)


def test_noisy_sines_targets_are_next_inputs():
    inputs, targets = noisy_sines(16, 40, rng=0, noise=0.05)
    assert inputs.shape == targets.shape == (40, 16, 1)
    assert inputs.dtype == np.float32
    np.testing.assert_array_equal(targets[:-1], inputs[1:])
    clean_inputs, _ = noisy_sines(16, 40, rng=0, noise=0.0)
    assert np.abs(clean_inputs).max() <= 1.5
    noise = inputs - clean_inputs
    assert 0.03 < float(noise.std()) < 0.07


def test_bad_arguments():
    with pytest.raises(ArgumentError, match="steps must be >= 2"):
        adding_problem(4, 1)
    with pytest.raises(ArgumentError, match="delay must be a positive integer"):
        copy_task(4, 3, delay=0)
    with pytest.raises(ArgumentError, match="noise must be >= 0"):
        noisy_sines(4, 3, noise=-1)


@pytest.mark.parametrize("task", [
    lambda: adding_problem(12, 9),
    lambda: copy_task(12, steps=4, n_symbols=5, delay=3),
    lambda: noisy_sines(12, 20),
])
def test_rng_none_follows_numrnn_manual_seed(task, monkeypatch):
    monkeypatch.setattr(numrnn.defaults, "_default_generator", None)
    numrnn.manual_seed(0)
    first = task()
    numrnn.manual_seed(0)
    again = task()
    numrnn.manual_seed(1)
    other = task()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(task()[0], again[0]), "each call draws anew"
