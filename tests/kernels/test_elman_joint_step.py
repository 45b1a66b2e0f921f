"""The Elman forward's joint step (float32 batches past plan.MAX_ROWS rows with
(I + H) * H >= plan.PACK_FROM_SIZE): one packed product per step for x_t W_ihᵀ and
h_{t-1} W_hhᵀ together, checked against the float64 kernels (the projection path,
itself checked against a step-by-step reference in test_elman_kernel.py)."""

import numpy as np
import pytest
from kernel_calls import one_state_back, one_state_infer
from test_elman_kernel import make_problem

from numrnn.kernels import elman, elman_backward
from numrnn.kernels.plan import JOINT, plan_for

# B = 9: blocks of 5 and 4 rows (a row tile and a single row, and a whole tile);
# H = 130: the last 16-column panel holds 2 columns; (3 + 130) * 130 packs.
STEPS, BATCH, N_IN, HIDDEN = 6, 9, 3, 130


def _float32(arrays):
    return [None if a is None else a.astype(np.float32) for a in arrays]


def _mask(masked):
    if not masked:
        return None
    return (np.random.default_rng(4).random((BATCH, HIDDEN)) > 0.3) / 0.7


def _train(x, h0, weights, lengths, reverse, nonlinearity, mask):
    options = {"nonlinearity": nonlinearity}
    return elman.forward_train(x, (h0,), weights, lengths, reverse, options, mask)


def test_a_float32_batch_of_packed_size_takes_the_joint_step():
    plan = plan_for(np.dtype(np.float32), BATCH, STEPS, N_IN, HIDDEN, 1)
    assert (plan.projection, plan.product, plan.last_product) == (JOINT,) * 3
    assert (plan.block_rows, plan.last_block_rows) == (5, 4)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_joint_step_agrees_with_float64(nonlinearity, ragged, reverse, masked):
    # Scaled-down weights keep tanh off saturation, so float32 rounding stays small.
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = make_problem(
        STEPS, BATCH, N_IN, HIDDEN, True, ragged, seed=7)
    w_ih, w_hh = w_ih * 0.2, w_hh * 0.1
    mask = _mask(masked)
    weights64 = (w_ih, w_hh, b_ih, b_hh)
    out64, (hn64,), saved64 = _train(x, h0, weights64, lengths, reverse, nonlinearity, mask)
    grads64 = elman_backward.backward(g_out, (g_hn,), x, (h0,), weights64, saved64, lengths,
                                      reverse, {"nonlinearity": nonlinearity},
                                      recurrent_mask=mask)

    x32, h32, wi32, wh32, bi32, bh32, go32, gh32, mask32 = _float32(
        [x, h0, w_ih, w_hh, b_ih, b_hh, g_out, g_hn, mask])
    weights32 = (wi32, wh32, bi32, bh32)
    out32, (hn32,), saved32 = _train(x32, h32, weights32, lengths, reverse, nonlinearity, mask32)
    grads32 = elman_backward.backward(go32, (gh32,), x32, (h32,), weights32, saved32, lengths,
                                      reverse, {"nonlinearity": nonlinearity},
                                      recurrent_mask=mask32)

    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hn32, hn64, rtol=1e-5, atol=1e-5)
    # The saved states are unmasked, as the backward pass expects.
    np.testing.assert_allclose(saved32[1], saved64[1], rtol=1e-5, atol=1e-5)
    if ragged:
        for b, length in enumerate(lengths):
            assert not out32[length:, b].any() and not saved32[1][length:, b].any()
    for got, expected in zip(grads32, grads64):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("masked", [False, True])
def test_infer_equals_train_on_the_joint_step(masked):
    problem = make_problem(STEPS, BATCH, N_IN, HIDDEN, True, True, seed=8)
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths = _float32(problem[:6]) + [problem[6]]
    mask = _float32([_mask(masked)])[0]
    output, (h_n,), _ = _train(x, h0, (w_ih, w_hh, b_ih, b_hh), lengths, True, "tanh", mask)
    inferred, (inferred_h_n,) = elman.forward_infer(x, (h0,), (w_ih, w_hh, b_ih, b_hh), lengths,
                                                    True, None, mask)
    np.testing.assert_array_equal(inferred, output)
    np.testing.assert_array_equal(inferred_h_n, h_n)


def test_joint_step_bit_identical_for_any_thread_count(same_bits_for_any_thread_count):
    # 64 rows: two blocks of 32, run under prange.
    problem = make_problem(4, 64, 8, 128, True, True, seed=9)
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = _float32(problem[:6]) + [
        problem[6], *_float32(problem[7:])]
    assert plan_for(np.dtype(np.float32), 64, 4, 8, 128, 1).product == JOINT

    def step():
        output, h_n = one_state_infer(elman, x, h0, w_ih, w_hh, b_ih, b_hh, lengths)
        _, _, saved = elman.forward_train(x, (h0,), (w_ih, w_hh, b_ih, b_hh), lengths)
        grads = one_state_back(elman, g_out, g_hn, x, w_ih, w_hh, saved, lengths)
        return [output, h_n, saved[1], *grads]

    same_bits_for_any_thread_count(step)
