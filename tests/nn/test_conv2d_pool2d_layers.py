"""nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d and nn.Flatten as layers:
a small image encoder, save/load_model, repr, and refusals at construction and call."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError, nn


def _encoder():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, rng=0), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, (3, 1), stride=(2, 1), groups=2, rng=1),
                         nn.AvgPool2d(3, 1, 1, count_include_pad=False),
                         nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten())


def test_an_encoder_maps_images_to_feature_vectors_and_back_propagates():
    encoder = _encoder()
    x = numrnn.tensor(np.random.default_rng(0).standard_normal((4, 3, 16, 12))
                      .astype(np.float32), requires_grad=True)
    features = encoder(x)
    assert features.shape == (4, 8 * 2 * 3) and features.dtype == np.float32
    features.sum().backward()
    assert x.grad.shape == x.shape and np.any(x.grad != 0)
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize("layer", [
    nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=2, groups=2,
              bias=False, dtype=np.float64, rng=0),
    nn.Conv2d(4, 6, 4, padding="same", rng=0),
    nn.MaxPool2d(3, 1, 1),
    nn.AvgPool2d((4, 2), 2, (2, 1), count_include_pad=False),
    nn.AdaptiveAvgPool2d((3, None)),
    nn.Flatten(2, 3),
], ids=repr)
def test_save_and_load_model_rebuild_the_layer(layer, tmp_path):
    path = tmp_path / "layer.safetensors"
    numrnn.save(layer, path)
    restored = numrnn.load_model(path)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    assert repr(restored) == repr(layer)
    x = np.random.default_rng(0).standard_normal((2, 4, 9, 8)).astype(
        getattr(layer, "dtype", np.float32))
    np.testing.assert_array_equal(restored(x).data, layer(x).data)


def test_a_sequential_encoder_round_trips_with_torch_style_names(tmp_path):
    model = _encoder()
    numrnn.save(model, tmp_path / "model.safetensors")
    restored = numrnn.load_model(tmp_path / "model.safetensors")
    x = np.ones((1, 3, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(restored(x).data, model(x).data)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_reprs_show_only_what_differs_from_the_defaults():
    assert repr(nn.Conv2d(4, 6, 3, rng=0)) == "Conv2d(4, 6, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(nn.Conv2d(2, 2, (1, 3), padding="same", bias=False, dtype=np.float64,
                          rng=0)) == ("Conv2d(2, 2, kernel_size=(1, 3), stride=(1, 1), "
                                      "padding=same, bias=False, dtype=float64)")
    assert repr(nn.AvgPool2d(2, count_include_pad=False)) == (
        "AvgPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), count_include_pad=False)")
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_flatten_merges_the_axes_asked_for():
    x = np.arange(120.0).reshape(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(-2)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(nn.Flatten()(x).data, x.reshape(2, 60))


def test_same_seed_gives_the_same_weights():
    a, b = nn.Conv2d(3, 5, 3, rng=7), nn.Conv2d(3, 5, 3, rng=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


@pytest.mark.parametrize("build, error, message", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ArgumentError,
     "Conv2d: in_channels must be a multiple of groups=2, got 3"),
    (lambda: nn.Conv2d(4, 5, 3, groups=2), ArgumentError,
     "Conv2d: out_channels must be a multiple of groups=2, got 5"),
    (lambda: nn.Conv2d(4, 4, (3, 0)), ArgumentError,
     r"Conv2d: kernel_size must be a positive int or a pair of them \(height, width\), "
     r"got \(3, 0\)"),
    (lambda: nn.Conv2d(4, 4, 3, stride=0), ArgumentError, "Conv2d: stride must be a positive"),
    (lambda: nn.Conv2d(4, 4, 3, stride=2, padding="same"), ArgumentError,
     "padding='same' needs stride=1"),
    (lambda: nn.Conv2d(4, 4, 3, dtype=np.float16), DTypeError,
     "Conv2d: dtype must be float32 or float64"),
    (lambda: nn.MaxPool2d(3, padding=2), ArgumentError,
     r"MaxPool2d: padding must be at most half of kernel_size along height \(1\), got 2"),
    (lambda: nn.AvgPool2d(3, 1, 1, False), TypeError, "positional argument"),
    (lambda: nn.AdaptiveAvgPool2d((2, 0)), ArgumentError,
     r"AdaptiveAvgPool2d: output_size must be a positive int or a pair .* got \(2, 0\)"),
    (lambda: nn.Flatten(1.5), ArgumentError, "Flatten: start_dim must be an int, got 1.5"),
])
def test_refuses_bad_options_at_construction(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_refuses_bad_input_at_call():
    conv = nn.Conv2d(4, 6, 3, rng=0)
    with pytest.raises(ShapeError, match=r"Conv2d: input must have 4 channels \(in_channels\) "
                                         r"on axis -3, got 5 in shape \(2, 5, 9, 9\)"):
        conv(np.zeros((2, 5, 9, 9), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"conv2d: input must be 4-D \(N, C_in, H, W\) or 3-D"):
        conv(np.zeros((2, 1, 4, 9, 9), dtype=np.float32))
    with pytest.raises(DTypeError, match="Conv2d: input must have dtype float32"):
        conv(np.zeros((2, 4, 9, 9)))
    with pytest.raises(ShapeError, match="input height of 2, padded to 2, is smaller than "
                                         "the window of 3"):
        conv(np.zeros((2, 4, 2, 9), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"Flatten: start_dim=2 and end_dim=-1 must name axes "
                                         r"of the input in order, got a 2-D input"):
        nn.Flatten(2)(np.zeros((3, 4)))
    conv.weight.data = np.zeros((6, 4, 2, 3), dtype=np.float32)
    with pytest.raises(ShapeError, match=r"Conv2d: weight must be a float32 array of shape "
                                         r"\(6, 4, 3, 3\)"):
        conv(np.zeros((2, 4, 9, 9), dtype=np.float32))
