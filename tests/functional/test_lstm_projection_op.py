"""The projected LSTM (``proj_size``) as one fused op: against the same cell composed from
primitive ops, Hypothesis gradcheck, float32 against float64, and bit-identical results
for any thread count."""

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.functional.cell_kinds import LSTM
from numrnn.functional.recurrent import RecurrentSequence
from numrnn.kernels.plan import COPY_FROM_STEPS, PACKED, block_count, plan_for
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


def fused(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths=None, reverse=False):
    """One layer and direction of the projected LSTM through the fused kernels."""
    return RecurrentSequence.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, kind=LSTM,
                                   options={"proj_size": w_hr.shape[0]}, lengths=lengths,
                                   reverse=reverse)


def _positions(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def composed(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse):
    """The projected LSTM from matmul, add, mul, sigmoid, tanh, getitem, concatenate, stack;
    each row alone over its own valid positions, padding a constant zero."""
    steps, batch, _ = x.shape
    proj_size, hidden = w_hr.shape
    zero = numrnn.tensor(np.zeros((1, proj_size)))
    rows_out = [[zero] * steps for _ in range(batch)]
    h_finals, c_finals = [], []
    for b in range(batch):
        h, c = h0[b:b + 1], c0[b:b + 1]
        for t in _positions(int(lengths[b]), reverse):
            gates = F.matmul(x[t, b:b + 1], w_ih.T) + F.matmul(h, w_hh.T)
            if b_ih is not None:
                gates = gates + b_ih + b_hh
            i = F.sigmoid(gates[:, :hidden])
            f = F.sigmoid(gates[:, hidden:2 * hidden])
            g = F.tanh(gates[:, 2 * hidden:3 * hidden])
            o = F.sigmoid(gates[:, 3 * hidden:])
            c = f * c + i * g
            h = F.matmul(o * F.tanh(c), w_hr.T)
            rows_out[b][t] = h
        h_finals.append(h)
        c_finals.append(c)
    output = F.stack([F.concatenate([rows_out[b][t] for b in range(batch)], axis=0)
                      for t in range(steps)], axis=0)
    return output, F.concatenate(h_finals, axis=0), F.concatenate(c_finals, axis=0)


def make_arrays(steps, batch, n_in, hidden, proj_size, bias=True, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(steps, batch, n_in), (batch, proj_size), (batch, hidden), (4 * hidden, n_in),
              (4 * hidden, proj_size), (4 * hidden,), (4 * hidden,), (proj_size, hidden)]
    arrays = [rng.uniform(-1, 1, shape).astype(dtype) for shape in shapes]
    if not bias:
        arrays[5] = arrays[6] = None
    return arrays


def _loss_and_grads(fn, arrays, seed=1):
    """Backprop a random weighting of output, h_n and c_n; the results and every gradient."""
    tensors = [None if a is None else numrnn.tensor(a, requires_grad=True) for a in arrays]
    results = fn(*tensors)
    rng = np.random.default_rng(seed)
    loss = sum((result * numrnn.tensor(rng.standard_normal(result.shape).astype(result.dtype)))
               .sum() for result in results)
    loss.backward()
    return [r.data for r in results], [None if t is None else t.grad for t in tensors]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_matches_composed_primitive_ops(bias, reverse):
    lengths = np.array([3, 5, 1, 4], dtype=np.int64)
    arrays = make_arrays(5, 4, 3, 5, 2, bias)
    got = _loss_and_grads(lambda *a: fused(*a, lengths=lengths, reverse=reverse), arrays)
    want = _loss_and_grads(lambda *a: composed(*a, lengths, reverse), arrays)
    for a, b in zip(got[0] + got[1], want[0] + want[1]):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@given(batch=S.sequence_batches(max_steps=5, max_batch=4, features=st.integers(1, 4),
                                min_value=-1.5, max_value=1.5),
       sizes=st.integers(2, 5).flatmap(lambda h: st.tuples(st.just(h), st.integers(1, h - 1))),
       bias=st.booleans(), reverse=st.booleans(), data=st.data())
def test_gradcheck(batch, sizes, bias, reverse, data):
    x, lengths = batch
    hidden, proj_size = sizes
    n_in, rows = x.shape[2], x.shape[1]
    shapes = [(rows, proj_size), (rows, hidden), (4 * hidden, n_in), (4 * hidden, proj_size),
              (4 * hidden,), (4 * hidden,), (proj_size, hidden)]
    arrays = [data.draw(S.float_arrays(shape, min_value=-1.0, max_value=1.0))
              for shape in shapes]
    if not bias:
        arrays[4] = arrays[5] = None
    gradcheck(lambda *a: fused(*a, lengths=lengths, reverse=reverse), [x, *arrays],
              directions=6, full_jacobian_limit=300)


@pytest.mark.parametrize("steps, batch, hidden, proj_size", [
    (6, 3, 5, 3),
    # Packed float32 weights forward and backward (the plan's PACKED form).
    (COPY_FROM_STEPS + 1, 40, 64, 24)])
def test_float32_agrees_with_float64(steps, batch, hidden, proj_size):
    if hidden == 64:
        plan = plan_for(np.dtype(np.float32), batch, steps, 4, hidden, 4, joint=False)
        assert plan.recurrent_weight == plan.backward_weight == PACKED
    lengths = np.random.default_rng(5).integers(1, steps + 1, batch)
    lengths[0] = steps
    run = lambda *a: fused(*a, lengths=lengths, reverse=True)  # noqa: E731
    arrays = make_arrays(steps, batch, 4, hidden, proj_size)
    out64, grads64 = _loss_and_grads(run, arrays)
    out32, grads32 = _loss_and_grads(run, [None if a is None else a.astype(np.float32)
                                           for a in arrays])
    assert all(r.dtype == np.float32 for r in out32 + grads32)
    for got, want in zip(out32 + grads32, out64 + grads64):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-4 * np.abs(want).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bit_identical_across_thread_counts(dtype):
    # Wide enough for several batch blocks and, in float32, packed weights.
    steps, batch, hidden, proj_size = COPY_FROM_STEPS + 1, 70, 64, 20
    assert block_count(batch) > 1
    arrays = make_arrays(steps, batch, 6, hidden, proj_size, dtype=dtype, seed=3)
    lengths = np.random.default_rng(4).integers(1, steps + 1, batch)
    lengths[0] = steps
    previous = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            for reverse in (False, True):
                outs, grads = _loss_and_grads(
                    lambda *a, r=reverse: fused(*a, lengths=lengths, reverse=r), arrays)
                results.append(outs + grads)
    finally:
        numba.set_num_threads(previous)
    for one_thread, two_threads in zip(results[:2], results[2:]):
        for a, b in zip(one_thread, two_threads):
            np.testing.assert_array_equal(a, b)


def test_the_inference_kernel_equals_the_training_one_exactly():
    arrays = make_arrays(6, 5, 3, 7, 4, dtype=np.float32)
    lengths = np.array([6, 1, 3, 6, 2], dtype=np.int64)
    options = {"proj_size": 4}
    states, weights = tuple(arrays[1:3]), tuple(arrays[3:])
    trained, trained_finals, _ = LSTM.forward_train(arrays[0], states, weights, lengths, True,
                                                    options)
    inferred, inferred_finals = LSTM.forward_infer(arrays[0], states, weights, lengths, True,
                                                   options)
    np.testing.assert_array_equal(trained, inferred)
    for a, b in zip(trained_finals, inferred_finals):
        np.testing.assert_array_equal(a, b)
    assert trained.shape == (6, 5, 4) and trained_finals[1].shape == (5, 7)
    assert not trained[1:, 1].any()  # zeros past the row's length
