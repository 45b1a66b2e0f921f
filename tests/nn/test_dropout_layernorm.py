"""Dropout and LayerNorm layers: modes, statistics, gradients, errors, repr, config, parity."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, ArgumentTypeError, DTypeError, ShapeError, nn
from numrnn import functional as F
from numrnn.testing import gradcheck_module
from numrnn.testing import strategies as S

# -- Dropout ---------------------------------------------------------------------------------


def test_dropout_in_training_zeros_a_fraction_p_and_rescales_the_rest():
    drop = nn.Dropout(0.25, rng=0)
    x = np.full((200, 100), 2.0, np.float32)
    y = drop(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert set(np.unique(y.data)) == {0.0, np.float32(2.0 / 0.75)}
    assert abs((y.data == 0).mean() - 0.25) < 0.01


def test_dropout_in_eval_mode_is_the_identity():
    drop = nn.Dropout(0.5, rng=0).eval()
    x = numrnn.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = drop(x)
    np.testing.assert_array_equal(y.data, x.data)
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, 1.0)
    assert drop.train().training


def test_dropout_masks_are_reproducible_from_the_seed_and_gradient_uses_the_same_mask():
    x = np.ones((4, 3, 5))
    first, second = nn.Dropout(0.5, rng=7)(x), nn.Dropout(0.5, rng=7)(x)
    np.testing.assert_array_equal(first.data, second.data)
    drop = nn.Dropout(0.5, rng=7)
    assert not np.array_equal(drop(x).data, drop(x).data)  # the generator advances
    leaf = numrnn.tensor(x, requires_grad=True)
    y = nn.Dropout(0.5, rng=7)(leaf)
    y.backward(np.ones(x.shape))
    np.testing.assert_array_equal(leaf.grad, first.data)  # mask / (1 - p), here equal to y


def test_dropout_refuses_bad_p_and_has_repr_and_config():
    with pytest.raises(ArgumentError, match=r"Dropout: p must be in \[0, 1\), got 1.0"):
        nn.Dropout(1.0)
    with pytest.raises(ArgumentError, match="got -0.1"):
        nn.Dropout(-0.1)
    with pytest.raises(ArgumentTypeError, match="Dropout: p must be a real number, got str"):
        nn.Dropout("0.5")
    assert repr(nn.Dropout()) == "Dropout(p=0.5)"
    assert nn.Dropout(0.1).get_config() == {"p": 0.1}
    assert nn.Dropout(**nn.Dropout(0.3).get_config()).p == 0.3
    assert list(nn.Dropout().parameters()) == []


# -- LayerNorm -------------------------------------------------------------------------------


def test_layernorm_parameters_names_shapes_and_init():
    norm = nn.LayerNorm((3, 4))
    assert [(n, p.shape, p.dtype) for n, p in norm.named_parameters()] == [
        ("weight", (3, 4), np.float32), ("bias", (3, 4), np.float32)]
    np.testing.assert_array_equal(norm.weight.data, 1)
    np.testing.assert_array_equal(norm.bias.data, 0)
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]


@pytest.mark.parametrize("batch_first", [False, True])
def test_layernorm_normalizes_every_step_of_a_sequence_on_its_own(batch_first):
    norm = nn.LayerNorm(8, dtype=np.float64)
    rng = np.random.default_rng(0)
    norm.weight.data[...] = rng.standard_normal(8)
    norm.bias.data[...] = rng.standard_normal(8)
    x = rng.standard_normal((3, 5, 8) if batch_first else (5, 3, 8)) * 4 + 1
    y = norm(x)
    assert y.shape == x.shape
    expected = F.layer_norm(x, 8, norm.weight, norm.bias).data
    np.testing.assert_array_equal(y.data, expected)
    # Changing one step changes no other step.
    x2 = x.copy()
    x2[0, 0] += 10
    changed = np.any(norm(x2).data != y.data, axis=-1)
    assert changed[0, 0] and changed.sum() == 1


@given(S.shapes(min_dims=1, max_dims=2, max_side=3), st.integers(2, 4),
       st.sampled_from([(True, True), (True, False), (False, True)]), st.data())
def test_layernorm_gradients_wrt_input_and_parameters(leading, features, options, data):
    affine, bias = options
    norm = nn.LayerNorm(features, elementwise_affine=affine, bias=bias, dtype=np.float64)
    for param in norm.parameters():
        param.data[...] = data.draw(S.float_arrays(param.shape))
    x = data.draw(S.distinct_float_arrays(tuple(leading) + (features,)))
    gradcheck_module(norm, [x], full_jacobian_limit=400)


def test_layernorm_refuses_bad_input_naming_expected_and_got():
    norm = nn.LayerNorm(16)
    expected = r"^LayerNorm: input must end with \(16,\) \(normalized_shape\), got shape \(4, 2, 8"
    with pytest.raises(ShapeError, match=expected):
        norm(np.zeros((4, 2, 8), np.float32))
    with pytest.raises(DTypeError, match="LayerNorm: input must have dtype float32"):
        norm(np.zeros((4, 16)))
    with pytest.raises(ShapeError, match="LayerNorm: normalized_shape must be"):
        nn.LayerNorm(0)
    with pytest.raises(ArgumentError, match="LayerNorm: eps must be a positive real number"):
        nn.LayerNorm(4, eps=-1.0)


def test_layernorm_repr_and_config():
    assert repr(nn.LayerNorm(8)) == "LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert (repr(nn.LayerNorm((2, 3), eps=1e-6, bias=False, dtype=np.float64))
            == "LayerNorm((2, 3), eps=1e-06, elementwise_affine=True, bias=False, dtype=float64)")
    config = nn.LayerNorm((2, 3), elementwise_affine=False, dtype=np.float64).get_config()
    assert config == {"normalized_shape": [2, 3], "eps": 1e-5, "elementwise_affine": False,
                      "bias": True, "dtype": "float64"}
    rebuilt = nn.LayerNorm(**config)
    assert rebuilt.normalized_shape == (2, 3) and rebuilt.weight is None


def test_layernorm_matches_torch_in_float64():
    torch = pytest.importorskip("torch")
    norm = nn.LayerNorm((2, 5), dtype=np.float64)
    rng = np.random.default_rng(0)
    norm.weight.data[...] = rng.standard_normal((2, 5))
    norm.bias.data[...] = rng.standard_normal((2, 5))
    reference = torch.nn.LayerNorm((2, 5), dtype=torch.float64)
    for options in ({}, {"bias": False}, {"elementwise_affine": False}):
        assert repr(torch.nn.LayerNorm(7, **options)) == repr(nn.LayerNorm(7, **options))
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in norm.state_dict().items()})
    x = rng.standard_normal((4, 3, 2, 5)) * 3 + 1
    seed = rng.standard_normal(x.shape)
    x_ours, x_torch = numrnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y_ours, y_torch = norm(x_ours), reference(x_torch)
    y_ours.backward(seed)
    y_torch.backward(torch.from_numpy(seed))
    np.testing.assert_allclose(y_ours.data, y_torch.detach().numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(x_ours.grad, x_torch.grad.numpy(), rtol=0, atol=1e-9)
    for name, param in norm.named_parameters():
        np.testing.assert_allclose(param.grad, getattr(reference, name).grad.numpy(),
                                   rtol=0, atol=1e-9)
