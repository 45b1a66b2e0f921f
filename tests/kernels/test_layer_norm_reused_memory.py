"""The layer-normalised LSTM's and GRU's residuals and backward gradients come from memory
reused between calls (``numrnn.kernels.reused_memory``): the previous call's once nothing
refers to any part of it, so that a training loop writes into pages already mapped; never
while a caller still holds a part, and with nothing of the previous call showing through."""

import gc

import numpy as np
import pytest

from numrnn.functional.cell_kinds import GRU, LSTM

OPTIONS = {"layer_norm": True}
KINDS = pytest.mark.parametrize("kind", [LSTM, GRU], ids=["LSTM", "GRU"])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


def problem(kind, seed, dtype, steps=20, batch=8, n_in=3, hidden=96):
    """Random input, states and weights; every row runs all steps (no padding). The
    residuals and gradients are past reused_memory.SMALLEST, below which plain arrays serve."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, n_in)).astype(dtype)
    states = tuple(rng.standard_normal((batch, hidden)).astype(dtype) * 0.5 for _ in kind.states)
    weights = tuple(rng.standard_normal(shape).astype(dtype) * 0.5
                    for _, shape in kind.parameters(n_in, hidden, OPTIONS))
    return x, states, weights, np.full(batch, steps, dtype=np.int64)


def step(kind, x, states, weights, lengths):
    """Forward and backward; returns the output, the gradients and the saved residuals."""
    output, finals, saved = kind.forward_train(x, states, weights, lengths, False, OPTIONS)
    grads = kind.backward(np.ones_like(output), tuple(np.ones_like(f) for f in finals), x,
                          states, weights, saved, lengths, False, OPTIONS)
    return output, grads, saved


def _address(array):
    return array.__array_interface__["data"][0]


@KINDS
@DTYPES
def test_a_held_call_keeps_its_residuals(kind, dtype):
    _, _, held = step(kind, *problem(kind, 0, dtype))
    copies = [np.array(part) for part in held]
    _, _, later = step(kind, *problem(kind, 1, dtype))
    for part, copy in zip(held, copies):
        np.testing.assert_array_equal(part, copy)
    assert not np.shares_memory(held[0], later[0])


@KINDS
@DTYPES
def test_released_memory_is_reused_and_nothing_of_its_last_call_shows(kind, dtype):
    _, _, saved = step(kind, *problem(kind, 0, dtype))
    # Carved from a ReusedMemory block (a view through a memoryview), not a plain array.
    assert isinstance(saved[0].base.base, memoryview)
    first = _address(saved[0])
    del saved
    gc.collect()
    data = problem(kind, 1, dtype)
    output, grads, saved = step(kind, *data)
    assert _address(saved[0]) == first
    # While these residuals are held, the same call runs in other memory: same bits.
    fresh_output, fresh_grads, fresh_saved = step(kind, *data)
    assert not np.shares_memory(fresh_saved[0], saved[0])
    np.testing.assert_array_equal(output, fresh_output)
    for grad, fresh in zip(grads, fresh_grads):
        np.testing.assert_array_equal(grad, fresh)
