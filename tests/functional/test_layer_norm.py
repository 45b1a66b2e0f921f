"""F.layer_norm: forward vs NumPy, backward vs central differences and vs the same
computation composed from primitive ops."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


@st.composite
def layer_norm_cases(draw, distinct=False):
    """``(x, normalized_shape, weight, bias)``: 1-2 normalized dims, weight/bias maybe None."""
    leading = draw(S.shapes(min_dims=0, max_dims=2, max_side=3))
    normalized = draw(S.shapes(min_dims=1, max_dims=2, min_side=1, max_side=4))
    shape = tuple(leading) + tuple(normalized)
    # Distinct entries keep every row's variance away from 0, where the map is
    # steepest and central differences least accurate.
    x = draw(S.distinct_float_arrays(shape) if distinct else S.float_arrays(shape))
    weight = draw(st.none() | S.float_arrays(normalized))
    bias = draw(st.none() | S.float_arrays(normalized))
    return x, tuple(normalized), weight, bias


def numpy_layer_norm(x, normalized_shape, weight, bias, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def composed_layer_norm(x, normalized_shape, weight, bias, eps=1e-5):
    """The same normalization built from primitive tape ops only."""
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    centered = x - F.mean(x, axis=axes, keepdims=True)
    var = F.mean(centered * centered, axis=axes, keepdims=True)
    y = centered / F.sqrt(var + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


@given(layer_norm_cases())
def test_forward_matches_numpy(case):
    x, shape, weight, bias = case
    got = F.layer_norm(x, shape, weight, bias)
    np.testing.assert_allclose(got.data, numpy_layer_norm(x, shape, weight, bias),
                               rtol=1e-10, atol=1e-10)


@given(layer_norm_cases(distinct=True))
def test_gradient_matches_central_differences(case):
    x, shape, weight, bias = case
    gradcheck(lambda *args: F.layer_norm(args[0], shape, *args[1:]), [x, weight, bias])


@given(layer_norm_cases(distinct=True))
def test_fused_op_equals_composition_of_primitives(case):
    x, shape, weight, bias = case
    outputs, grads = [], []
    for fn in (F.layer_norm, composed_layer_norm):
        leaves = [None if a is None else numrnn.tensor(a, requires_grad=True)
                  for a in (x, weight, bias)]
        y = fn(leaves[0], shape, leaves[1], leaves[2])
        seed = np.cos(np.arange(y.size, dtype=np.float64)).reshape(y.shape)
        y.backward(seed)
        outputs.append(y.data)
        grads.append([None if t is None else t.grad for t in leaves])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-12, atol=1e-12)
    for fused, composed in zip(*grads):
        if fused is not None:
            np.testing.assert_allclose(fused, composed, rtol=1e-9, atol=1e-11)


def test_float32_stays_float32_and_agrees_with_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 8)).astype(np.float32)
    weight, bias = rng.standard_normal((2, 8)).astype(np.float32)
    leaves32 = [numrnn.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    leaves64 = [numrnn.tensor(a.astype(np.float64), requires_grad=True) for a in (x, weight, bias)]
    y32 = F.layer_norm(leaves32[0], 8, *leaves32[1:])
    y64 = F.layer_norm(leaves64[0], 8, *leaves64[1:])
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-5)
    (y32 * y32).sum().backward()
    (y64 * y64).sum().backward()
    for t32, t64 in zip(leaves32, leaves64):
        assert t32.grad.dtype == np.float32
        np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-4)


def test_constant_rows_normalize_to_zero_with_finite_gradient():
    x = numrnn.tensor(np.full((2, 4), 3.0), requires_grad=True)
    y = F.layer_norm(x, 4)
    np.testing.assert_array_equal(y.data, 0.0)
    y.backward(np.arange(8.0).reshape(2, 4))
    assert np.all(np.isfinite(x.grad))


def test_each_row_is_normalized_separately():
    x = np.random.default_rng(1).standard_normal((3, 2, 6)) * 10 + 4
    y = F.layer_norm(x, 6, eps=1e-12).data
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=-1), 1, rtol=1e-9)


def test_refuses_bad_arguments_naming_expected_and_got():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ShapeError, match=r"must end with the normalized_shape \(5,\), "
                                         r"got shape \(2, 3, 4\)"):
        F.layer_norm(x, 5)
    with pytest.raises(ShapeError, match=r"weight must have shape \(4,\) .*got \(3,\)"):
        F.layer_norm(x, 4, weight=np.ones(3))
    with pytest.raises(DTypeError, match="bias must have dtype float64"):
        F.layer_norm(x, 4, bias=np.ones(4, dtype=np.float32))
    with pytest.raises(ShapeError, match="normalized_shape must be"):
        F.layer_norm(x, (0,))
    with pytest.raises(ArgumentError, match="eps must be a positive"):
        F.layer_norm(x, 4, eps=0.0)
