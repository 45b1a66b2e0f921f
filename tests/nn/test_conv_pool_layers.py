"""nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d as layers: lengths carried through to an
LSTM, save/load_model, repr, and refusals at construction and call."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError, nn


def _front_end():
    return [nn.Conv1d(3, 8, 5, stride=2, padding=2, rng=0),
            nn.MaxPool1d(3, 2, 1),
            nn.Conv1d(8, 8, 3, dilation=2, causal=True, groups=4, rng=1),
            nn.AvgPool1d(2, count_include_pad=False)]


def _run(layers, x, lengths):
    for layer in layers:
        x = layer(x, lengths=lengths)
        lengths = layer.output_lengths(lengths)
    return x, lengths


def test_lengths_carry_a_padded_batch_through_a_front_end_into_an_lstm():
    """Every row of a padded batch ends, in the LSTM, where it would on its own."""
    rng = np.random.default_rng(0)
    lengths = np.array([40, 23, 9])
    x = rng.standard_normal((3, 3, 40)).astype(np.float32)
    for b, n in enumerate(lengths):
        x[b, :, n:] = rng.standard_normal((3, 40 - n)) * 100  # garbage in the padding
    layers = _front_end()
    lstm = nn.LSTM(8, 6, rng=2)
    features, feature_lengths = _run(layers, x, lengths)
    np.testing.assert_array_equal(feature_lengths, [5, 3, 1])
    _, (h_n, _) = lstm(numrnn.functional.permute(features, (2, 0, 1)), lengths=feature_lengths)
    for b, n in enumerate(lengths):
        alone, alone_lengths = _run(layers, x[b:b + 1, :, :n], np.array([n]))
        assert alone.shape[-1] == alone_lengths[0] == feature_lengths[b]
        np.testing.assert_allclose(features.data[b, :, :alone_lengths[0]], alone.data[0],
                                   rtol=1e-5, atol=1e-6)
        _, (h_alone, _) = lstm(numrnn.functional.permute(alone, (2, 0, 1)))
        np.testing.assert_allclose(h_n.data[0, b], h_alone.data[0, 0], rtol=1e-5, atol=1e-6)


def test_output_lengths_without_lengths_is_the_full_output_size():
    conv = nn.Conv1d(2, 2, 4, stride=3, padding="valid", rng=0)
    y = conv(np.zeros((1, 2, 20), dtype=np.float32))
    assert y.shape[-1] == conv.output_lengths([20])[0] == 6
    assert nn.Conv1d(2, 2, 4, padding="same", rng=0).output_lengths([7, 1]).tolist() == [7, 1]
    assert nn.MaxPool1d(2).output_lengths(np.array([7, 2])).tolist() == [3, 1]
    with pytest.raises(ShapeError, match=r"MaxPool1d: row 0 has 1 valid step"):
        nn.MaxPool1d(2).output_lengths([1])


@pytest.mark.parametrize("layer", [
    nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2,
              bias=False, dtype=np.float64, rng=0),
    nn.Conv1d(4, 6, 3, causal=True, rng=0),
    nn.Conv1d(4, 6, 4, padding="same", rng=0),
    nn.MaxPool1d(3, 1, 1),
    nn.AvgPool1d(4, 2, 2, count_include_pad=False),
], ids=repr)
def test_save_and_load_model_rebuild_the_layer(layer, tmp_path):
    path = tmp_path / "layer.safetensors"
    numrnn.save(layer, path)
    restored = numrnn.load_model(path)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    assert repr(restored) == repr(layer)
    x = np.random.default_rng(0).standard_normal((2, 4, 9)).astype(getattr(layer, "dtype",
                                                                             np.float32))
    np.testing.assert_array_equal(restored(x).data, layer(x).data)


def test_a_sequential_of_conv_and_pool_layers_round_trips(tmp_path):
    model = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1, rng=0), nn.MaxPool1d(2))
    numrnn.save(model, tmp_path / "model.safetensors")
    restored = numrnn.load_model(tmp_path / "model.safetensors")
    x = np.ones((1, 3, 8), dtype=np.float32)
    np.testing.assert_array_equal(restored(x).data, model(x).data)
    assert list(model.state_dict()) == ["0.weight", "0.bias"]


def test_conv1d_reprs_show_only_what_differs_from_the_defaults():
    assert repr(nn.Conv1d(4, 6, 3, causal=True, dilation=2, bias=False, rng=0)) == (
        "Conv1d(4, 6, kernel_size=(3,), stride=(1,), causal=True, dilation=(2,), bias=False)")
    assert repr(nn.Conv1d(2, 2, 1, dtype=np.float64, rng=0)) == (
        "Conv1d(2, 2, kernel_size=(1,), stride=(1,), dtype=float64)")
    assert repr(nn.AvgPool1d(2, count_include_pad=False)) == (
        "AvgPool1d(kernel_size=2, stride=2, padding=0, count_include_pad=False)")


def test_same_seed_gives_the_same_weights():
    a, b = nn.Conv1d(3, 5, 3, rng=7), nn.Conv1d(3, 5, 3, rng=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


def test_refuses_bad_options_at_construction():
    with pytest.raises(ArgumentError, match="Conv1d: in_channels must be a multiple of "
                                            "groups=2, got 3"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ArgumentError, match="Conv1d: out_channels must be a multiple of "
                                            "groups=2, got 5"):
        nn.Conv1d(4, 5, 3, groups=2)
    with pytest.raises(ArgumentError, match="Conv1d: kernel_size must be a positive int, "
                                            "got 0"):
        nn.Conv1d(4, 4, 0)
    with pytest.raises(ArgumentError, match="padding='same' needs stride=1"):
        nn.Conv1d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(ArgumentError, match="causal=True pads 2 position"):
        nn.Conv1d(4, 4, 3, padding="same", causal=True)
    with pytest.raises(DTypeError, match="Conv1d: dtype must be float32 or float64"):
        nn.Conv1d(4, 4, 3, dtype=np.float16)
    with pytest.raises(ArgumentError, match=r"AvgPool1d: padding must be at most half of "
                                            r"kernel_size \(1\), got 2"):
        nn.AvgPool1d(3, padding=2)
    with pytest.raises(TypeError):
        nn.AvgPool1d(3, 1, 1, False)  # PyTorch's ceil_mode position: refused, not misread


def test_refuses_bad_input_at_call():
    conv = nn.Conv1d(4, 6, 3, rng=0)
    with pytest.raises(ShapeError, match=r"Conv1d: input must have 4 channels \(in_channels\) "
                                         r"on axis -2, got 5 in shape \(2, 5, 9\)"):
        conv(np.zeros((2, 5, 9), dtype=np.float32))
    with pytest.raises(DTypeError, match="Conv1d: input must have dtype float32"):
        conv(np.zeros((2, 4, 9)))
    conv.weight.data = np.zeros((6, 4, 2), dtype=np.float32)
    with pytest.raises(ShapeError, match=r"Conv1d: weight must be a float32 array of shape "
                                         r"\(6, 4, 3\)"):
        conv(np.zeros((2, 4, 9), dtype=np.float32))
