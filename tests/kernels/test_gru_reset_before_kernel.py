"""The reset-before GRU kernels (options reset_after=False) against a plain NumPy reference."""

import numba
import numpy as np
import pytest

from numrnn import ArgumentError
from numrnn.kernels import gru, gru_backward, plan

OPTIONS = {"reset_after": False}


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _positions(length, reverse):
    return list(range(length - 1, -1, -1)) if reverse else list(range(length))


def reference_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
    """One row at a time over its own valid positions; returns output, h_n and per-row caches."""
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    w_hrz, w_hn = w_hh[:2 * hidden], w_hh[2 * hidden:]
    output = np.zeros((steps, batch, hidden))
    h_n = np.zeros((batch, hidden))
    caches = []
    for b in range(batch):
        h = h0[b]
        row_cache = []
        for t in _positions(lengths[b], reverse):
            gx = w_ih @ x[t, b] + b_ih
            g_rz = w_hrz @ h + b_hh[:2 * hidden]
            r = _sigmoid(gx[:hidden] + g_rz[:hidden])
            z = _sigmoid(gx[hidden:2 * hidden] + g_rz[hidden:])
            n = np.tanh(gx[2 * hidden:] + w_hn @ (r * h) + b_hh[2 * hidden:])
            row_cache.append((t, h, r, z, n))
            h = (1 - z) * n + z * h
            output[t, b] = h
        h_n[b] = h
        caches.append(row_cache)
    return output, h_n, caches


def reference_backward(grad_output, grad_h_n, x, h0, w_ih, w_hh, caches):
    """Textbook BPTT per row, walking each row's cache backwards."""
    hidden = w_hh.shape[1]
    w_hrz, w_hn = w_hh[:2 * hidden], w_hh[2 * hidden:]
    grads = [np.zeros_like(x), np.zeros_like(h0), np.zeros_like(w_ih), np.zeros_like(w_hh),
             np.zeros(3 * hidden), np.zeros(3 * hidden)]
    grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = grads
    for b, row_cache in enumerate(caches):
        dh = grad_h_n[b].copy()
        for t, h_prev, r, z, n in reversed(row_cache):
            dh = dh + grad_output[t, b]
            d_n = dh * (1 - z) * (1 - n * n)
            d_z = dh * (h_prev - n) * z * (1 - z)
            d_reset = w_hn.T @ d_n
            d_r = d_reset * h_prev * r * (1 - r)
            d_gates = np.concatenate([d_r, d_z, d_n])
            grad_x[t, b] = w_ih.T @ d_gates
            grad_w_ih += np.outer(d_gates, x[t, b])
            grad_w_hh[:2 * hidden] += np.outer(d_gates[:2 * hidden], h_prev)
            grad_w_hh[2 * hidden:] += np.outer(d_n, r * h_prev)
            grad_b_ih += d_gates
            grad_b_hh += d_gates
            dh = dh * z + d_reset * r + w_hrz.T @ d_gates[:2 * hidden]
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
    return [None if a is None else a.astype(dtype) for a in arrays]


def train_and_back(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, grad_output, grad_h_n,
                   needs=None):
    weights = (w_ih, w_hh, b_ih, b_hh)
    output, (h_n,), saved = gru.forward_train(x, (h0,), weights, lengths, reverse, OPTIONS)
    grads = gru_backward.backward(grad_output, (grad_h_n,), x, (h0,), weights, saved, lengths,
                                  reverse, OPTIONS, needs)
    return output, h_n, grads


def _check_against_reference(dtype, bias, ragged, reverse, steps, batch, n_in, hidden):
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, g_out, g_hn = make_problem(steps, batch, n_in,
                                                                       hidden, bias, ragged)
    full = np.full(batch, steps, dtype=np.int64) if lengths is None else lengths
    zero = np.zeros(3 * hidden)
    ref_out, ref_hn, caches = reference_forward(
        x, h0, w_ih, w_hh, zero if b_ih is None else b_ih, zero if b_hh is None else b_hh,
        full, reverse)
    ref_grads = reference_backward(g_out, g_hn, x, h0, w_ih, w_hh, caches)
    output, h_n, grads = train_and_back(*_cast([x, h0, w_ih, w_hh, b_ih, b_hh], dtype), lengths,
                                        reverse, *_cast([g_out, g_hn], dtype))
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    assert output.dtype == dtype and h_n.dtype == dtype
    np.testing.assert_allclose(output, ref_out, **tol)
    np.testing.assert_allclose(h_n, ref_hn, **tol)
    names = ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, got, expected in zip(names, grads, ref_grads):
        assert got.dtype == dtype, name
        np.testing.assert_allclose(got, expected, err_msg=name, **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_reference(dtype, bias, ragged, reverse):
    _check_against_reference(dtype, bias, ragged, reverse, steps=5, batch=4, n_in=3, hidden=6)


# Where the plan gives the PyTorch variant its joint step, this variant runs the
# projection path on packed weights: 9 steps take copies of W_hh, 65 rows make
# blocks past plan.MAX_ROWS, and 90 hidden units leave the last panel of each
# packed part part-padded.
PACKED_SHAPE = dict(steps=9, batch=65, n_in=3, hidden=90)


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_packed_path_matches_reference(ragged, reverse):
    sizes = (np.dtype(np.float32), PACKED_SHAPE["batch"], PACKED_SHAPE["steps"],
             PACKED_SHAPE["n_in"], PACKED_SHAPE["hidden"], 3)
    assert plan.plan_for(*sizes).product == plan.JOINT
    variant_plan = plan.plan_for(*sizes, joint=False)
    assert variant_plan.product == plan.PACKED and variant_plan.projection == plan.GEMM
    _check_against_reference(np.float32, True, ragged, reverse, **PACKED_SHAPE)


@pytest.mark.parametrize("steps, batch", [(1, 1), (1, 3), (12, 1), (12, 6)])
def test_view_and_copy_paths_match_reference(steps, batch):
    # One step or one row read W_hh through transposed views; longer runs of a
    # few rows use row-major copies; six rows make blocks of three (loops).
    _check_against_reference(np.float64, True, True, False, steps, batch, 2, 5)


@pytest.mark.parametrize("reverse", [False, True])
def test_infer_equals_train_and_keeps_nothing(reverse):
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, _, _ = make_problem(6, 3, 2, 5, True, True, seed=1)
    weights = (w_ih, w_hh, b_ih, b_hh)
    output, finals, _ = gru.forward_train(x, (h0,), weights, lengths, reverse, OPTIONS)
    result = gru.forward_infer(x, (h0,), weights, lengths, reverse, OPTIONS)
    assert len(result) == 2
    np.testing.assert_array_equal(result[0], output)
    np.testing.assert_array_equal(result[1][0], finals[0])


def test_differs_from_the_pytorch_variant():
    x, h0, w_ih, w_hh, b_ih, b_hh, lengths, _, _ = make_problem(4, 2, 3, 4, True, False, seed=2)
    weights = (w_ih, w_hh, b_ih, b_hh)
    before, _ = gru.forward_infer(x, (h0,), weights, lengths, False, OPTIONS)
    after, _ = gru.forward_infer(x, (h0,), weights, lengths, False, {"reset_after": True})
    default, _ = gru.forward_infer(x, (h0,), weights, lengths, False)
    np.testing.assert_array_equal(after, default)
    assert np.abs(before - after).max() > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", [64, PACKED_SHAPE["hidden"]])
def test_bit_identical_for_any_thread_count(dtype, hidden):
    # A batch of 64 makes two blocks of 32 rows, so the blocks really run under
    # prange; in float32, 90 hidden units take packed weights.
    problem = make_problem(3, 64, 3, hidden, True, True, seed=3)
    x, h0, w_ih, w_hh, b_ih, b_hh, g_out, g_hn = _cast(
        [a for i, a in enumerate(problem) if i != 6], dtype)
    lengths = problem[6]
    results = []
    previous = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            output, h_n, grads = train_and_back(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, True,
                                                g_out, g_hn)
            results.append([output, h_n, *grads])
    finally:
        numba.set_num_threads(previous)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_backward_computes_only_what_is_needed():
    problem = make_problem(3, 2, 2, 3, True, True)
    needs = (False, True, False, True, False, False)
    _, _, grads = train_and_back(*problem[:7], False, *problem[7:], needs=needs)
    assert [g is not None for g in grads] == list(needs)


@pytest.mark.parametrize("value", [None, 0, "False"])
def test_a_reset_after_that_is_not_a_bool_is_refused(value):
    x, h0, w_ih, w_hh, b_ih, b_hh, _, _, _ = make_problem(2, 1, 2, 3, True, False)
    with pytest.raises(ArgumentError, match=f"reset_after must be True or False, got {value!r}"):
        gru.forward_infer(x, (h0,), (w_ih, w_hh, b_ih, b_hh), None, False,
                          {"reset_after": value})
