"""getitem's backward scatters into memory reused between calls
(``numrnn.kernels.reused_memory``): reading the last step of a recurrent output would
otherwise fault a fresh (T, B, H) array of zeros in every training step. The memory of a
gradient still referred to is never handed out again, and reused memory holds zeros
wherever the gradient does not land."""

import gc

import numpy as np

import numrnn
from numrnn.autograd.function import Context
from numrnn.autograd.ops.indexing import GetItem

# A (T, B, H) output at T = 100, B = H = 64, float32: past reused_memory.SMALLEST.
SHAPE = (100, 64, 64)


def _address(array):
    return array.__array_interface__["data"][0]


def scatter(index, grad):
    """GetItem's backward of ``x[index]`` for an ``x`` of SHAPE, given ``grad``."""
    ctx = Context((True,))
    ctx.save(SHAPE, index, True)
    return GetItem.backward(ctx, grad)


def test_a_held_gradient_is_not_handed_out_again_and_reused_memory_reads_zeros():
    everything = scatter(slice(None), np.full(SHAPE, 3.0, np.float32))
    # Carved from a ReusedMemory block (a view through a memoryview), not a plain array.
    assert isinstance(everything.base.base, memoryview)
    held = everything[10]
    addresses = {_address(everything)}
    del everything
    gc.collect()
    last = scatter(-1, np.full(SHAPE[1:], 2.0, np.float32))
    assert not np.shares_memory(last, held)
    assert (held == 3.0).all()
    addresses.add(_address(last))
    del last, held
    gc.collect()
    # Freed memory serves the next call, which sees none of the 2s or 3s written there.
    first = scatter(0, np.ones(SHAPE[1:], np.float32))
    assert _address(first) in addresses
    expected = np.zeros(SHAPE, np.float32)
    expected[0] = 1.0
    np.testing.assert_array_equal(first, expected)


def test_gradients_of_one_step_stay_exact_over_training_steps():
    # A different step each time: a scatter into reused memory that was not zeroed would
    # leave the earlier steps' gradients where this one's has zeros.
    x = numrnn.Tensor(np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32),
                      requires_grad=True)
    picks = ((-1, 1.0), (0, 2.0), (5, 3.0), (-1, 4.0))
    grads = []
    for index, scale in picks:
        hidden = x * 1.0
        (hidden[index] * scale).sum().backward()
        grads.append(x.grad)
        x.grad = None
    for (index, scale), grad in zip(picks, grads):
        expected = np.zeros(SHAPE, np.float32)
        expected[index] = scale
        np.testing.assert_array_equal(grad, expected)
