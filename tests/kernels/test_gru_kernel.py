"""GRU kernels against a plain step-by-step NumPy reference, forward and backward, every option."""

import numba
import numpy as np
import pytest
from kernel_calls import one_state_back, one_state_infer, one_state_train

from numrnn.kernels import gru, plan


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _positions(length, reverse):
    return list(range(length - 1, -1, -1)) if reverse else list(range(length))


def reference_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
    """One row at a time over its own valid positions; returns output, h_n and per-row caches."""
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    output = np.zeros((steps, batch, hidden))
    h_n = np.zeros((batch, hidden))
    caches = []
    for b in range(batch):
        h = h0[b]
        row_cache = []
        for t in _positions(lengths[b], reverse):
            gx = w_ih @ x[t, b] + b_ih
            gh = w_hh @ h + b_hh
            r = _sigmoid(gx[:hidden] + gh[:hidden])
            z = _sigmoid(gx[hidden:2 * hidden] + gh[hidden:2 * hidden])
            n = np.tanh(gx[2 * hidden:] + r * gh[2 * hidden:])
            row_cache.append((t, h, r, z, n, gh[2 * hidden:]))
            h = (1 - z) * n + z * h
            output[t, b] = h
        h_n[b] = h
        caches.append(row_cache)
    return output, h_n, caches


def reference_backward(grad_output, grad_h_n, x, h0, w_ih, w_hh, caches):
    """Textbook BPTT per row, walking each row's cache backwards."""
    hidden = w_hh.shape[1]
    grads = [np.zeros_like(x), np.zeros_like(h0), np.zeros_like(w_ih), np.zeros_like(w_hh),
             np.zeros(3 * hidden), np.zeros(3 * hidden)]
    grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = grads
    for b, row_cache in enumerate(caches):
        dh = grad_h_n[b].copy()
        for t, h_prev, r, z, n, hn in reversed(row_cache):
            dh = dh + grad_output[t, b]
            d_n = dh * (1 - z) * (1 - n * n)
            d_z = dh * (h_prev - n) * z * (1 - z)
            d_r = d_n * hn * r * (1 - r)
            d_gx = np.concatenate([d_r, d_z, d_n])
            d_gh = np.concatenate([d_r, d_z, d_n * r])
            grad_x[t, b] = w_ih.T @ d_gx
            grad_w_ih += np.outer(d_gx, x[t, b])
            grad_w_hh += np.outer(d_gh, h_prev)
            grad_b_ih += d_gx
            grad_b_hh += d_gh
            dh = dh * z + w_hh.T @ d_gh
        grad_h0[b] = dh
    return grads


def make_problem(steps, batch, n_in, hidden, bias, ragged, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, (steps, batch, n_in))
    h0 = rng.uniform(-1, 1, (batch, hidden))
    w_ih = rng.uniform(-0.6, 0.6, (3 * hidden, n_in))
    w_hh = rng.uniform(-0.6, 0.6, (3 * hidden, hidden))
    b_ih = rng.uniform(-0.5, 0.5, 3 * hidden) if bias else None
    b_hh = rng.uniform(-0.5, 0.5, 3 * hidden) if bias else None
    lengths = None
    if ragged:
        lengths = rng.integers(1, steps + 1, batch).astype(np.int64)
        lengths[rng.integers(batch)] = steps
    grad_output = rng.standard_normal((steps, batch, hidden))
    grad_h_n = rng.standard_normal((batch, hidden))
    return x, h0, w_ih, w_hh, b_ih, b_hh, lengths, grad_output, grad_h_n


def _cast(arrays, dtype):
    return [None if a is None or a.dtype.kind == "i" else a.astype(dtype) for a in arrays]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_reference(dtype, bias, ragged, reverse):
    _check_against_reference(dtype, bias, ragged, reverse, steps=5, batch=4, n_in=3, hidden=6)


# float32 batches past plan.MAX_ROWS rows with a large enough weight take the
# joint path (input products per step, beside the recurrent ones, in packed
# tiles); 90 hidden units leave the last panel of every product part-padded.
JOINT_SHAPE = dict(steps=4, batch=65, n_in=3, hidden=90)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_joint_path_matches_reference(bias, ragged, reverse):
    n_in, hidden = JOINT_SHAPE["n_in"], JOINT_SHAPE["hidden"]
    assert plan.packs(np.dtype(np.float32), JOINT_SHAPE["batch"], (n_in + hidden) * 3 * hidden)
    assert plan.plan_for(np.dtype(np.float32), JOINT_SHAPE["batch"], JOINT_SHAPE["steps"], n_in,
                         hidden, 3).product == plan.JOINT
    _check_against_reference(np.float32, bias, ragged, reverse, **JOINT_SHAPE)


def _check_against_reference(dtype, bias, ragged, reverse, steps, batch, n_in, hidden):
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = make_problem(steps, batch, n_in,
                                                                       hidden, bias, ragged)
    full = np.full(batch, steps, dtype=np.int64) if lengths is None else lengths
    zero = np.zeros(3 * hidden)
    ref_out, ref_hn, caches = reference_forward(
        x, h0, w_ih, w_hh, zero if b_ih is None else b_ih, zero if b_hh is None else b_hh,
        full, reverse)
    ref_grads = reference_backward(g_out, g_hn, x, h0, w_ih, w_hh, caches)

    xs, h0s, w_ihs, w_hhs, b_ihs, b_hhs, g_outs, g_hns = _cast(
        [x, h0, w_ih, w_hh, b_ih, b_hh, g_out, g_hn], dtype)
    output, h_n, saved = one_state_train(gru, xs, h0s, w_ihs, w_hhs, b_ihs, b_hhs, lengths, reverse)
    grads = one_state_back(gru, g_outs, g_hns, xs, w_ihs, w_hhs, saved, lengths, reverse)

    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    assert output.dtype == dtype and h_n.dtype == dtype
    np.testing.assert_allclose(output, ref_out, **tol)
    np.testing.assert_allclose(h_n, ref_hn, **tol)
    names = ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, got, expected in zip(names, grads, ref_grads):
        assert got.dtype == dtype, name
        np.testing.assert_allclose(got, expected, err_msg=name, **tol)


@pytest.mark.parametrize("reverse", [False, True])
def test_infer_equals_train_and_keeps_nothing(reverse):
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, _, _ = make_problem(6, 3, 2, 5, True, True, seed=1)
    output, h_n, _ = one_state_train(gru, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse)
    result = one_state_infer(gru, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse)
    assert len(result) == 2
    np.testing.assert_array_equal(result[0], output)
    np.testing.assert_array_equal(result[1], h_n)


def test_padding_outputs_zero_and_rows_keep_state():
    x, h0, w_ih, w_hh, b_ih, b_hh, _, _, _ = make_problem(4, 2, 2, 3, True, False, seed=2)
    lengths = np.array([2, 4], dtype=np.int64)
    output, h_n, _ = one_state_train(gru, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, False)
    assert np.all(output[2:, 0] == 0)
    np.testing.assert_array_equal(h_n[0], output[1, 0])
    alone, alone_n = one_state_infer(gru, x[:2, :1], h0[:1], w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_allclose(output[:2, :1], alone, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(h_n[:1], alone_n, rtol=1e-14, atol=1e-14)


def test_float32_agrees_with_float64():
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = make_problem(8, 5, 4, 7, True, True)
    out64, hn64, saved64 = one_state_train(gru, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, True)
    grads64 = one_state_back(gru, g_out, g_hn, x, w_ih, w_hh, saved64, lengths, True)
    arrays32 = _cast([x, h0, w_ih, w_hh, b_ih, b_hh, g_out, g_hn], np.float32)
    x32, h32, wi32, wh32, bi32, bh32, go32, gh32 = arrays32
    out32, hn32, saved32 = one_state_train(gru, x32, h32, wi32, wh32, bi32, bh32, lengths, True)
    grads32 = one_state_back(gru, go32, gh32, x32, wi32, wh32, saved32, lengths, True)
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hn32, hn64, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads32, grads64):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", [64, JOINT_SHAPE["hidden"]])
def test_bit_identical_for_any_thread_count(dtype, hidden):
    # a batch of 64 makes two blocks of 32 rows, so the blocks really run under
    # prange; in float32, 90 hidden units take the joint path
    problem = make_problem(3, 64, 3, hidden, True, True, seed=3)
    x, h0, w_ih, w_hh, b_ih, b_hh, g_out, g_hn = _cast(
        [a for i, a in enumerate(problem) if i != 6], dtype)
    lengths = problem[6]
    results = []
    previous = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            output, h_n, saved = one_state_train(gru, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, True)
            grads = one_state_back(gru, g_out, g_hn, x, w_ih, w_hh, saved, lengths, True)
            results.append([output, h_n, *grads])
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_backward_computes_only_what_is_needed():
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = make_problem(3, 2, 2, 3, True, True)
    _, _, saved = one_state_train(gru, x, h0, w_ih, w_hh, b_ih, b_hh, lengths)
    needs = (False, True, False, True, False, False)
    grads = one_state_back(gru, g_out, g_hn, x, w_ih, w_hh, saved, lengths, needs=needs)
    assert [g is not None for g in grads] == list(needs)
