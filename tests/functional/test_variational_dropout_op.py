"""Fixed variational dropout masks in the fused sequence ops ``lstm``, ``gru`` and ``rnn``.

``input_mask`` (B, I) multiplies every ``x_t``, ``recurrent_mask`` (B, H) every
``h_{t-1}`` before ``W_hh`` inside the kernels, the same masks at every step:
checked against central differences (float64, with lengths, both directions)
and against the same computation composed from primitive tape ops step by step.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.errors import DTypeError, ShapeError
from numrnn.testing import gradcheck

# name: (op, gate blocks, states, options passed to the op)
VARIANTS = {"lstm": (F.lstm, 4, 2, {}), "gru": (F.gru, 3, 1, {}),
            "rnn_tanh": (F.rnn, 1, 1, {"nonlinearity": "tanh"}),
            "rnn_relu": (F.rnn, 1, 1, {"nonlinearity": "relu"})}


def _problem(name, steps, batch, n_in, hidden, seed, dtype=np.float64, rate=0.4):
    _, gates, states, _ = VARIANTS[name]
    rng = np.random.default_rng(seed)
    rows = gates * hidden
    arrays = [rng.standard_normal((steps, batch, n_in))]
    arrays += [rng.standard_normal((batch, hidden)) * 0.5 for _ in range(states)]
    arrays += [rng.standard_normal((rows, n_in)) * 0.5, rng.standard_normal((rows, hidden)) * 0.5,
               rng.standard_normal(rows) * 0.1, rng.standard_normal(rows) * 0.1]
    lengths = rng.integers(1, steps + 1, batch)
    masks = [(rng.random(shape) >= rate) / (1 - rate) for shape in ((batch, n_in),
                                                                     (batch, hidden))]
    return [a.astype(dtype) for a in arrays], lengths, [m.astype(dtype) for m in masks]


def _fused(name, arrays, lengths, reverse, masks):
    op, _, states, options = VARIANTS[name]
    x, rest = arrays[0], arrays[1:]
    return op(x, *rest[:states], *rest[states:], lengths=lengths, reverse=reverse,
              input_mask=masks[0], recurrent_mask=masks[1], **options)


def _composed(name, arrays, lengths, reverse, masks):
    """The same layer from primitive tape ops, one step at a time: per-step outputs as
    ``(positions, h)`` (h zero for rows past their length) and the final states."""
    _, _, count, options = VARIANTS[name]
    x, states, (w_ih, w_hh, b_ih, b_hh) = arrays[0], list(arrays[1:1 + count]), arrays[-4:]
    input_mask, recurrent_mask = masks
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    rows = np.arange(batch)
    outputs = []
    for step in range(steps):
        valid = step < lengths
        positions = np.where(valid, lengths - 1 - step if reverse else step, 0)
        keep = valid[:, None].astype(x.dtype)
        h = states[0]
        into = x[positions, rows] * input_mask @ w_ih.T + b_ih
        through = (h * recurrent_mask) @ w_hh.T + b_hh
        if name == "lstm":
            i, f = F.sigmoid(into[:, :hidden] + through[:, :hidden]), \
                F.sigmoid(into[:, hidden:2 * hidden] + through[:, hidden:2 * hidden])
            g = F.tanh(into[:, 2 * hidden:3 * hidden] + through[:, 2 * hidden:3 * hidden])
            o = F.sigmoid(into[:, 3 * hidden:] + through[:, 3 * hidden:])
            c = f * states[1] + i * g
            new = [o * F.tanh(c), c]
        elif name == "gru":
            r = F.sigmoid(into[:, :hidden] + through[:, :hidden])
            z = F.sigmoid(into[:, hidden:2 * hidden] + through[:, hidden:2 * hidden])
            n = F.tanh(into[:, 2 * hidden:] + r * through[:, 2 * hidden:])
            # The update carries the unmasked h, as Keras's recurrent_dropout does.
            new = [(1 - z) * n + z * h]
        else:
            activate = F.relu if options["nonlinearity"] == "relu" else F.tanh
            new = [activate(into + through)]
        outputs.append((positions, new[0] * keep))
        states = [fresh * keep + old * (1 - keep) for fresh, old in zip(new, states)]
    return outputs, states


def _weights_of(outputs_shape, count, batch, hidden, dtype, seed=5):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(outputs_shape).astype(dtype),
            [rng.standard_normal((batch, hidden)).astype(dtype) for _ in range(count)])


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_fused_op_is_the_masked_computation_composed_from_primitives(name, reverse, dtype,
                                                                          tolerance):
    steps, batch, n_in, hidden = 5, 4, 3, 6
    arrays, lengths, masks = _problem(name, steps, batch, n_in, hidden, seed=2, dtype=dtype)
    count = VARIANTS[name][2]
    out_weights, final_weights = _weights_of((steps, batch, hidden), count, batch, hidden, dtype)

    fused_inputs = [numrnn.Tensor(a, requires_grad=True) for a in arrays]
    output, *finals = _fused(name, fused_inputs, lengths, reverse, masks)
    loss = (output * out_weights).sum()
    for final, weight in zip(finals, final_weights):
        loss = loss + (final * weight).sum()
    loss.backward()

    composed_inputs = [numrnn.Tensor(a, requires_grad=True) for a in arrays]
    steps_out, composed_finals = _composed(name, composed_inputs, lengths, reverse, masks)
    rows = np.arange(batch)
    composed_loss = 0
    for positions, h in steps_out:
        composed_loss = composed_loss + (h * out_weights[positions, rows]).sum()
        np.testing.assert_allclose(output.data[positions, rows] * (h.data != 0),
                                   h.data, rtol=tolerance, atol=tolerance)
    for final, weight in zip(composed_finals, final_weights):
        composed_loss = composed_loss + (final * weight).sum()
    composed_loss.backward()

    np.testing.assert_allclose(loss.data, composed_loss.data, rtol=tolerance)
    for fused, composed in zip(finals, composed_finals):
        np.testing.assert_allclose(fused.data, composed.data, rtol=tolerance, atol=tolerance)
    for fused, composed in zip(fused_inputs, composed_inputs):
        np.testing.assert_allclose(fused.grad, composed.grad, rtol=tolerance * 10,
                                   atol=tolerance * 10)


@settings(max_examples=12)
@given(name=st.sampled_from(sorted(VARIANTS)), reverse=st.booleans(),
       steps=st.integers(1, 4), batch=st.integers(1, 3), n_in=st.integers(1, 3),
       hidden=st.integers(1, 3), rate=st.sampled_from([0.25, 0.5]),
       seed=st.integers(0, 2 ** 16))
def test_gradients_with_fixed_masks_match_central_differences(name, reverse, steps, batch, n_in,
                                                              hidden, rate, seed):
    arrays, lengths, masks = _problem(name, steps, batch, n_in, hidden, seed, rate=rate)
    if name == "rnn_relu":
        # Keep pre-activations off ReLU's kink, where central differences straddle it.
        arrays[-2] = arrays[-2] + 0.05 * np.sign(arrays[-2])
    assert gradcheck(lambda *tensors: _fused(name, list(tensors), lengths, reverse, masks),
                     arrays, atol=1e-6, rtol=1e-4)


def test_masks_of_ones_give_the_plain_ops_bits():
    arrays, lengths, masks = _problem("lstm", 4, 3, 2, 5, seed=1)
    ones = [np.ones_like(mask) for mask in masks]
    masked = _fused("lstm", arrays, lengths, True, ones)
    plain = F.lstm(*arrays, lengths=lengths, reverse=True)
    for a, b in zip(masked, plain):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name, shape_of, error, message", [
    ("input_mask", lambda b, i, h: (b, i + 1), ShapeError,
     r"lstm: input_mask must have shape \(3, 2\), got \(3, 3\)"),
    ("recurrent_mask", lambda b, i, h: (b + 1, h), ShapeError,
     r"lstm: recurrent_mask must have shape \(3, 5\), got \(4, 5\)"),
])
def test_a_mask_of_the_wrong_shape_is_refused(name, shape_of, error, message):
    arrays, lengths, _ = _problem("lstm", 4, 3, 2, 5, seed=1)
    with pytest.raises(error, match=message):
        F.lstm(*arrays, lengths=lengths, **{name: np.ones(shape_of(3, 2, 5))})


def test_a_mask_of_another_dtype_is_refused():
    arrays, _, masks = _problem("gru", 4, 3, 2, 5, seed=1)
    with pytest.raises(DTypeError, match="gru: recurrent_mask must have dtype float64"):
        F.gru(*arrays, recurrent_mask=masks[1].astype(np.float32))


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_float32_batches_planned_for_the_joint_product_apply_the_mask_too(name):
    # At B = 40, H = 64 float32 layers take the joint product, whose buffer holds
    # the h it multiplies: the mask must reach that copy, not the state.
    arrays, lengths, masks = _problem(name, 3, 40, 30, 64, seed=4)
    expected = _fused(name, arrays, lengths, False, masks)
    single = [a.astype(np.float32) for a in arrays]
    got = _fused(name, single, lengths, False, [m.astype(np.float32) for m in masks])
    plain = _fused(name, single, lengths, False, [np.ones_like(m, np.float32) for m in masks])
    for ours, reference, unmasked in zip(got, expected, plain):
        np.testing.assert_allclose(ours.data, reference.data, rtol=1e-4, atol=1e-4)
        assert np.abs(unmasked.data - reference.data).max() > 1e-2
