"""Generated sequence tasks with known difficulty, for testing that a model learns.

Every generator takes ``rng``: a ``numpy.random.Generator``, or a seed for
``np.random.default_rng``. Left out, it is a generator seeded by a draw from
numrnn's default generator, as for layers, so the data repeat after
:func:`numrnn.manual_seed`. Inputs are time-major ``(T, N, ...)`` like the
recurrent layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.defaults import child_generator
from numrnn.errors import ArgumentError

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.typing import FloatArray, IntArray, Seed


def _generator(rng: Seed) -> np.random.Generator:
    if rng is None:
        return child_generator()
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_positive(task, **values):
    for name, value in values.items():
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ArgumentError(f"{task}: {name} must be a positive integer, got {value!r}")


def adding_problem(n: int, steps: int, rng: Seed = None,
                   dtype: npt.DTypeLike = np.float32) -> tuple[FloatArray, FloatArray]:
    """The adding problem (Hochreiter & Schmidhuber, 1997): add the two marked numbers.

    Channel 0 holds values uniform in [0, 1); channel 1 is 1 at exactly two
    steps, one in the first half of the sequence and one in the second, else 0.
    The target is the sum of the two marked values. Predicting the mean (1.0)
    gives an MSE of the target's variance, 2 * 1/12 ~ 0.167: a model must
    beat that to have learned anything.

    Parameters
    ----------
    n : int
        Number of sequences.
    steps : int
        Sequence length ``T`` (at least 2).
    rng : numpy.random.Generator or int, optional
        Default: drawn from numrnn's default generator (:func:`numrnn.manual_seed`).
    dtype : numpy dtype, default float32

    Returns
    -------
    inputs : ndarray, shape (T, n, 2)
    targets : ndarray, shape (n, 1)
    """
    _check_positive("adding_problem", n=n, steps=steps)
    if steps < 2:
        raise ArgumentError(f"adding_problem: steps must be >= 2 to hold two markers, got {steps}")
    rng = _generator(rng)
    values = rng.random((steps, n))
    half = steps // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, steps, size=n)
    markers = np.zeros((steps, n))
    columns = np.arange(n)
    markers[first, columns] = 1.0
    markers[second, columns] = 1.0
    inputs = np.stack([values, markers], axis=-1).astype(dtype)
    # Summed from the cast inputs so the target is exactly what the model sees.
    targets = (inputs[first, columns, 0] + inputs[second, columns, 0])[:, None]
    return inputs, targets


def copy_task(n: int, steps: int, n_symbols: int = 8, delay: int = 10,
              rng: Seed = None) -> tuple[IntArray, IntArray]:
    """The copy-memory task (Arjovsky et al., 2016): reproduce symbols seen long ago.

    Each sequence shows ``steps`` random data symbols, then ``delay - 1`` blanks,
    a "go" marker, and ``steps`` more blanks during which the model must output
    the data symbols in order. Elsewhere the target is blank. Token ids:
    ``0 .. n_symbols - 1`` data, ``n_symbols`` blank, ``n_symbols + 1`` go
    (vocabulary size ``n_symbols + 2``). Total length ``T = 2 * steps + delay``.
    A model that outputs blank where the input is blank, and guesses at random
    in the copy window, scores a cross-entropy of
    ``steps * log(n_symbols) / T`` per step: the memoryless baseline.

    Parameters
    ----------
    n : int
        Number of sequences.
    steps : int
        How many symbols to remember.
    n_symbols : int, default 8
    delay : int, default 10
        Steps from the last data symbol to the go marker, inclusive (>= 1).
    rng : numpy.random.Generator or int, optional
        Default: drawn from numrnn's default generator (:func:`numrnn.manual_seed`).

    Returns
    -------
    inputs : ndarray of int64, shape (T, n)
    targets : ndarray of int64, shape (T, n)
    """
    _check_positive("copy_task", n=n, steps=steps, n_symbols=n_symbols, delay=delay)
    rng = _generator(rng)
    blank, go = n_symbols, n_symbols + 1
    total = 2 * steps + delay
    symbols = rng.integers(0, n_symbols, size=(steps, n))
    inputs = np.full((total, n), blank, dtype=np.int64)
    inputs[:steps] = symbols
    inputs[steps + delay - 1] = go
    targets = np.full((total, n), blank, dtype=np.int64)
    targets[steps + delay :] = symbols
    return inputs, targets


def noisy_sines(n: int, steps: int, rng: Seed = None, noise: float = 0.1,
                dtype: npt.DTypeLike = np.float32) -> tuple[FloatArray, FloatArray]:
    """Next-value prediction on noisy sine waves of random frequency, phase and amplitude.

    Each series is ``a * sin(w * t + phi) + noise * e_t`` with ``a`` uniform in
    [0.5, 1.5], ``w`` uniform in [0.1, 0.5] radians per step, ``phi`` uniform in
    [0, 2 pi) and ``e_t`` standard normal. ``targets[t]`` is the series at
    ``t + 1``, so ``targets[t] == inputs[t + 1]``: no model beats an MSE of
    ``noise**2`` (the unpredictable part of the next value).

    Parameters
    ----------
    n : int
        Number of series.
    steps : int
        Sequence length ``T``.
    rng : numpy.random.Generator or int, optional
        Default: drawn from numrnn's default generator (:func:`numrnn.manual_seed`).
    noise : float, default 0.1
        Standard deviation of the added Gaussian noise (>= 0).
    dtype : numpy dtype, default float32

    Returns
    -------
    inputs : ndarray, shape (T, n, 1)
    targets : ndarray, shape (T, n, 1)
    """
    _check_positive("noisy_sines", n=n, steps=steps)
    if not noise >= 0:
        raise ArgumentError(f"noisy_sines: noise must be >= 0, got {noise}")
    rng = _generator(rng)
    amplitude = rng.uniform(0.5, 1.5, size=n)
    frequency = rng.uniform(0.1, 0.5, size=n)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n)
    time = np.arange(steps + 1)[:, None]
    series = amplitude * np.sin(frequency * time + phase)
    series += noise * rng.standard_normal(series.shape)
    series = series.astype(dtype)[:, :, None]
    return series[:-1].copy(), series[1:].copy()
