"""Recurrent (variational) dropout in the reset-before and the layer-normalised GRU.

A fixed recurrent mask ``m`` (B, H) multiplies ``h_{t-1}`` wherever it enters a
product with ``W_hh`` (reset-before: ``W_hrz (m * h)`` and ``W_hn (r * (m * h))``;
layer-normalised: ``LN(W_hh (m * h))``), the same at every step, while the update
``z * h_{t-1}`` carries the unmasked state, as in the plain GRU. Checked against
the same computation composed from primitive tape ops (single ops with lengths and
reverse, and whole stacked bidirectional layers with the masks they draw), against
central differences in float64, in float32, and for bit-identical results over
thread counts.
"""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.functional.cell_kinds import GRU, parameter_name
from numrnn.functional.recurrent import checked_sequence
from numrnn.nn.variational_dropout import draw_variational_masks
from numrnn.testing import gradcheck

VARIANTS = {"reset_before": {"reset_after": False},
            "layer_norm": {"reset_after": True, "layer_norm": True}}


def _plus(value, bias):
    return value if bias is None else value + bias


def _normalised(values, gain, shift):
    """Each of the three gate blocks of ``values`` (B, 3H) through the layer_norm op."""
    hidden = values.shape[1] // 3
    return F.concatenate([F.layer_norm(values[:, k * hidden:(k + 1) * hidden], (hidden,),
                                       gain[k * hidden:(k + 1) * hidden],
                                       shift[k * hidden:(k + 1) * hidden])
                          for k in range(3)], axis=1)


def _step(variant, x_t, h, weights, mask):
    """One step of the variant from primitive ops, ``m * h`` in the recurrent products."""
    w_ih, w_hh, b_ih, b_hh = weights[:4]
    hidden = w_hh.shape[1]
    dropped = h * mask
    if variant == "reset_before":
        into = _plus(F.matmul(x_t, w_ih.T), b_ih)
        through = _plus(F.matmul(dropped, w_hh[:2 * hidden].T),
                        None if b_hh is None else b_hh[:2 * hidden])
        r = F.sigmoid(into[:, :hidden] + through[:, :hidden])
        z = F.sigmoid(into[:, hidden:2 * hidden] + through[:, hidden:])
        n = F.tanh(into[:, 2 * hidden:] + _plus(F.matmul(r * dropped, w_hh[2 * hidden:].T),
                                                None if b_hh is None else b_hh[2 * hidden:]))
    else:
        gain_ih, shift_ih, gain_hh, shift_hh = weights[4:]
        into = _plus(_normalised(F.matmul(x_t, w_ih.T), gain_ih, shift_ih), b_ih)
        through = _plus(_normalised(F.matmul(dropped, w_hh.T), gain_hh, shift_hh), b_hh)
        r = F.sigmoid(into[:, :hidden] + through[:, :hidden])
        z = F.sigmoid(into[:, hidden:2 * hidden] + through[:, hidden:2 * hidden])
        n = F.tanh(into[:, 2 * hidden:] + r * through[:, 2 * hidden:])
    # The update carries the unmasked h, as the plain GRU's does.
    return (1.0 - z) * n + z * h


def composed(variant, x, h0, weights, lengths, reverse, mask):
    """The sequence from :func:`_step`, all rows at once, each over its own valid
    positions: ``(output (T, B, H), h_n)``, output zero past each length."""
    steps, batch, _ = x.shape
    dtype = x.dtype
    rows = np.arange(batch)
    h, per_step = h0, []
    for step in range(steps):
        valid = step < lengths
        positions = np.where(valid, lengths - 1 - step if reverse else step, 0)
        keep = valid[:, None].astype(dtype)
        fresh = _step(variant, x[positions, rows], h, weights, mask)
        per_step.append(fresh * keep)
        h = fresh * keep + h * (1 - keep)
    times = np.arange(steps)[:, None]
    inside = times < lengths
    step_of = np.where(inside, lengths - 1 - times if reverse else times, 0)
    output = F.stack(per_step, axis=0)[step_of, rows[None, :]] * inside[..., None].astype(dtype)
    return output, h


def fused(variant, x, h0, weights, lengths, reverse, mask):
    if variant == "reset_before":
        return F.gru(x, h0, *weights, lengths=lengths, reverse=reverse, reset_after=False,
                     recurrent_mask=mask)
    return checked_sequence("gru", GRU, x, (("h0", h0),), weights, lengths, reverse,
                            VARIANTS[variant], recurrent_mask=mask)


def problem(variant, steps, batch, n_in, hidden, seed, bias=True, rate=0.4):
    """``(x, h0, weights, lengths, mask)`` in float64, the mask scaled 0/1."""
    rng = np.random.default_rng(seed)
    rows = 3 * hidden
    x = rng.uniform(-1.5, 1.5, (steps, batch, n_in))
    h0 = rng.uniform(-1, 1, (batch, hidden))
    weights = [rng.uniform(-0.6, 0.6, (rows, n_in)), rng.uniform(-0.6, 0.6, (rows, hidden))]
    weights += [rng.uniform(-0.5, 0.5, rows), rng.uniform(-0.5, 0.5, rows)] if bias \
        else [None, None]
    if variant == "layer_norm":
        weights += [rng.uniform(0.5, 1.5, rows), rng.uniform(-0.5, 0.5, rows),
                    rng.uniform(0.5, 1.5, rows), rng.uniform(-0.5, 0.5, rows)]
    lengths = rng.integers(1, steps + 1, batch)
    mask = (rng.random((batch, hidden)) >= rate) / (1 - rate)
    return x, h0, weights, lengths, mask


def loss_and_grads(run, arrays, dtype, seed=3):
    """``sum(output * G) + sum(h_n * G')`` backpropagated: the outputs and the gradient
    of every input (None where the input is None)."""
    tensors = [None if a is None else numrnn.Tensor(a.astype(dtype), requires_grad=True)
               for a in arrays]
    output, h_n = run(*tensors)
    rng = np.random.default_rng(seed)
    loss = (output * rng.standard_normal(output.shape).astype(dtype)).sum() \
        + (h_n * rng.standard_normal(h_n.shape).astype(dtype)).sum()
    loss.backward()
    return [output.data, h_n.data], [None if t is None else t.grad for t in tensors]


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_fused_op_is_the_masked_computation_composed_from_primitives(variant, reverse, bias,
                                                                          dtype, tolerance):
    x, h0, weights, lengths, mask = problem(variant, 5, 4, 3, 4, seed=2, bias=bias)
    mask = mask.astype(dtype)
    assert 0 < np.count_nonzero(mask) < mask.size

    def run_with(op):
        return lambda x, h0, *w: op(variant, x, h0, list(w), lengths, reverse, mask)

    got = loss_and_grads(run_with(fused), [x, h0, *weights], dtype)
    expected = loss_and_grads(run_with(composed), [x, h0, *weights], dtype)
    for ours, theirs in zip(got[0], expected[0]):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance)
    assert sum(g is not None for g in got[1]) == len(weights) + 2 - (0 if bias else 2)
    for ours, theirs in zip(got[1], expected[1]):
        if theirs is not None:
            assert ours.dtype == dtype
            np.testing.assert_allclose(ours, theirs, rtol=tolerance * 10, atol=tolerance * 10)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_mask_acts_and_a_mask_of_ones_gives_the_unmasked_bits(variant):
    x, h0, weights, lengths, mask = problem(variant, 4, 3, 2, 5, seed=1)
    plain = fused(variant, x, h0, weights, lengths, True, None)
    ones = fused(variant, x, h0, weights, lengths, True, np.ones_like(mask))
    dropped = fused(variant, x, h0, weights, lengths, True, mask)
    for unmasked, of_ones, masked in zip(plain, ones, dropped):
        np.testing.assert_array_equal(of_ones.data, unmasked.data)
        assert np.abs(masked.data - unmasked.data).max() > 1e-3


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_kernels_without_residuals_give_the_training_kernels_bits(variant):
    # A layer in training mode under no_grad runs forward_infer with its mask.
    x, h0, weights, lengths, mask = problem(variant, 6, 20, 3, 5, seed=4)
    options = VARIANTS[variant]
    output, finals, _ = GRU.forward_train(x, (h0,), tuple(weights), lengths, True, options, mask)
    infer_output, infer_finals = GRU.forward_infer(x, (h0,), tuple(weights), lengths, True,
                                                   options, mask)
    np.testing.assert_array_equal(infer_output, output)
    np.testing.assert_array_equal(infer_finals[0], finals[0])


@settings(max_examples=12)
@given(variant=st.sampled_from(sorted(VARIANTS)), reverse=st.booleans(), bias=st.booleans(),
       steps=st.integers(1, 4), batch=st.integers(1, 3), n_in=st.integers(1, 3),
       hidden=st.integers(2, 4), rate=st.sampled_from([0.25, 0.5]),
       seed=st.integers(0, 2 ** 16))
def test_gradients_with_a_fixed_mask_match_central_differences(variant, reverse, bias, steps,
                                                               batch, n_in, hidden, rate, seed):
    x, h0, weights, lengths, mask = problem(variant, steps, batch, n_in, hidden, seed, bias,
                                            rate)
    assert gradcheck(lambda x, h0, *w: fused(variant, x, h0, list(w), lengths, reverse, mask),
                     [x, h0, *weights], atol=1e-6, rtol=1e-4)


def _layer(variant, dtype=np.float64, num_layers=2, bidirectional=True, rng=7, **rates):
    return nn.GRU(3, 4, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype,
                  rng=rng, **VARIANTS[variant], **rates)


def _composed_layer(variant, layer, x, lengths, masks, parameters):
    """The layer's training forward from :func:`composed`, per layer and direction with
    the masks it drew: ``(output, h_n)``."""
    names = [name for name, _ in GRU.parameters(1, layer.hidden_size, VARIANTS[variant])]
    batch = x.shape[1]
    layer_input, finals, outputs = x, [], []
    for index in range(layer.num_layers * layer.num_directions):
        number, direction = divmod(index, layer.num_directions)
        weights = [parameters.get(parameter_name(name, number, direction == 1))
                   for name in names]
        h0 = numrnn.Tensor(np.zeros((batch, layer.hidden_size)))
        output, h_n = composed(variant, layer_input * masks.inputs[index], h0, weights, lengths,
                               direction == 1, masks.recurrent[index])
        finals.append(h_n)
        outputs = [output] if direction == 0 else [*outputs, output]
        if direction == layer.num_directions - 1:
            layer_input = outputs[0] if len(outputs) == 1 else F.concatenate(outputs, axis=2)
    return layer_input, F.stack(finals)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_stacked_bidirectional_layer_is_the_composed_computation_with_its_masks(variant):
    layer = _layer(variant, input_dropout=0.3, recurrent_dropout=0.4)
    x, lengths = np.random.default_rng(1).standard_normal((5, 3, 3)), np.array([5, 2, 4])
    masks_from = copy.deepcopy(layer.rng)
    x_tensor = numrnn.Tensor(x, requires_grad=True)
    output, h_n = layer(x_tensor, lengths=lengths)
    seed = np.random.default_rng(3)
    out_weight, h_weight = seed.standard_normal(output.shape), seed.standard_normal(h_n.shape)
    ((output * out_weight).sum() + (h_n * h_weight).sum()).backward()

    masks = draw_variational_masks([3, 3, 8, 8], 4, 3, np.float64, 0.3, 0.4, masks_from)
    assert all(0 < np.count_nonzero(m) < m.size for m in masks.recurrent)
    parameters = {n: numrnn.Tensor(p.data.copy(), requires_grad=True)
                  for n, p in layer.named_parameters()}
    composed_x = numrnn.Tensor(x, requires_grad=True)
    expected, expected_h_n = _composed_layer(variant, layer, composed_x, lengths, masks,
                                             parameters)
    np.testing.assert_allclose(output.data, expected.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n.data, expected_h_n.data, rtol=1e-10, atol=1e-12)
    ((expected * out_weight).sum() + (expected_h_n * h_weight).sum()).backward()
    np.testing.assert_allclose(x_tensor.grad, composed_x.grad, rtol=1e-9, atol=1e-11)
    for name, parameter in layer.named_parameters():
        np.testing.assert_allclose(parameter.grad, parameters[name].grad, rtol=1e-9, atol=1e-11,
                                   err_msg=name)


@settings(max_examples=8)
@given(variant=st.sampled_from(sorted(VARIANTS)), num_layers=st.integers(1, 2),
       bidirectional=st.booleans(), steps=st.integers(1, 4), batch=st.integers(1, 3),
       seed=st.integers(0, 2 ** 16))
def test_a_layers_gradients_with_its_masks_held_fixed_match_central_differences(
        variant, num_layers, bidirectional, steps, batch, seed, gradcheck_with_masks_held):
    layer = _layer(variant, num_layers=num_layers, bidirectional=bidirectional, rng=seed,
                   input_dropout=0.3, recurrent_dropout=0.4)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, 3))
    lengths = rng.integers(1, steps + 1, batch)
    assert gradcheck_with_masks_held(layer, x, lengths)


def _training_step(variant, dtype):
    layer = nn.GRU(30, 24, num_layers=2, bidirectional=True, dtype=dtype, rng=3,
                   recurrent_dropout=0.4, **VARIANTS[variant])
    rng = np.random.default_rng(4)
    x = numrnn.Tensor(rng.standard_normal((6, 40, 30)).astype(dtype), requires_grad=True)
    output, _ = layer(x, lengths=rng.integers(1, 7, 40))
    output.backward(np.ones(output.shape, dtype=dtype))
    return [output.data, x.grad] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_training_step_is_bit_identical_for_any_thread_count(variant, dtype,
                                                               same_bits_for_any_thread_count):
    # Batch 40: three blocks of 16 rows, so the blocks run in parallel with 2 threads.
    same_bits_for_any_thread_count(lambda: _training_step(variant, dtype))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_float32_batches_on_packed_weights_apply_the_mask_too(variant):
    # At B = 40, H = 64 float32 layers multiply by packed panels of W_hh: the mask
    # must reach the h those products read.
    x, h0, weights, lengths, mask = problem(variant, 3, 40, 30, 64, seed=4)
    single = [None if w is None else w.astype(np.float32) for w in [x, h0, *weights]]
    expected = fused(variant, x, h0, weights, lengths, False, mask)
    got = fused(variant, single[0], single[1], single[2:], lengths, False,
                mask.astype(np.float32))
    plain = fused(variant, single[0], single[1], single[2:], lengths, False, None)
    for ours, reference, unmasked in zip(got, expected, plain):
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.data, reference.data, rtol=1e-4, atol=1e-4)
        assert np.abs(unmasked.data - reference.data).max() > 1e-2


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_layer_takes_recurrent_dropout_when_built_and_when_set(variant):
    built = _layer(variant, dtype=np.float32, recurrent_dropout=0.3)
    later = _layer(variant, dtype=np.float32)
    later.recurrent_dropout = 0.3
    x = np.random.default_rng(0).standard_normal((5, 3, 3)).astype(np.float32)
    for layer in (built, later):
        assert layer.recurrent_dropout == 0.3
        training = layer(x)[0].data
        layer.eval()
        evaluation = layer(x)[0].data
        assert not np.array_equal(training, evaluation)
    np.testing.assert_array_equal(built(x)[0].data, _layer(variant, dtype=np.float32)(x)[0].data)
