"""Elman RNN kernels against a plain step-by-step NumPy reference, forward and backward."""

import numba
import numpy as np
import pytest
from kernel_calls import one_state_back, one_state_infer, one_state_train

from numrnn.kernels import elman, elman_backward
from numrnn.kernels.plan import weight_gradient_chunks

ACTIVATIONS = {
    "tanh": (np.tanh, lambda h: 1 - h * h),
    "relu": (lambda a: np.maximum(a, 0), lambda h: (h > 0).astype(h.dtype)),
}


def _positions(length, reverse):
    return list(range(length - 1, -1, -1)) if reverse else list(range(length))


def reference(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity, g_out, g_hn):
    """Forward and textbook BPTT one row at a time over its own valid positions."""
    act, act_grad = ACTIVATIONS[nonlinearity]
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    output = np.zeros((steps, batch, hidden))
    h_n = np.zeros((batch, hidden))
    grad_x, grad_h0 = np.zeros_like(x), np.zeros_like(h0)
    grad_w_ih, grad_w_hh, grad_b = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(hidden)
    for b in range(batch):
        h = h0[b]
        row_cache = []
        for t in _positions(lengths[b], reverse):
            h_new = act(w_ih @ x[t, b] + b_ih + w_hh @ h + b_hh)
            row_cache.append((t, h, h_new))
            h = output[t, b] = h_new
        h_n[b] = h
        dh = g_hn[b].copy()
        for t, h_prev, h_new in reversed(row_cache):
            d_a = (dh + g_out[t, b]) * act_grad(h_new)
            grad_x[t, b] = w_ih.T @ d_a
            grad_w_ih += np.outer(d_a, x[t, b])
            grad_w_hh += np.outer(d_a, h_prev)
            grad_b += d_a
            dh = w_hh.T @ d_a
        grad_h0[b] = dh
    return output, h_n, [grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b, grad_b.copy()]


def make_problem(steps, batch, n_in, hidden, bias, ragged, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, (steps, batch, n_in))
    h0 = rng.uniform(-1, 1, (batch, hidden))
    w_ih = rng.uniform(-0.7, 0.7, (hidden, n_in))
    w_hh = rng.uniform(-0.7, 0.7, (hidden, hidden))
    b_ih = rng.uniform(-0.5, 0.5, hidden) if bias else None
    b_hh = rng.uniform(-0.5, 0.5, hidden) if bias else None
    lengths = None
    if ragged:
        lengths = rng.integers(1, steps + 1, batch).astype(np.int64)
        lengths[rng.integers(batch)] = steps
    grad_output = rng.standard_normal((steps, batch, hidden))
    grad_h_n = rng.standard_normal((batch, hidden))
    return x, h0, w_ih, w_hh, b_ih, b_hh, lengths, grad_output, grad_h_n


def _cast(arrays, dtype):
    return [None if a is None else a.astype(dtype) for a in arrays]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_reference(nonlinearity, dtype, bias, ragged, reverse):
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = make_problem(5, 4, 3, 6, bias, ragged)
    full = np.full(4, 5, dtype=np.int64) if lengths is None else lengths
    zero = np.zeros(6)
    ref_out, ref_hn, ref_grads = reference(
        x, h0, w_ih, w_hh, zero if b_ih is None else b_ih, zero if b_hh is None else b_hh,
        full, reverse, nonlinearity, g_out, g_hn)

    xs, h0s, w_ihs, w_hhs, b_ihs, b_hhs, g_outs, g_hns = _cast(
        [x, h0, w_ih, w_hh, b_ih, b_hh, g_out, g_hn], dtype)
    output, h_n, saved = one_state_train(elman, xs, h0s, w_ihs, w_hhs, b_ihs, b_hhs, lengths,
                                             reverse, nonlinearity)
    grads = one_state_back(elman, g_outs, g_hns, xs, w_ihs, w_hhs, saved, lengths, reverse,
                           nonlinearity)

    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    assert output.dtype == dtype and h_n.dtype == dtype
    np.testing.assert_allclose(output, ref_out, **tol)
    np.testing.assert_allclose(h_n, ref_hn, **tol)
    names = ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, got, expected in zip(names, grads, ref_grads):
        assert got.dtype == dtype, name
        np.testing.assert_allclose(got, expected, err_msg=name, **tol)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_infer_equals_train(nonlinearity):
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, _, _ = make_problem(6, 3, 2, 5, True, True, seed=1)
    output, h_n, _ = one_state_train(elman, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, True,
                                         nonlinearity)
    result = one_state_infer(elman, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, True, nonlinearity)
    assert len(result) == 2
    np.testing.assert_array_equal(result[0], output)
    np.testing.assert_array_equal(result[1], h_n)


def test_padding_outputs_zero_and_rows_keep_state():
    x, h0, w_ih, w_hh, b_ih, b_hh, _, _, _ = make_problem(4, 2, 2, 3, True, False, seed=2)
    lengths = np.array([4, 1], dtype=np.int64)
    output, h_n = one_state_infer(elman, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, True)
    assert np.all(output[1:, 1] == 0)
    np.testing.assert_array_equal(h_n[1], output[0, 1])
    np.testing.assert_array_equal(h_n[0], output[0, 0])


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_float32_agrees_with_float64(nonlinearity):
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = make_problem(8, 5, 4, 7, True, True)
    out64, hn64, saved64 = one_state_train(elman, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, False,
                                               nonlinearity)
    grads64 = one_state_back(elman, g_out, g_hn, x, w_ih, w_hh, saved64, lengths, False,
                             nonlinearity)
    x32, h32, wi32, wh32, bi32, bh32, go32, gh32 = _cast(
        [x, h0, w_ih, w_hh, b_ih, b_hh, g_out, g_hn], np.float32)
    out32, hn32, saved32 = one_state_train(elman, x32, h32, wi32, wh32, bi32, bh32, lengths, False,
                                               nonlinearity)
    grads32 = one_state_back(elman, go32, gh32, x32, wi32, wh32, saved32, lengths, False,
                             nonlinearity)
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hn32, hn64, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads32, grads64):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_bit_identical_for_any_thread_count(nonlinearity):
    # a batch of 64 makes two blocks of 32 rows, so the blocks really run under prange
    problem = make_problem(3, 64, 3, 64, True, True, seed=3)
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = problem
    results = []
    previous = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            output, h_n, saved = one_state_train(elman, x, h0, w_ih, w_hh, b_ih, b_hh, lengths,
                                                     False, nonlinearity)
            grads = one_state_back(elman, g_out, g_hn, x, w_ih, w_hh, saved, lengths, False,
                                   nonlinearity)
            results.append([output, h_n, *grads])
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("masked", [False, True])
def test_large_weight_gradients_side_by_side_keep_matmuls_bits(monkeypatch, masked,
                                                               same_bits_for_any_thread_count):
    # 8 * 64 = 512 deep, H = 130: two grouped ranges, [0, 128) and the short [128, 130).
    steps, batch, n_in, hidden = 8, 64, 160, 130
    problem = make_problem(steps, batch, n_in, hidden, True, True, seed=5)
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = _cast(problem[:6], np.float32) + [
        problem[6], *_cast(problem[7:], np.float32)]
    assert weight_gradient_chunks(hidden, steps * batch, n_in).tolist() == [[0, 128], [128, 130]]
    mask = (np.random.default_rng(2).random((batch, hidden)) > 0.3).astype(np.float32) / 0.7
    mask = mask if masked else None
    weights = (w_ih, w_hh, b_ih, b_hh)
    needs = (False, False, True, True, False, False)

    def weight_gradients():
        _, _, saved = elman.forward_train(x, (h0,), weights, lengths, recurrent_mask=mask)
        grads = elman_backward.backward(g_out, (g_hn,), x, (h0,), weights, saved, lengths,
                                        needs=needs, recurrent_mask=mask)
        return [grads[2], grads[3]]

    calls = []
    side_by_side = elman_backward._side_by_side
    monkeypatch.setattr(elman_backward, "_side_by_side",
                        lambda *args: calls.append(args) or side_by_side(*args))
    grouped = weight_gradients()
    assert len(calls) == 1
    # The same products as gemm.matmul's chunks, one call each, with the same bits.
    monkeypatch.setattr(elman_backward, "weight_gradient_chunks", lambda *args: None)
    for got, expected in zip(grouped, weight_gradients()):
        np.testing.assert_array_equal(got, expected)
    assert len(calls) == 1
    monkeypatch.undo()
    same_bits_for_any_thread_count(weight_gradients)


def test_unknown_nonlinearity_is_refused():
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, _, _ = make_problem(2, 1, 1, 2, False, False)
    with pytest.raises(ValueError, match="nonlinearity"):
        one_state_infer(elman, x, h0, w_ih, w_hh, nonlinearity="sigmoid")
