"""The plain LSTM's, GRU's and Elman RNN's training outputs (and the Elman RNN's residual and
pre-activation gradients) come from memory reused between calls
(``numrnn.kernels.reused_memory``), so that a training step writes into pages already mapped
instead of faulting fresh ones in: the previous call's once nothing refers to it, never while
a caller holds the output or a view of it, and with nothing of the previous call showing
through at padded positions."""

import gc

import numpy as np
import pytest

from numrnn.functional.cell_kinds import GRU, LSTM, RNN

KINDS = pytest.mark.parametrize("kind", [LSTM, GRU, RNN], ids=["LSTM", "GRU", "RNN"])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


# Input sizes at which B = 64, H = 64 takes the joint product path in float32 (the weights
# past plan.PACK_FROM_SIZE): float64 takes the other path, so the tests see both.
JOINT_INPUTS = {"LSTM": 3, "GRU": 32, "RNN": 200}


def problem(kind, seed, dtype, lengths=None, steps=20, batch=64, hidden=64):
    """Random input, states and weights; the (T, B, H) output is past
    reused_memory.SMALLEST, below which plain arrays serve."""
    n_in = JOINT_INPUTS[kind.name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, n_in)).astype(dtype)
    states = tuple(rng.standard_normal((batch, hidden)).astype(dtype) * 0.5 for _ in kind.states)
    weights = tuple(rng.standard_normal(shape).astype(dtype) * 0.3
                    for _, shape in kind.parameters(n_in, hidden, {}))
    if lengths is None:
        lengths = np.full(batch, steps, dtype=np.int64)
    return x, states, weights, lengths


def step(kind, x, states, weights, lengths, reverse=False):
    """Forward and backward; returns the output and the gradients."""
    output, finals, saved = kind.forward_train(x, states, weights, lengths, reverse)
    grads = kind.backward(np.ones_like(output), tuple(np.ones_like(f) for f in finals), x,
                          states, weights, saved, lengths, reverse)
    return output, grads


def test_the_float32_problems_take_the_joint_path():
    from numrnn.kernels.plan import JOINT, plan_for

    for kind in (LSTM, GRU, RNN):
        plan = plan_for(np.float32, 64, 20, JOINT_INPUTS[kind.name], 64, len(kind.gates))
        assert plan.product == JOINT, kind.name


def _address(array):
    return array.__array_interface__["data"][0]


@KINDS
@DTYPES
def test_a_held_output_is_left_alone_by_later_calls(kind, dtype):
    output, _ = step(kind, *problem(kind, 0, dtype))
    # Carved from a ReusedMemory block (a view through a memoryview), not a plain array.
    assert isinstance(output.base.base, memoryview)
    last_step = output[-1]
    held, held_last = output.copy(), last_step.copy()
    del output
    gc.collect()
    # The view of the last step keeps the whole output's memory from the next calls.
    for seed in (1, 2):
        later, _ = step(kind, *problem(kind, seed, dtype))
        assert not np.shares_memory(later, last_step)
    np.testing.assert_array_equal(last_step, held_last)
    assert not np.array_equal(later, held)


@KINDS
@DTYPES
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_released_output_memory_is_reused_and_nothing_of_its_last_call_shows(kind, dtype,
                                                                             reverse):
    output, _ = step(kind, *problem(kind, 0, dtype))
    first = _address(output)
    del output
    gc.collect()
    # Padded rows: their positions past the length must read zeros, not the last call's h.
    lengths = np.random.default_rng(5).integers(1, 21, size=64).astype(np.int64)
    data = problem(kind, 1, dtype, lengths)
    output, grads = step(kind, *data, reverse)
    assert _address(output) == first
    for b, length in enumerate(lengths):
        assert not output[length:, b].any()
    # While that output is held, the same call runs in other memory: same bits.
    fresh_output, fresh_grads = step(kind, *data, reverse)
    assert not np.shares_memory(fresh_output, output)
    np.testing.assert_array_equal(output, fresh_output)
    for grad, fresh in zip(grads, fresh_grads):
        np.testing.assert_array_equal(grad, fresh)
    # And the inference path, whose output is a fresh array, computes the same output.
    inferred, _ = kind.forward_infer(*data, reverse)
    np.testing.assert_array_equal(output, inferred)
