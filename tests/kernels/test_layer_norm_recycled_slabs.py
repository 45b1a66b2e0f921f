"""The layer-normalised LSTM's residuals and backward gradients come from a recycled slab
(``layer_norm_rows.recycled_allocation``): the previous call's, once nothing refers to any
part of it, so that a training loop writes into pages already mapped; never while a
caller still holds a part, and with nothing of the previous call showing through."""

import gc
import weakref

import numpy as np
import pytest

from numrnn.functional.cell_kinds import LSTM

OPTIONS = {"layer_norm": True}


def problem(seed, dtype, steps=5, batch=4, n_in=3, hidden=6):
    """Random input, states and weights; every row runs all steps (no padding)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, n_in)).astype(dtype)
    states = tuple(rng.standard_normal((batch, hidden)).astype(dtype) * 0.5 for _ in range(2))
    weights = tuple(rng.standard_normal(shape).astype(dtype) * 0.5
                    for _, shape in LSTM.parameters(n_in, hidden, OPTIONS))
    return x, states, weights, np.full(batch, steps, dtype=np.int64)


def step(x, states, weights, lengths):
    """Forward and backward; returns the output, the gradients and the saved residuals."""
    output, finals, saved = LSTM.forward_train(x, states, weights, lengths, False, OPTIONS)
    grads = LSTM.backward(np.ones_like(output), tuple(np.ones_like(f) for f in finals), x,
                          states, weights, saved, lengths, False, OPTIONS)
    return output, grads, saved


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_held_call_keeps_its_residuals(dtype):
    x, states, weights, lengths = problem(0, dtype)
    _, _, held = step(x, states, weights, lengths)
    copies = [np.array(part) for part in held]
    _, _, later = step(*problem(1, dtype))
    for part, copy in zip(held, copies):
        np.testing.assert_array_equal(part, copy)
    assert not np.shares_memory(held[0], later[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_released_slab_is_reused_and_nothing_of_its_last_call_shows(dtype):
    _, _, saved = step(*problem(0, dtype))
    slab = weakref.ref(saved[0].base)
    del saved
    gc.collect()
    data = problem(1, dtype)
    output, grads, saved = step(*data)
    # The first call's slab lives on in the cache and carries the second call's parts.
    assert slab() is not None and saved[0].base is slab()
    # While these residuals are held, the same call runs in a fresh slab: same bits.
    fresh_output, fresh_grads, fresh_saved = step(*data)
    assert fresh_saved[0].base is not saved[0].base
    np.testing.assert_array_equal(output, fresh_output)
    for grad, fresh in zip(grads, fresh_grads):
        np.testing.assert_array_equal(grad, fresh)
