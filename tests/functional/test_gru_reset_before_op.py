"""F.gru / F.gru_cell with reset_after=False: the fused op against the same cell composed
from primitive ops, Hypothesis gradcheck, and the option's validation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


def _positions(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def composed_gru(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
    """The reset-before GRU from matmul, add, mul, sigmoid, tanh, getitem, concatenate, stack.

    Each row runs alone over its own valid positions; padding is a constant zero.
    """
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    zero = numrnn.tensor(np.zeros((1, hidden)))
    rows_out = [[zero] * steps for _ in range(batch)]
    finals = []
    for b in range(batch):
        h = h0[b:b + 1]
        for t in _positions(int(lengths[b]), reverse):
            gx = F.matmul(x[t, b:b + 1], w_ih.T)
            if b_ih is not None:
                gx = gx + b_ih
            g_rz = F.matmul(h, w_hh[:2 * hidden].T)
            if b_hh is not None:
                g_rz = g_rz + b_hh[:2 * hidden]
            r = F.sigmoid(gx[:, :hidden] + g_rz[:, :hidden])
            z = F.sigmoid(gx[:, hidden:2 * hidden] + g_rz[:, hidden:])
            g_n = F.matmul(r * h, w_hh[2 * hidden:].T)
            if b_hh is not None:
                g_n = g_n + b_hh[2 * hidden:]
            n = F.tanh(gx[:, 2 * hidden:] + g_n)
            h = (1.0 - z) * n + z * h
            rows_out[b][t] = h
        finals.append(h)
    output = F.stack([F.concatenate([rows_out[b][t] for b in range(batch)], axis=0)
                      for t in range(steps)], axis=0)
    return output, F.concatenate(finals, axis=0)


def make_inputs(steps, batch, n_in, hidden, bias=True, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, (steps, batch, n_in)), rng.uniform(-1, 1, (batch, hidden)),
              rng.uniform(-0.6, 0.6, (3 * hidden, n_in)),
              rng.uniform(-0.6, 0.6, (3 * hidden, hidden))]
    if bias:
        arrays += [rng.uniform(-0.5, 0.5, 3 * hidden), rng.uniform(-0.5, 0.5, 3 * hidden)]
    tensors = [numrnn.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    return tensors + [None, None] if not bias else tensors


def _loss_and_grads(fn, inputs, seed=1):
    """Backprop sum(output * G) + sum(h_n * G') and return every input's gradient."""
    output, h_n = fn(*inputs)
    rng = np.random.default_rng(seed)
    seed_out = numrnn.tensor(rng.standard_normal(output.shape), dtype=output.dtype)
    seed_hn = numrnn.tensor(rng.standard_normal(h_n.shape), dtype=output.dtype)
    ((output * seed_out).sum() + (h_n * seed_hn).sum()).backward()
    return output.data, h_n.data, [None if t is None else t.grad for t in inputs]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_matches_composed_primitive_ops(bias, reverse):
    lengths = np.array([3, 5, 1, 4], dtype=np.int64)
    fused_inputs = make_inputs(5, 4, 3, 4, bias)
    composed_inputs = [None if t is None else numrnn.tensor(t.data, requires_grad=True)
                       for t in fused_inputs]
    fused = _loss_and_grads(
        lambda *a: F.gru(*a, lengths=lengths, reverse=reverse, reset_after=False), fused_inputs)
    composed = _loss_and_grads(lambda *a: composed_gru(*a, lengths, reverse), composed_inputs)
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fused[1], composed[1], rtol=1e-10, atol=1e-10)
    for got, expected in zip(fused[2], composed[2]):
        if expected is not None:
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@given(batch=S.sequence_batches(max_steps=6, max_batch=6, features=st.integers(1, 6),
                                min_value=-1.5, max_value=1.5),
       hidden=st.integers(1, 6), bias=st.booleans(), reverse=st.booleans(), data=st.data())
def test_gradcheck(batch, hidden, bias, reverse, data):
    x, lengths = batch
    n_in = x.shape[2]
    shapes = [(x.shape[1], hidden), (3 * hidden, n_in), (3 * hidden, hidden)]
    shapes += [(3 * hidden,), (3 * hidden,)] if bias else []
    arrays = [data.draw(S.float_arrays(shape, min_value=-1.0, max_value=1.0))
              for shape in shapes]
    arrays += [] if bias else [None, None]
    gradcheck(lambda *a: F.gru(*a, lengths=lengths, reverse=reverse, reset_after=False),
              [x, *arrays], directions=6, full_jacobian_limit=300)


@given(batch=S.sequence_batches(max_steps=4, max_batch=3, features=st.integers(1, 4)),
       hidden=st.integers(1, 4), data=st.data())
def test_cell_gradcheck_and_equals_one_step(batch, hidden, data):
    x, _ = batch
    x = x[0]
    shapes = [(x.shape[0], hidden), (3 * hidden, x.shape[1]), (3 * hidden, hidden),
              (3 * hidden,), (3 * hidden,)]
    arrays = [data.draw(S.float_arrays(shape, min_value=-1.0, max_value=1.0))
              for shape in shapes]
    gradcheck(lambda *a: F.gru_cell(*a, reset_after=False), [x, *arrays],
              full_jacobian_limit=300)
    _, h_n = F.gru(x[None], *arrays, reset_after=False)
    np.testing.assert_array_equal(F.gru_cell(x, *arrays, reset_after=False).data, h_n.data)


def test_float32_agrees_with_float64():
    lengths = np.array([6, 2, 4], dtype=np.int64)
    run = lambda *a: F.gru(*a, lengths=lengths, reverse=True, reset_after=False)  # noqa: E731
    out64, hn64, grads64 = _loss_and_grads(run, make_inputs(6, 3, 4, 5))
    out32, hn32, grads32 = _loss_and_grads(run, make_inputs(6, 3, 4, 5, dtype=np.float32))
    assert out32.dtype == np.float32 and all(g.dtype == np.float32 for g in grads32)
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hn32, hn64, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads32, grads64):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op, arguments", [
    (F.gru, lambda inputs: inputs), (F.gru_cell, lambda inputs: [inputs[0][0], *inputs[1:]])])
@pytest.mark.parametrize("value", [None, 0, "False", np.array([True])])
def test_a_reset_after_that_is_not_a_bool_is_refused(op, arguments, value):
    inputs = [t.data for t in make_inputs(2, 2, 3, 4)]
    name = op.__name__
    with pytest.raises(ArgumentError, match=f"{name}: reset_after must be True or False"):
        op(*arguments(inputs), reset_after=value)
