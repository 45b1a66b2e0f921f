"""weight_dropout: DropConnect on each weight_hh of RNN, LSTM and GRU layers, training only."""

import copy

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, nn
from numrnn.autograd.ops.dropout import scaled_dropout_mask

LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
P = 0.4


def make(name, **options):
    return LAYERS[name](3, 4, num_layers=2, bidirectional=True, dtype=np.float64, rng=7,
                        **options)


def forward(layer, x, parameters=None):
    """The output and last hidden state (one Tensor each), with ``parameters`` substituted."""
    output, state = nn.functional_call(layer, parameters or {}, (x,))
    return output, state[0] if isinstance(state, tuple) else state


def _loss(output, h_n):
    rng = np.random.default_rng(3)
    return (output * rng.standard_normal(output.shape)).sum() \
        + (h_n * rng.standard_normal(h_n.shape)).sum()


def _x():
    return np.random.default_rng(1).standard_normal((5, 2, 3))


@pytest.mark.parametrize("name", LAYERS)
def test_the_undropped_weights_gradient_is_the_mask_times_the_dropped_ones(name):
    layer = make(name, weight_dropout=P)
    masks_from = copy.deepcopy(layer.rng)
    output, h_n = forward(layer, _x())
    _loss(output, h_n).backward()
    # The masks, drawn as the layer draws them: one per weight_hh, layer by layer,
    # forward direction first.
    own = dict(layer.named_parameters())
    masks = {weight: scaled_dropout_mask(value.shape, np.float64, P, masks_from)
             for weight, value in own.items() if weight.startswith("weight_hh")}
    dropped = {weight: numrnn.Tensor(own[weight].data * mask, requires_grad=True)
               for weight, mask in masks.items()}
    layer.eval()  # no dropout of its own: the substituted weights are the dropped ones
    dropped_output, dropped_h_n = forward(layer, _x(), dropped)
    np.testing.assert_array_equal(dropped_output.data, output.data)
    _loss(dropped_output, dropped_h_n).backward()
    for weight, mask in masks.items():
        assert 0 < np.count_nonzero(mask) < mask.size
        np.testing.assert_allclose(own[weight].grad, mask * dropped[weight].grad, rtol=1e-13,
                                   atol=1e-15)


@pytest.mark.parametrize("name", LAYERS)
def test_masks_are_fresh_per_forward_and_reproducible_from_a_seed(name):
    first, twin = make(name, weight_dropout=P), make(name, weight_dropout=P)
    with numrnn.no_grad():
        outputs = [forward(first, _x())[0].data for _ in range(2)]
        twins = [forward(twin, _x())[0].data for _ in range(2)]
    assert not np.array_equal(outputs[0], outputs[1])
    for ours, theirs in zip(outputs, twins):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", LAYERS)
def test_evaluation_mode_drops_nothing(name):
    dropped, plain = make(name, weight_dropout=P), make(name)
    with numrnn.no_grad():
        expected = forward(plain, _x())[0].data
        training = forward(dropped, _x())[0].data
        dropped.eval()
        np.testing.assert_array_equal(forward(dropped, _x())[0].data, expected)
    assert not np.array_equal(training, expected)


@pytest.mark.parametrize("value", [1.0, -0.1, 1.5, "0.5", True, None])
@pytest.mark.parametrize("name", LAYERS)
def test_a_weight_dropout_outside_zero_to_one_is_refused(name, value):
    with pytest.raises(ArgumentError, match=f"{name}: weight_dropout must be a number in "
                                            r"\[0, 1\), got"):
        LAYERS[name](3, 4, weight_dropout=value)


def test_config_save_load_and_repr(tmp_path):
    layer = nn.GRU(3, 4, weight_dropout=0.25, reset_after=False, rng=0)
    assert layer.get_config()["weight_dropout"] == 0.25
    assert repr(layer) == "GRU(3, 4, reset_after=False, weight_dropout=0.25)"
    numrnn.save(layer, tmp_path / "gru.safetensors")
    rebuilt = numrnn.load_model(tmp_path / "gru.safetensors")
    assert rebuilt.weight_dropout == 0.25 and rebuilt.get_config() == layer.get_config()
