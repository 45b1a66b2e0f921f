"""The fused LSTM kernels against a plain step-by-step NumPy LSTM, forward and BPTT.

The reference runs each batch row on its own, over exactly its valid positions
(backwards in time when reversed), so it shares no masking logic with the kernel.
Its hand-written BPTT is itself checked against central differences below.
"""

import numba
import numpy as np
import pytest
from kernel_calls import lstm_back, lstm_infer, lstm_train

from numrnn.kernels import plan
from numrnn.kernels.plan import block_count

STEPS, BATCH, N_IN, HIDDEN = 5, 4, 3, 6
RAGGED = np.array([3, 5, 1, 4], dtype=np.int64)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _positions(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def reference_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
    """Returns output, h_n, c_n and, per row, the records BPTT needs."""
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    output = np.zeros((steps, batch, hidden))
    h_n, c_n = h0.copy(), c0.copy()
    records = []
    for b in range(batch):
        h, c = h0[b], c0[b]
        row = []
        for t in _positions(lengths[b], reverse):
            z = w_ih @ x[t, b] + b_ih + w_hh @ h + b_hh
            i, f = _sigmoid(z[:hidden]), _sigmoid(z[hidden:2 * hidden])
            g, o = np.tanh(z[2 * hidden:3 * hidden]), _sigmoid(z[3 * hidden:])
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
            row.append((t, h, c, i, f, g, o, c_new))
            output[t, b] = h_new
            h, c = h_new, c_new
        h_n[b], c_n[b] = h, c
        records.append(row)
    return output, h_n, c_n, records


def reference_backward(grad_out, grad_h_n, grad_c_n, x, w_ih, w_hh, records):
    """Hand-written BPTT over the records of :func:`reference_forward`."""
    grads = [np.zeros_like(x), np.zeros_like(grad_h_n), np.zeros_like(grad_c_n),
             np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(w_ih.shape[0])]
    grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b = grads
    for b, row in enumerate(records):
        dh, dc = grad_h_n[b].copy(), grad_c_n[b].copy()
        for t, h_prev, c_prev, i, f, g, o, c_new in reversed(row):
            dh = dh + grad_out[t, b]
            tc = np.tanh(c_new)
            dc = dc + dh * o * (1 - tc * tc)
            dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                 dc * i * (1 - g * g), dh * tc * o * (1 - o)])
            dc = dc * f
            grad_x[t, b] = w_ih.T @ dz
            grad_w_ih += np.outer(dz, x[t, b])
            grad_w_hh += np.outer(dz, h_prev)
            grad_b += dz
            dh = w_hh.T @ dz
        grad_h0[b], grad_c0[b] = dh, dc
    return grads


def _problem(dtype, bias, seed=0, steps=STEPS, batch=BATCH, hidden=HIDDEN):
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(hidden)

    def draw(*shape, s=1.0):
        return (rng.uniform(-s, s, size=shape)).astype(dtype)

    arrays = {
        "x": draw(steps, batch, N_IN), "h0": draw(batch, hidden), "c0": draw(batch, hidden),
        "weight_ih": draw(4 * hidden, N_IN, s=2 * scale),
        "weight_hh": draw(4 * hidden, hidden, s=2 * scale),
        "bias_ih": draw(4 * hidden, s=scale) if bias else None,
        "bias_hh": draw(4 * hidden, s=scale) if bias else None,
    }
    seeds = (draw(steps, batch, hidden), draw(batch, hidden), draw(batch, hidden))
    return arrays, seeds


def _run_kernel(arrays, seeds, lengths, reverse):
    out, h_n, c_n, gates, cells = lstm_train(**arrays, lengths=lengths,
                                                            reverse=reverse)
    grads = lstm_back(
        *seeds, arrays["x"], arrays["h0"], arrays["c0"], arrays["weight_ih"],
        arrays["weight_hh"], out, gates, cells, lengths=lengths, reverse=reverse)
    return (out, h_n, c_n), grads, (gates, cells)


def _run_reference(arrays, seeds, lengths, reverse):
    a = {k: None if v is None else v.astype(np.float64) for k, v in arrays.items()}
    zeros = np.zeros(a["weight_ih"].shape[0])
    b_ih = zeros if a["bias_ih"] is None else a["bias_ih"]
    b_hh = zeros if a["bias_hh"] is None else a["bias_hh"]
    full = np.full(a["x"].shape[1], a["x"].shape[0]) if lengths is None else lengths
    out, h_n, c_n, records = reference_forward(a["x"], a["h0"], a["c0"], a["weight_ih"],
                                               a["weight_hh"], b_ih, b_hh, full, reverse)
    grads = reference_backward(*(s.astype(np.float64) for s in seeds), a["x"],
                               a["weight_ih"], a["weight_hh"], records)
    return (out, h_n, c_n), grads


GRAD_NAMES = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, RAGGED], ids=["full", "ragged"])
@pytest.mark.parametrize("bias", [True, False])
def test_kernel_matches_reference(dtype, reverse, lengths, bias):
    arrays, seeds = _problem(dtype, bias)
    outs, grads, _ = _run_kernel(arrays, seeds, lengths, reverse)
    ref_outs, ref_grads = _run_reference(arrays, seeds, lengths, reverse)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    for name, got, want in zip(["output", "h_n", "c_n"], outs, ref_outs):
        assert got.dtype == dtype, name
        np.testing.assert_allclose(got, want, err_msg=name, **tol)
    ref_grads = ref_grads + [ref_grads[-1]]  # both biases get the same gradient
    for name, got, want in zip(GRAD_NAMES, grads, ref_grads):
        assert got.dtype == dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, err_msg=f"grad {name}", **tol)


@pytest.mark.parametrize("reverse", [False, True])
def test_padded_positions_are_zero_and_infer_matches_train(reverse):
    arrays, _ = _problem(np.float64, bias=True)
    out, h_n, c_n, gates, cells = lstm_train(**arrays, lengths=RAGGED,
                                                            reverse=reverse)
    padded = np.arange(STEPS)[:, None] >= RAGGED[None, :]
    assert not out[padded].any() and not gates[padded].any() and not cells[padded].any()
    infer = lstm_infer(**arrays, lengths=RAGGED, reverse=reverse)
    for got, want in zip(infer, (out, h_n, c_n)):
        np.testing.assert_array_equal(got, want)


def test_lengths_shorter_than_every_row_leave_trailing_steps_zero():
    arrays, seeds = _problem(np.float64, bias=True)
    lengths = np.array([2, 1, 3, 2], dtype=np.int64)  # no row runs all 5 steps
    outs, grads, _ = _run_kernel(arrays, seeds, lengths, reverse=True)
    ref_outs, ref_grads = _run_reference(arrays, seeds, lengths, reverse=True)
    for got, want in zip(list(outs) + list(grads), list(ref_outs) + ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_reference_backward_matches_central_differences():
    arrays, seeds = _problem(np.float64, bias=True, seed=3)
    names = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    rng = np.random.default_rng(7)
    direction = {n: rng.standard_normal(arrays[n].shape) for n in names}

    def loss(eps):
        shifted = {n: arrays[n] + eps * direction[n] for n in names}
        out, h_n, c_n, _ = reference_forward(*(shifted[n] for n in names), RAGGED, True)
        return sum(float(np.sum(a * s)) for a, s in zip((out, h_n, c_n), seeds))

    _, grads = _run_reference(arrays, seeds, RAGGED, True)
    grads = grads + [grads[-1]]
    analytic = sum(float(np.sum(g * direction[n])) for g, n in zip(grads, names))
    numeric = (loss(1e-6) - loss(-1e-6)) / 2e-6
    assert abs(analytic - numeric) <= 1e-7 * max(1.0, abs(numeric))


def test_needed_skips_gradients():
    arrays, seeds = _problem(np.float64, bias=True)
    out, h_n, c_n, gates, cells = lstm_train(**arrays)
    grads = lstm_back(*seeds, arrays["x"], arrays["h0"], arrays["c0"],
                                   arrays["weight_ih"], arrays["weight_hh"], out, gates, cells,
                                   needed=(False, True, False, True, False, False, True))
    assert [g is not None for g in grads] == [False, True, False, True, False, False, True]


# Big enough that the batch splits into blocks run in parallel (in float32 the
# weight is large enough for the joint path too: see test_joint_path_matches_reference).
WIDE_BATCH, WIDE_HIDDEN = 65, 64
WIDE_LENGTHS = np.random.default_rng(11).integers(1, 5, WIDE_BATCH).astype(np.int64)


def test_parallel_path_matches_reference():
    assert block_count(WIDE_BATCH) > 1
    arrays, seeds = _problem(np.float64, bias=True, seed=4, steps=4, batch=WIDE_BATCH,
                             hidden=WIDE_HIDDEN)
    outs, grads, _ = _run_kernel(arrays, seeds, WIDE_LENGTHS, reverse=True)
    ref_outs, ref_grads = _run_reference(arrays, seeds, WIDE_LENGTHS, reverse=True)
    for got, want in zip(list(outs) + list(grads), list(ref_outs) + ref_grads + [ref_grads[-1]]):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("wide", [False, True], ids=["serial", "parallel"])
def test_bit_identical_across_thread_counts(dtype, wide):
    if wide:
        shape = dict(steps=4, batch=WIDE_BATCH, hidden=WIDE_HIDDEN)
        lengths = WIDE_LENGTHS
    else:
        shape = dict(steps=6, batch=7)
        lengths = np.array([6, 2, 5, 1, 6, 3, 4], dtype=np.int64)
    arrays, seeds = _problem(dtype, bias=True, seed=5, **shape)
    previous = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            for reverse in (False, True):
                outs, grads, residuals = _run_kernel(arrays, seeds, lengths, reverse)
                results.append([*outs, *grads, *residuals])
    finally:
        numba.set_num_threads(previous)
    half = len(results) // 2
    for one_thread, two_threads in zip(results[:half], results[half:]):
        for a, b in zip(one_thread, two_threads):
            np.testing.assert_array_equal(a, b)


# float32 batches past plan.MAX_ROWS rows with a large enough weight take the
# joint path (one packed product per step for [x_t, h_{t-1}]); 66 hidden units
# make 4H = 264 columns, so the last packed panel is half padding.
JOINT_HIDDEN = 66


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_joint_path_matches_reference(reverse, ragged, bias):
    assert plan.packs(np.dtype(np.float32), WIDE_BATCH, (N_IN + JOINT_HIDDEN) * 4 * JOINT_HIDDEN)
    assert plan.plan_for(np.dtype(np.float32), WIDE_BATCH, 4, N_IN, JOINT_HIDDEN,
                         4).product == plan.JOINT
    arrays, seeds = _problem(np.float32, bias=bias, seed=6, steps=4, batch=WIDE_BATCH,
                             hidden=JOINT_HIDDEN)
    lengths = WIDE_LENGTHS if ragged else None
    outs, grads, (gates, cells) = _run_kernel(arrays, seeds, lengths, reverse)
    ref_outs, ref_grads = _run_reference(arrays, seeds, lengths, reverse)
    tol = dict(rtol=1e-4, atol=2e-5)
    for name, got, want in zip(["output", "h_n", "c_n"], outs, ref_outs):
        np.testing.assert_allclose(got, want, err_msg=name, **tol)
    for name, got, want in zip(GRAD_NAMES, grads, ref_grads + [ref_grads[-1]]):
        np.testing.assert_allclose(got, want, err_msg=f"grad {name}", **tol)
    if ragged:
        padded = np.arange(4)[:, None] >= WIDE_LENGTHS[None, :]
        assert not outs[0][padded].any() and not gates[padded].any() and not cells[padded].any()
    infer = lstm_infer(**arrays, lengths=lengths, reverse=reverse)
    for got, want in zip(infer, outs):
        np.testing.assert_array_equal(got, want)
