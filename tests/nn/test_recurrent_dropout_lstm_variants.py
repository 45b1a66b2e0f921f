"""recurrent_dropout on the projected (``proj_size``) and the peephole LSTM.

Their fused kernels multiply ``h_{t-1}`` by each row's fixed recurrent mask
before ``W_hh``, forward and backward, as the plain LSTM's do; with
``proj_size`` the state fed back, and so the mask, has ``proj_size`` features.
Checked against the same stack composed from primitive tape ops (outputs, final
states, every gradient), against central differences, for any thread count, and
in float32.
"""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.functional.cell_kinds import LSTM
from numrnn.functional.recurrent import RecurrentSequence
from numrnn.nn.variational_dropout import draw_variational_masks

VARIANTS = {"proj_size": {"proj_size": 2}, "peepholes": {"peepholes": True}}


def _composed_direction(x, h0, c0, weights, options, mask, lengths, reverse):
    """One layer and direction from matmul, add, mul, sigmoid, tanh, getitem, stack and
    concatenate, all rows a step at a time: ``(output, h_n, c_n)``."""
    w_ih, w_hh, b_ih, b_hh, extra = weights
    steps, batch, _ = x.shape
    hidden = w_ih.shape[0] // 4
    rows = np.arange(batch)
    zero = numrnn.tensor(np.zeros((1, h0.shape[1]), dtype=x.dtype))
    at = [[zero] * batch for _ in range(steps)]
    h, c = h0, c0
    for step in range(steps):
        valid = step < lengths
        positions = np.where(valid, lengths - 1 - step if reverse else step, 0)
        keep = numrnn.tensor(valid[:, None].astype(x.dtype))
        a = F.matmul(x[positions, rows], w_ih.T) + F.matmul(h * mask, w_hh.T) + b_ih + b_hh
        a_i, a_f = a[:, :hidden], a[:, hidden:2 * hidden]
        a_g, a_o = a[:, 2 * hidden:3 * hidden], a[:, 3 * hidden:]
        if options.get("peepholes"):
            a_i, a_f = a_i + extra[:hidden] * c, a_f + extra[hidden:2 * hidden] * c
        i, f, g = F.sigmoid(a_i), F.sigmoid(a_f), F.tanh(a_g)
        c_new = f * c + i * g
        if options.get("peepholes"):
            a_o = a_o + extra[2 * hidden:] * c_new
        h_new = F.sigmoid(a_o) * F.tanh(c_new)
        if options.get("proj_size"):
            h_new = F.matmul(h_new, extra.T)
        for b in rows[valid]:
            at[positions[b]][b] = h_new[b:b + 1]
        h = h_new * keep + h * (1 - keep)
        c = c_new * keep + c * (1 - keep)
    output = F.stack([F.concatenate(at[t], axis=0) for t in range(steps)], axis=0)
    return output, h, c


def _composed_stack(layer, x, h0, c0, lengths, masks, parameters):
    """The layer's training forward composed from :func:`_composed_direction`, each layer
    and direction given its masks explicitly: ``(output, h_n, c_n)``."""
    options = layer.kind.options_of(layer)
    names = list(parameters)
    per_cell = len(names) // (layer.num_layers * layer.num_directions)
    layer_input, h_finals, c_finals, outputs = x, [], [], []
    for index in range(layer.num_layers * layer.num_directions):
        weights = [parameters[n] for n in names[index * per_cell:(index + 1) * per_cell]]
        direction = index % layer.num_directions
        direction_input = layer_input if masks.inputs[index] is None \
            else layer_input * masks.inputs[index]
        output, h_n, c_n = _composed_direction(direction_input, h0[index], c0[index], weights,
                                               options, masks.recurrent[index], lengths,
                                               direction == 1)
        h_finals.append(h_n)
        c_finals.append(c_n)
        outputs = [output] if direction == 0 else [*outputs, output]
        if direction == layer.num_directions - 1:
            layer_input = outputs[0] if len(outputs) == 1 else F.concatenate(outputs, axis=2)
    return layer_input, F.stack(h_finals), F.stack(c_finals)


def _layer(variant, dtype=np.float64, **rates):
    return nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=dtype, rng=7,
                   **VARIANTS[variant], **rates)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("rates", [{"recurrent_dropout": 0.4},
                                   {"input_dropout": 0.3, "recurrent_dropout": 0.4}],
                         ids=["recurrent", "input_and_recurrent"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_fused_stack_is_the_masked_stack_composed_from_primitives(variant, rates, dtype,
                                                                      tolerance):
    layer = _layer(variant, dtype, **rates)
    steps, batch = 5, 3
    rng = np.random.default_rng(1)
    x = rng.standard_normal((steps, batch, 3)).astype(dtype)
    lengths = np.array([5, 2, 4])
    h_size, c_size = layer.kind.state_sizes(4, layer.kind.options_of(layer))
    initial = [rng.standard_normal((4, batch, size)).astype(dtype) * 0.5
               for size in (h_size, c_size)]
    masks_from = copy.deepcopy(layer.rng)

    x_fused = numrnn.Tensor(x, requires_grad=True)
    states_fused = [numrnn.Tensor(s, requires_grad=True) for s in initial]
    output, (h_n, c_n) = layer(x_fused, tuple(states_fused), lengths=lengths)
    weighting = [rng.standard_normal(r.shape).astype(dtype) for r in (output, h_n, c_n)]
    sum((r * w).sum() for r, w in zip((output, h_n, c_n), weighting)).backward()

    widths = [3, 3, 2 * h_size, 2 * h_size]
    masks = draw_variational_masks(widths, h_size, batch, dtype, rates.get("input_dropout", 0.0),
                                   rates["recurrent_dropout"], masks_from)
    assert all(mask.shape == (batch, h_size) for mask in masks.recurrent)
    assert all(0 < np.count_nonzero(mask) < mask.size for mask in masks.recurrent)
    parameters = {n: numrnn.Tensor(p.data.copy(), requires_grad=True)
                  for n, p in layer.named_parameters()}
    x_composed = numrnn.Tensor(x, requires_grad=True)
    states_composed = [numrnn.Tensor(s, requires_grad=True) for s in initial]
    composed = _composed_stack(layer, x_composed, *states_composed, lengths, masks, parameters)
    sum((r * w).sum() for r, w in zip(composed, weighting)).backward()

    for fused, reference in zip((output, h_n, c_n), composed):
        np.testing.assert_allclose(fused.data, reference.data, rtol=tolerance, atol=tolerance)
    pairs = [(x_fused, x_composed)] + list(zip(states_fused, states_composed))
    pairs += [(p, parameters[n]) for n, p in layer.named_parameters()]
    for fused, reference in pairs:
        np.testing.assert_allclose(fused.grad, reference.grad, rtol=tolerance * 10,
                                   atol=tolerance * 10)


@settings(max_examples=12, deadline=None)
@given(variant=st.sampled_from(sorted(VARIANTS)), num_layers=st.integers(1, 2),
       bidirectional=st.booleans(), steps=st.integers(1, 4), batch=st.integers(1, 3),
       rate=st.sampled_from([0.25, 0.5]), seed=st.integers(0, 2 ** 16))
def test_gradients_with_the_masks_held_fixed_match_central_differences(
        variant, num_layers, bidirectional, steps, batch, rate, seed,
        gradcheck_with_masks_held):
    layer = nn.LSTM(2, 3, num_layers=num_layers, bidirectional=bidirectional,
                    dtype=np.float64, rng=seed, recurrent_dropout=rate, **VARIANTS[variant])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, 2))
    lengths = rng.integers(1, steps + 1, batch)
    assert gradcheck_with_masks_held(layer, x, lengths)


def _training_step(variant, dtype):
    layer = nn.LSTM(30, 24, num_layers=2, bidirectional=True, dtype=dtype, rng=3,
                    input_dropout=0.3, recurrent_dropout=0.4,
                    **({"proj_size": 10} if variant == "proj_size" else VARIANTS[variant]))
    rng = np.random.default_rng(4)
    x = numrnn.Tensor(rng.standard_normal((6, 40, 30)).astype(dtype), requires_grad=True)
    output, (h_n, c_n) = layer(x, lengths=rng.integers(1, 7, 40))
    (output.sum() + h_n.sum() + c_n.sum()).backward()
    return [output.data, h_n.data, c_n.data, x.grad] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_training_step_is_bit_identical_for_any_thread_count(variant, dtype,
                                                               same_bits_for_any_thread_count):
    # Batch 40: three blocks of 16 rows, so the blocks run in parallel with 2 threads.
    same_bits_for_any_thread_count(lambda: _training_step(variant, dtype))


def _sequence(variant, arrays, mask, lengths):
    """One layer and direction through the fused op with a fixed recurrent mask."""
    options = dict(VARIANTS[variant])
    if variant == "proj_size":
        options["proj_size"] = arrays[-1].shape[0]
    return RecurrentSequence.apply(*arrays, kind=LSTM, options=options, lengths=lengths,
                                   reverse=False, recurrent_mask=mask)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_float32_batches_on_packed_weights_apply_the_mask_too(variant):
    # At B = 40, H = 64 float32 layers multiply by packed weights: the mask must reach
    # the h those products read.
    steps, batch, n_in, hidden = 3, 40, 30, 64
    size = 16 if variant == "proj_size" else hidden
    extra = (size, hidden) if variant == "proj_size" else (3 * hidden,)
    rng = np.random.default_rng(4)
    shapes = [(steps, batch, n_in), (batch, size), (batch, hidden), (4 * hidden, n_in),
              (4 * hidden, size), (4 * hidden,), (4 * hidden,), extra]
    arrays = [rng.uniform(-0.5, 0.5, shape) for shape in shapes]
    mask = (rng.random((batch, size)) >= 0.5) * 2.0
    lengths = rng.integers(1, steps + 1, batch)
    expected = _sequence(variant, arrays, mask, lengths)
    single = [a.astype(np.float32) for a in arrays]
    got = _sequence(variant, single, mask.astype(np.float32), lengths)
    plain = _sequence(variant, single, np.ones((batch, size), np.float32), lengths)
    for ours, reference, unmasked in zip(got, expected, plain):
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.data, reference.data, rtol=1e-4, atol=1e-4)
        assert np.abs(unmasked.data - reference.data).max() > 1e-2


def test_the_peephole_op_takes_a_recurrent_mask():
    rng = np.random.default_rng(2)
    steps, batch, n_in, hidden = 4, 3, 2, 5
    x = rng.standard_normal((steps, batch, n_in))
    h0, c0 = rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden))
    weights = [rng.standard_normal(shape) * 0.5 for shape in
               ((4 * hidden, n_in), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,),
                (3 * hidden,))]
    mask = (rng.random((batch, hidden)) >= 0.4) / 0.6
    lengths = np.array([4, 1, 3])
    output, h_n, c_n = F.lstm(x, h0, c0, *weights[:4], lengths=lengths, reverse=True,
                              weight_peephole=weights[4], recurrent_mask=mask)
    expected = _composed_direction(
        numrnn.tensor(x), numrnn.tensor(h0), numrnn.tensor(c0),
        [numrnn.tensor(w) for w in weights], {"peepholes": True}, mask, lengths, True)
    for ours, reference in zip((output, h_n, c_n), expected):
        np.testing.assert_allclose(ours.data, reference.data, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_evaluation_mode_runs_the_variant_without_masks_bit_for_bit(variant):
    dropped, plain = _layer(variant, recurrent_dropout=0.4), _layer(variant)
    x = np.random.default_rng(1).standard_normal((5, 3, 3))
    training = dropped(x)[0].data
    dropped.eval()
    np.testing.assert_array_equal(dropped(x)[0].data, plain(x)[0].data)
    assert not np.array_equal(training, plain(x)[0].data)
