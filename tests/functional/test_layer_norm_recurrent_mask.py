"""The layer-normalised LSTM with a fixed variational recurrent mask (Gal & Ghahramani
2016), applied inside its kernels as the plain LSTM's: each row's ``h_{t-1}`` times its
mask row before ``W_hh``, the same at every step. Against the same cell composed from
primitive tape ops (forward and every gradient, lengths, both directions, fixed and
Hypothesis inputs), Hypothesis gradcheck in float64 where central differences resolve
every normalised block, float32 against float64, and the same bits for any thread
count."""

import numba
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.functional.cell_kinds import LSTM
from numrnn.functional.recurrent import RecurrentSequence
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S
from tests.functional.test_layer_norm_cells_op import (
    SMALLEST_RESOLVED_VARIANCE,
    _positions,
    assert_fused_matches_composed,
    away_from_zero,
    loss_and_grads,
    lstm_step,
    make_inputs,
    smallest_normalised_variance,
    weight_arrays,
)

OPTIONS = {"layer_norm": True}


def mask(batch, hidden, rate=0.4, seed=3, dtype=np.float64):
    """A scaled 0/1 mask as the layers draw it: kept with probability ``1 - rate``."""
    kept = np.random.default_rng(seed).random((batch, hidden)) >= rate
    return (kept / (1 - rate)).astype(dtype)


def composed(x, h0, c0, weights, lengths, reverse, recurrent_mask, record=None):
    """Each row alone over its valid positions, its h masked before every step's
    recurrent product; padding is a constant zero. ``(output, h_n, c_n)``; each
    normalised block's variance appended to ``record`` (a list) when given."""
    steps, batch, _ = x.shape
    hidden = weights[1].shape[1]
    zero = numrnn.tensor(np.zeros((1, hidden)))
    rows_out = [[zero] * steps for _ in range(batch)]
    finals_h, finals_c = [], []
    for b in range(batch):
        h, c = h0[b:b + 1], c0[b:b + 1]
        row_mask = numrnn.tensor(recurrent_mask[b:b + 1])
        for t in _positions(int(lengths[b]), reverse):
            h, c = lstm_step(x[t, b:b + 1], h * row_mask, c, weights, record)
            rows_out[b][t] = h
        finals_h.append(h)
        finals_c.append(c)
    output = F.stack([F.concatenate([rows_out[b][t] for b in range(batch)], axis=0)
                      for t in range(steps)], axis=0)
    return output, F.concatenate(finals_h, axis=0), F.concatenate(finals_c, axis=0)


def fused(x, h0, c0, weights, lengths, reverse, recurrent_mask):
    return RecurrentSequence.apply(x, h0, c0, *weights, kind=LSTM, options=OPTIONS,
                                   lengths=lengths, reverse=reverse,
                                   recurrent_mask=recurrent_mask)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_matches_composed_primitive_ops_with_a_fixed_mask(bias, reverse):
    lengths = np.array([3, 5, 1, 4], dtype=np.int64)
    recurrent_mask = mask(4, 4)
    fused_inputs = make_inputs(LSTM, 5, 4, 3, 4, bias)
    composed_inputs = [None if t is None else numrnn.tensor(t.data, requires_grad=True)
                       for t in fused_inputs]

    def run(function):
        return lambda x, h0, c0, *weights: function(x, h0, c0, weights, lengths, reverse,
                                                    recurrent_mask)

    got = loss_and_grads(run(fused), fused_inputs)
    expected = loss_and_grads(run(composed), composed_inputs)
    for out, want in zip(got[0], expected[0]):
        np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    for grad, want in zip(got[1], expected[1]):
        if want is not None:
            np.testing.assert_allclose(grad, want, rtol=1e-9, atol=1e-10)
    # The mask is really applied: without it the result differs.
    unmasked = fused(*[t.data if t is not None else None for t in fused_inputs[:3]],
                     [None if t is None else t.data for t in fused_inputs[3:]], lengths,
                     reverse, None)
    assert np.abs(unmasked[0].data - got[0][0]).max() > 1e-3


def _drawn_case(batch, hidden, bias, data, spread=lambda values: values):
    """``(arrays, run_fused, run_composed)``: the composed run takes ``record`` last;
    ``spread`` maps the input and the states."""
    x, lengths = batch
    x = spread(x)
    seed = data.draw(st.integers(0, 2**16))
    h0, c0 = (spread(data.draw(S.float_arrays((x.shape[1], hidden), min_value=-1.0,
                                              max_value=1.0)))
              for _ in range(2))
    weights = weight_arrays(LSTM, x.shape[2], hidden, bias, np.random.default_rng(seed))
    recurrent_mask = mask(x.shape[1], hidden, seed=seed)
    reverse = data.draw(st.booleans())
    return ([x, h0, c0, *weights],
            lambda x, h0, c0, *w: fused(x, h0, c0, w, lengths, reverse, recurrent_mask),
            lambda x, h0, c0, *w: composed(x, h0, c0, w[:-1], lengths, reverse,
                                           recurrent_mask, w[-1]))


@given(batch=S.sequence_batches(max_steps=5, max_batch=4, features=st.integers(1, 4),
                                min_value=-1.5, max_value=1.5),
       hidden=st.integers(2, 5), bias=st.booleans(), data=st.data())
def test_gradcheck_with_a_fixed_mask(batch, hidden, bias, data):
    """Central differences where they resolve every normalised block (see
    SMALLEST_RESOLVED_VARIANCE in test_layer_norm_cells_op)."""
    arrays, run_fused, run_composed = _drawn_case(batch, hidden, bias, data, away_from_zero)
    assume(smallest_normalised_variance(run_composed, arrays) >= SMALLEST_RESOLVED_VARIANCE)
    gradcheck(run_fused, arrays, directions=6, full_jacobian_limit=300)


@given(batch=S.sequence_batches(max_steps=5, max_batch=4, features=st.integers(1, 4),
                                min_value=-1.5, max_value=1.5),
       hidden=st.integers(2, 5), bias=st.booleans(), data=st.data())
def test_fused_matches_composed_on_any_input_with_a_fixed_mask(batch, hidden, bias, data):
    """Zeros and constant blocks included, where central differences cannot judge."""
    arrays, run_fused, run_composed = _drawn_case(batch, hidden, bias, data)
    assert_fused_matches_composed(run_fused, lambda *a: run_composed(*a, None), arrays)


def test_gradients_with_a_mask_where_a_normalised_block_is_constant():
    """Found by Hypothesis: zero input and states (hidden 2) make the normalised blocks
    constant, where central differences at step 1e-6 miss by more than rtol (-428.68
    against -430.82, converging to it as the step shrinks); the backward equals the
    composed primitive ops' there."""
    seed, lengths = 2653, np.array([2], dtype=np.int64)
    weights = weight_arrays(LSTM, 1, 2, True, np.random.default_rng(seed))
    recurrent_mask = mask(1, 2, seed=seed)

    def run_composed(x, h0, c0, *w):
        return composed(x, h0, c0, w[:-1], lengths, False, recurrent_mask, w[-1])

    arrays = [np.zeros((2, 1, 1)), np.zeros((1, 2)), np.zeros((1, 2)), *weights]
    assert smallest_normalised_variance(run_composed, arrays) < SMALLEST_RESOLVED_VARIANCE
    assert_fused_matches_composed(
        lambda x, h0, c0, *w: fused(x, h0, c0, w, lengths, False, recurrent_mask),
        lambda *a: run_composed(*a, None), arrays)


def test_float32_agrees_with_float64_with_a_mask():
    lengths = np.array([6, 2, 4], dtype=np.int64)
    results = []
    for dtype in (np.float64, np.float32):
        recurrent_mask = mask(3, 5, dtype=dtype)
        results.append(loss_and_grads(
            lambda x, h0, c0, *w, m=recurrent_mask: fused(x, h0, c0, w, lengths, True, m),
            make_inputs(LSTM, 6, 3, 4, 5, dtype=dtype)))
    (out64, grads64), (out32, grads32) = results
    assert all(value.dtype == np.float32 for value in out32 + grads32)
    for got, expected in zip(out32 + grads32, out64 + grads64):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_are_bit_identical_for_any_thread_count_with_a_mask(dtype):
    steps, batch, n_in, hidden = 6, 40, 30, 24
    rng = np.random.default_rng(4)
    x = rng.standard_normal((steps, batch, n_in)).astype(dtype)
    states = tuple(rng.standard_normal((batch, hidden)).astype(dtype) * 0.5 for _ in range(2))
    weights = tuple(rng.standard_normal(shape).astype(dtype) * 0.5
                    for _, shape in LSTM.parameters(n_in, hidden, OPTIONS))
    lengths = np.maximum(steps - np.arange(batch) % 3, 1).astype(np.int64)
    recurrent_mask = mask(batch, hidden, dtype=dtype)
    previous = numrnn.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS), 1):
            numrnn.set_num_threads(threads)
            output, finals, saved = LSTM.forward_train(x, states, weights, lengths, True,
                                                       OPTIONS, recurrent_mask)
            grads = LSTM.backward(np.ones_like(output), tuple(np.ones_like(f) for f in finals),
                                  x, states, weights, saved, lengths, True, OPTIONS,
                                  recurrent_mask=recurrent_mask)
            results.append([output, *finals, *grads])
    finally:
        numrnn.set_num_threads(previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
