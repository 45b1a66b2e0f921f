"""input_dropout / recurrent_dropout: variational dropout in RNN, LSTM and GRU layers.

In training mode each layer and direction draws one input mask and one recurrent
mask per batch row per forward, from the layer's generator, kept for every step;
in evaluation mode (or with both rates 0) the layer runs exactly as without them.
"""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, nn
from numrnn import functional as F
from numrnn.nn.variational_dropout import draw_variational_masks
from numrnn.testing import gradcheck

LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
OPS = {"LSTM": F.lstm, "GRU": F.gru, "RNN": F.rnn}
RATES = {"input_dropout": 0.3, "recurrent_dropout": 0.4}


def make(name, dtype=np.float64, num_layers=2, bidirectional=True, **options):
    return LAYERS[name](3, 4, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype,
                        rng=7, **options)


def _x(steps=5, batch=3, dtype=np.float64, seed=1):
    return np.random.default_rng(seed).standard_normal((steps, batch, 3)).astype(dtype)


def _composed_stack(layer, x, lengths, masks, parameters):
    """The layer's training forward from the single-layer fused ops, one call per layer
    and direction, each given its masks explicitly: ``(output, h_n)``."""
    op = OPS[layer.mode]
    states = len(layer.kind.states)
    layer_input, finals = x, []
    for index in range(layer.num_layers * layer.num_directions):
        layer_index, direction = divmod(index, layer.num_directions)
        names = [f"{name}_l{layer_index}{'_reverse' if direction else ''}"
                 for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        result = op(layer_input, *(None,) * states, *(parameters[n] for n in names),
                    lengths=lengths, reverse=direction == 1, input_mask=masks.inputs[index],
                    recurrent_mask=masks.recurrent[index])
        finals.append(result[1])
        if direction == 0:
            outputs = [result[0]]
        else:
            outputs.append(result[0])
        if direction == layer.num_directions - 1:
            layer_input = outputs[0] if len(outputs) == 1 else F.concatenate(outputs, axis=2)
    return layer_input, F.stack(finals)


@pytest.mark.parametrize("name", LAYERS)
def test_the_stack_is_its_layers_and_directions_with_the_masks_drawn_in_order(name):
    layer = make(name, **RATES)
    x, lengths = _x(), np.array([5, 2, 4])
    masks_from = copy.deepcopy(layer.rng)
    output, state = layer(x, lengths=lengths)
    h_n = state[0] if isinstance(state, tuple) else state
    seed = np.random.default_rng(3)
    out_weight, h_weight = seed.standard_normal(output.shape), seed.standard_normal(h_n.shape)
    ((output * out_weight).sum() + (h_n * h_weight).sum()).backward()

    widths = [3, 3, 8, 8]
    masks = draw_variational_masks(widths, 4, 3, np.float64, 0.3, 0.4, masks_from)
    parameters = {n: numrnn.Tensor(p.data.copy(), requires_grad=True)
                  for n, p in layer.named_parameters()}
    composed, composed_h_n = _composed_stack(layer, x, lengths, masks, parameters)
    np.testing.assert_allclose(output.data, composed.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.data, composed_h_n.data, rtol=1e-12, atol=1e-14)
    ((composed * out_weight).sum() + (composed_h_n * h_weight).sum()).backward()
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, parameters[n].grad, rtol=1e-10, atol=1e-12)
    assert all(0 < np.count_nonzero(m) < m.size for m in masks.inputs + masks.recurrent)


@settings(max_examples=10)
@given(name=st.sampled_from(sorted(LAYERS)), num_layers=st.integers(1, 2),
       bidirectional=st.booleans(), steps=st.integers(1, 4), batch=st.integers(1, 3),
       rates=st.sampled_from([(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)]),
       seed=st.integers(0, 2 ** 16))
def test_a_layers_gradients_with_its_masks_held_fixed_match_central_differences(
        name, num_layers, bidirectional, steps, batch, rates, seed):
    layer = LAYERS[name](2, 3, num_layers=num_layers, bidirectional=bidirectional,
                         dtype=np.float64, rng=seed, input_dropout=rates[0],
                         recurrent_dropout=rates[1])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, 2))
    lengths = rng.integers(1, steps + 1, batch)
    names = [n for n, _ in layer.named_parameters()]
    start = copy.deepcopy(layer.rng)

    def run(x, *weights):
        # The same generator state at every evaluation: the same masks.
        layer.rng = copy.deepcopy(start)
        output, state = nn.functional_call(layer, dict(zip(names, weights)), (x,),
                                           {"lengths": lengths})
        return output, state[0] if isinstance(state, tuple) else state

    assert gradcheck(run, [x] + [p.data.copy() for _, p in layer.named_parameters()],
                     atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", LAYERS)
def test_evaluation_mode_and_zero_rates_run_the_plain_layer_bit_for_bit(name):
    dropped, plain, zero = make(name, **RATES), make(name), \
        make(name, input_dropout=0.0, recurrent_dropout=0.0)
    x = _x()
    expected = plain(x)[0].data
    np.testing.assert_array_equal(zero(x)[0].data, expected)
    training = dropped(x)[0].data
    dropped.eval()
    np.testing.assert_array_equal(dropped(x)[0].data, expected)
    assert not np.array_equal(training, expected)


@pytest.mark.parametrize("rate", ["input_dropout", "recurrent_dropout"])
@pytest.mark.parametrize("name", LAYERS)
def test_masks_are_fresh_per_forward_and_reproducible_from_a_seed(name, rate):
    first, twin = make(name, **{rate: 0.5}), make(name, **{rate: 0.5})
    with numrnn.no_grad():
        outputs = [first(_x())[0].data for _ in range(2)]
        twins = [twin(_x())[0].data for _ in range(2)]
    assert not np.array_equal(outputs[0], outputs[1])
    for ours, theirs in zip(outputs, twins):
        np.testing.assert_array_equal(ours, theirs)


def _training_step(name, dtype):
    layer = LAYERS[name](30, 24, num_layers=2, bidirectional=True, dtype=dtype, rng=3,
                         **RATES)
    rng = np.random.default_rng(4)
    x = numrnn.Tensor(rng.standard_normal((6, 40, 30)).astype(dtype), requires_grad=True)
    output, _ = layer(x, lengths=rng.integers(1, 7, 40))
    output.backward(np.ones(output.shape, dtype=dtype))
    return [output.data, x.grad] + [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LAYERS)
def test_a_training_step_is_bit_identical_for_any_thread_count(name, dtype,
                                                               same_bits_for_any_thread_count):
    # Batch 40: three blocks of 16 rows, so the blocks run in parallel with 2 threads.
    same_bits_for_any_thread_count(lambda: _training_step(name, dtype))


@pytest.mark.parametrize("value", [1.0, -0.1, 1.5, "0.5", True, None])
@pytest.mark.parametrize("rate", ["input_dropout", "recurrent_dropout"])
@pytest.mark.parametrize("name", LAYERS)
def test_a_rate_outside_zero_to_one_is_refused_by_name(name, rate, value):
    with pytest.raises(ArgumentError, match=rf"{name}: {rate} must be a number in \[0, 1\), "
                                            "got"):
        LAYERS[name](3, 4, **{rate: value})


VARIANTS = {
    "lstm_proj": lambda **o: nn.LSTM(3, 4, proj_size=2, **o),
    "lstm_peepholes": lambda **o: nn.LSTM(3, 4, peepholes=True, **o),
    "lstm_layer_norm": lambda **o: nn.LSTM(3, 4, layer_norm=True, **o),
    "gru_layer_norm": lambda **o: nn.GRU(3, 4, layer_norm=True, **o),
    "gru_reset_before": lambda **o: nn.GRU(3, 4, reset_after=False, **o),
}


@pytest.mark.parametrize("rate", ["input_dropout", "recurrent_dropout"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_takes_both_rates(variant, rate):
    # The input mask is applied before the kernel; every variant's kernels
    # apply the recurrent mask, so no cell option refuses either rate.
    layer = VARIANTS[variant](**{rate: 0.2}, rng=0)
    assert getattr(layer, rate) == 0.2
    x = _x(dtype=np.float32)
    training = layer(x)[0].data
    layer.eval()
    assert not np.array_equal(training, layer(x)[0].data)


def test_config_save_load_and_repr(tmp_path):
    layer = nn.GRU(3, 4, input_dropout=0.25, recurrent_dropout=0.5, rng=0)
    config = layer.get_config()
    assert (config["input_dropout"], config["recurrent_dropout"]) == (0.25, 0.5)
    assert repr(layer) == "GRU(3, 4, input_dropout=0.25, recurrent_dropout=0.5)"
    numrnn.save(layer, tmp_path / "gru.safetensors")
    rebuilt = numrnn.load_model(tmp_path / "gru.safetensors")
    assert (rebuilt.input_dropout, rebuilt.recurrent_dropout) == (0.25, 0.5)
    assert rebuilt.get_config() == config


def test_per_step_cell_states_carry_their_gradient_through_the_recurrent_mask():
    layer = nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64, rng=5,
                    input_dropout=0.3, recurrent_dropout=0.4)
    rng = np.random.default_rng(6)
    x, lengths = rng.standard_normal((4, 3, 2)), np.array([4, 1, 3])
    names = [n for n, _ in layer.named_parameters()]
    start = copy.deepcopy(layer.rng)

    def run(x, *weights):
        layer.rng = copy.deepcopy(start)
        output, _, cells = nn.functional_call(layer, dict(zip(names, weights)), (x,),
                                              {"lengths": lengths, "return_cell_states": True})
        return output, cells

    assert gradcheck(run, [x] + [p.data.copy() for _, p in layer.named_parameters()],
                     atol=1e-6, rtol=1e-4)


def test_a_layer_normalised_lstm_takes_recurrent_dropout_in_its_kernels(
        gradcheck_with_masks_held):
    layer = nn.LSTM(2, 3, num_layers=2, bidirectional=True, layer_norm=True, dtype=np.float64,
                    rng=5, input_dropout=0.3, recurrent_dropout=0.4)
    rng = np.random.default_rng(6)
    x, lengths = rng.standard_normal((4, 3, 2)), np.array([4, 1, 3])
    training = layer(x, lengths=lengths)[0].data
    # Each call draws its masks afresh: from the same generator state, the same ones.
    assert gradcheck_with_masks_held(layer, x, lengths)
    layer.eval()
    assert not np.array_equal(training, layer(x, lengths=lengths)[0].data)
