"""F.lstm / F.lstm_cell with peepholes (weight_peephole): the fused op against the same cell
composed from primitive ops, Hypothesis gradcheck, float32, thread counts, validation."""

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, ShapeError
from numrnn import functional as F
from numrnn.kernels import lstm as lstm_kernels
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


def _positions(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def composed_peephole_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, peephole, lengths, reverse):
    """The peephole LSTM from matmul, add, mul, sigmoid, tanh, getitem, concatenate, stack.

    Each row runs alone over its own valid positions; padding is a constant zero.
    """
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    p_i, p_f, p_o = peephole[:hidden], peephole[hidden:2 * hidden], peephole[2 * hidden:]
    zero = numrnn.tensor(np.zeros((1, hidden)), dtype=x.dtype)
    rows_out = [[zero] * steps for _ in range(batch)]
    h_finals, c_finals = [], []
    for b in range(batch):
        h, c = h0[b:b + 1], c0[b:b + 1]
        for t in _positions(int(lengths[b]), reverse):
            a = F.matmul(x[t, b:b + 1], w_ih.T) + F.matmul(h, w_hh.T)
            if b_ih is not None:
                a = a + b_ih + b_hh
            i = F.sigmoid(a[:, :hidden] + p_i * c)
            f = F.sigmoid(a[:, hidden:2 * hidden] + p_f * c)
            g = F.tanh(a[:, 2 * hidden:3 * hidden])
            c = f * c + i * g
            o = F.sigmoid(a[:, 3 * hidden:] + p_o * c)
            h = o * F.tanh(c)
            rows_out[b][t] = h
        h_finals.append(h)
        c_finals.append(c)
    output = F.stack([F.concatenate([rows_out[b][t] for b in range(batch)], axis=0)
                      for t in range(steps)], axis=0)
    return output, F.concatenate(h_finals, axis=0), F.concatenate(c_finals, axis=0)


def make_inputs(steps, batch, n_in, hidden, bias=True, dtype=np.float64, seed=0):
    """x, h0, c0, w_ih, w_hh, b_ih, b_hh, peephole as leaves (biases None without bias)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, (steps, batch, n_in)), rng.uniform(-1, 1, (batch, hidden)),
              rng.uniform(-1, 1, (batch, hidden)), rng.uniform(-0.6, 0.6, (4 * hidden, n_in)),
              rng.uniform(-0.6, 0.6, (4 * hidden, hidden)),
              rng.uniform(-0.5, 0.5, 4 * hidden), rng.uniform(-0.5, 0.5, 4 * hidden),
              rng.uniform(-1, 1, 3 * hidden)]
    tensors = [numrnn.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    if not bias:
        tensors[5] = tensors[6] = None
    return tensors


def fused(*inputs, lengths=None, reverse=False):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, peephole = inputs
    return F.lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=lengths, reverse=reverse,
                  weight_peephole=peephole)


def _loss_and_grads(fn, inputs, seed=1):
    """Backprop sum(output * G) + sum(h_n * G') + sum(c_n * G''); every input's gradient."""
    results = fn(*inputs)
    rng = np.random.default_rng(seed)
    loss = sum((result * numrnn.tensor(rng.standard_normal(result.shape),
                                       dtype=result.dtype)).sum() for result in results)
    loss.backward()
    return [r.data for r in results], [None if t is None else t.grad for t in inputs]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_matches_composed_primitive_ops(bias, reverse):
    lengths = np.array([3, 5, 1, 4], dtype=np.int64)
    fused_inputs = make_inputs(5, 4, 3, 4, bias)
    composed_inputs = [None if t is None else numrnn.tensor(t.data, requires_grad=True)
                       for t in fused_inputs]
    got = _loss_and_grads(lambda *a: fused(*a, lengths=lengths, reverse=reverse), fused_inputs)
    expected = _loss_and_grads(lambda *a: composed_peephole_lstm(*a, lengths, reverse),
                               composed_inputs)
    for a, b in zip(got[0], expected[0]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert sum(g is not None for g in got[1]) == (8 if bias else 6)
    for a, b in zip(got[1], expected[1]):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    # The peepholes act: the plain LSTM on the same weights gives other outputs.
    plain = F.lstm(*[t.data if t is not None else None for t in fused_inputs[:7]],
                   lengths=lengths, reverse=reverse)
    assert np.abs(plain[0].data - got[0][0]).max() > 1e-3


@given(batch=S.sequence_batches(max_steps=6, max_batch=5, features=st.integers(1, 5),
                                min_value=-1.5, max_value=1.5),
       hidden=st.integers(1, 5), bias=st.booleans(), reverse=st.booleans(), data=st.data())
def test_gradcheck(batch, hidden, bias, reverse, data):
    x, lengths = batch
    n_in = x.shape[2]
    shapes = [(x.shape[1], hidden), (x.shape[1], hidden), (4 * hidden, n_in),
              (4 * hidden, hidden)]
    shapes += [(4 * hidden,), (4 * hidden,)] if bias else []
    arrays = [data.draw(S.float_arrays(shape, min_value=-1.0, max_value=1.0))
              for shape in shapes]
    peephole = data.draw(S.float_arrays((3 * hidden,), min_value=-1.5, max_value=1.5))

    def run(x, h0, c0, w_ih, w_hh, *rest):
        biases, peep = (rest[:2], rest[2]) if bias else ((None, None), rest[0])
        return F.lstm(x, h0, c0, w_ih, w_hh, *biases, lengths=lengths, reverse=reverse,
                      weight_peephole=peep)

    gradcheck(run, [x, *arrays, peephole], directions=6, full_jacobian_limit=300)


@given(batch=S.sequence_batches(max_steps=4, max_batch=3, features=st.integers(1, 4)),
       hidden=st.integers(1, 4), data=st.data())
def test_cell_gradcheck_and_equals_one_step(batch, hidden, data):
    x = batch[0][0]
    shapes = [(x.shape[0], hidden), (x.shape[0], hidden), (4 * hidden, x.shape[1]),
              (4 * hidden, hidden), (4 * hidden,), (4 * hidden,), (3 * hidden,)]
    arrays = [data.draw(S.float_arrays(shape, min_value=-1.0, max_value=1.0))
              for shape in shapes]

    def cell(x, h, c, w_ih, w_hh, b_ih, b_hh, peep):
        return F.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, weight_peephole=peep)

    gradcheck(cell, [x, *arrays], full_jacobian_limit=300)
    _, h_n, c_n = F.lstm(x[None], *arrays[:6], weight_peephole=arrays[6])
    h, c = cell(x, *arrays)
    np.testing.assert_array_equal(h.data, h_n.data)
    np.testing.assert_array_equal(c.data, c_n.data)


def test_float32_agrees_with_float64():
    lengths = np.array([6, 2, 4], dtype=np.int64)
    run = lambda *a: fused(*a, lengths=lengths, reverse=True)  # noqa: E731
    out64, grads64 = _loss_and_grads(run, make_inputs(6, 3, 4, 5))
    out32, grads32 = _loss_and_grads(run, make_inputs(6, 3, 4, 5, dtype=np.float32))
    assert all(g.dtype == np.float32 for g in grads32)
    for got, expected in zip(out32, out64):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads32, grads64):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def _training_step(dtype, batch, seed=3):
    # As tests/test_threads.py: batch 40 makes three blocks of 16 rows (and
    # float32 packs W_hh), batch 14 two blocks of 7, past the vector loops.
    rng = np.random.default_rng(seed)
    steps, n_in, hidden = 6, 300, 24
    shapes = [(steps, batch, n_in), (4 * hidden, n_in), (4 * hidden, hidden), (4 * hidden,),
              (4 * hidden,), (3 * hidden,)]
    tensors = [numrnn.Tensor((rng.standard_normal(shape) * 0.2).astype(dtype),
                             requires_grad=True) for shape in shapes]
    x, w_ih, w_hh, b_ih, b_hh, peephole = tensors
    lengths = rng.integers(1, steps + 1, batch)
    output = F.lstm(x, None, None, w_ih, w_hh, b_ih, b_hh, lengths=lengths,
                    weight_peephole=peephole)[0]
    output.backward(np.ones(output.shape, dtype=dtype))
    return [output.data] + [t.grad for t in tensors]


@pytest.mark.parametrize("batch", [40, 14])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_step_is_bit_identical_for_any_thread_count(dtype, batch):
    previous = numrnn.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS), 1):
            numrnn.set_num_threads(threads)
            results.append(_training_step(dtype, batch))
    finally:
        numrnn.set_num_threads(previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_a_peephole_weight_of_the_wrong_shape_or_dtype_is_refused():
    inputs = [t.data for t in make_inputs(2, 2, 3, 4)]
    with pytest.raises(ShapeError, match=r"lstm: weight_peephole must have shape \(12,\), "
                                         r"got \(16,\)"):
        F.lstm(*inputs[:7], weight_peephole=np.zeros(16))
    with pytest.raises(numrnn.DTypeError, match="lstm_cell: weight_peephole"):
        F.lstm_cell(inputs[0][0], *inputs[1:7], weight_peephole=np.zeros(12, np.float32))


@pytest.mark.parametrize("value", [None, 1, "True", np.array([True])])
def test_a_peepholes_option_that_is_not_a_bool_is_refused(value):
    with pytest.raises(ArgumentError, match="LSTM: peepholes must be True or False"):
        numrnn.nn.LSTM(3, 4, peepholes=value)
    with pytest.raises(ArgumentError, match="LSTMCell: peepholes must be True or False"):
        numrnn.nn.LSTMCell(3, 4, peepholes=value)
    inputs = [t.data for t in make_inputs(2, 2, 3, 4)]
    with pytest.raises(ArgumentError, match="lstm: peepholes must be True or False"):
        lstm_kernels.forward_infer(inputs[0], tuple(inputs[1:3]), tuple(inputs[3:]),
                                   options={"peepholes": value})
