"""sum, mean, max over None / int / tuple axes, with and without keepdims."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.errors import ArgumentTypeError, DTypeError, ShapeError
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

# name -> (op, numpy reference)
REDUCTIONS = {"sum": (F.sum, np.sum), "mean": (F.mean, np.mean), "max": (F.max, np.max),
              "min": (F.min, np.min)}


@st.composite
def reduction_case(draw, name, dtype=np.float64):
    """An array (0-d included), an ``axis`` argument and ``keepdims``.

    max and min get entries spaced well apart: at a tie its gradient is a convention,
    not a derivative, and finite differences would straddle the kink.
    """
    shape = draw(S.shapes(min_dims=0, max_dims=3, max_side=3))
    if name in ("max", "min"):
        x = draw(S.distinct_float_arrays(shape, dtype))
    else:
        x = draw(S.float_arrays(shape, dtype))
    return x, draw(S.reduction_axes(len(shape))), draw(st.booleans())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data())
def test_forward_matches_numpy(name, data):
    op, reference = REDUCTIONS[name]
    x, axis, keepdims = data.draw(reduction_case(name))
    out = op(numrnn.tensor(x), axis=axis, keepdims=keepdims)
    expected = reference(x, axis=axis, keepdims=keepdims)
    assert isinstance(out.data, np.ndarray)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data())
def test_gradient_matches_central_differences(name, data):
    op, _ = REDUCTIONS[name]
    x, axis, keepdims = data.draw(reduction_case(name))
    gradcheck(lambda t: op(t, axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data())
def test_float32_agrees_with_float64(name, data):
    op, _ = REDUCTIONS[name]
    x32, axis, keepdims = data.draw(reduction_case(name, np.float32))
    t32 = numrnn.tensor(x32, requires_grad=True)
    t64 = numrnn.tensor(x32.astype(np.float64), requires_grad=True)
    y32 = op(t32, axis=axis, keepdims=keepdims)
    y64 = op(t64, axis=axis, keepdims=keepdims)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-5)
    seed = np.linspace(-1.0, 1.0, y64.data.size).reshape(y64.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-5, atol=1e-6)


def test_max_gradient_goes_to_the_argmax():
    x = numrnn.tensor(np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 0.0]]), requires_grad=True)
    F.max(x, axis=1).backward(np.array([10.0, 20.0]))
    np.testing.assert_array_equal(x.grad, [[0.0, 10.0, 0.0], [20.0, 0.0, 0.0]])


def test_max_splits_the_gradient_evenly_among_ties():
    x = numrnn.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    F.max(x, axis=-1).backward(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]])


def test_max_over_nan_passes_gradient_to_the_nan():
    x = numrnn.tensor(np.array([1.0, np.nan, 3.0]), requires_grad=True)
    y = F.max(x)
    assert np.isnan(y.item())
    y.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])


def test_mean_gradient_is_one_over_the_count():
    x = numrnn.tensor(np.zeros((2, 3, 4)), requires_grad=True)
    F.mean(x, axis=(0, -1)).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, np.full((2, 3, 4), 1 / 8))


def test_tensor_methods_delegate_to_the_ops():
    data = np.arange(12.0).reshape(3, 4)
    x = numrnn.tensor(data)
    np.testing.assert_array_equal(x.sum().data, data.sum())
    np.testing.assert_array_equal(x.mean(axis=0).data, data.mean(axis=0))
    np.testing.assert_array_equal(x.max(axis=1, keepdims=True).data, data.max(1, keepdims=True))


def test_sum_of_a_python_scalar_tensor_keeps_float32():
    x = numrnn.tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    loss = F.sum(x * 2)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 2.0, np.float32))


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_axis_out_of_range_is_refused(name):
    op, _ = REDUCTIONS[name]
    with pytest.raises(ShapeError, match=rf"{name}: axis 2 is out of range .* 2 dimension"):
        op(numrnn.tensor(np.ones((2, 3))), axis=2)
    with pytest.raises(ShapeError, match=rf"{name}: axis -3 is out of range"):
        op(numrnn.tensor(np.ones((2, 3))), axis=(0, -3))


def test_repeated_axis_is_refused():
    with pytest.raises(ShapeError, match=r"sum: axis \(1, -1\) names the same dimension twice"):
        F.sum(numrnn.tensor(np.ones((2, 3))), axis=(1, -1))


def test_non_integer_axis_is_refused():
    with pytest.raises(ArgumentTypeError, match="mean: axis must be an integer, got float"):
        F.mean(numrnn.tensor(np.ones(3)), axis=0.0)


@pytest.mark.parametrize("name", ["mean", "max"])
def test_reducing_an_empty_axis_is_refused(name):
    op, _ = REDUCTIONS[name]
    with pytest.raises(ShapeError, match=rf"{name}: cannot reduce over axis 1 of size 0"):
        op(numrnn.tensor(np.ones((2, 0))), axis=1)


def test_sum_of_an_empty_axis_is_zero():
    np.testing.assert_array_equal(F.sum(numrnn.tensor(np.ones((2, 0))), axis=1).data, [0, 0])


def test_keepdims_must_be_a_bool():
    with pytest.raises(ArgumentTypeError, match="sum: keepdims must be True or False, got 1"):
        F.sum(numrnn.tensor(np.ones(3)), keepdims=1)


def test_reduction_of_float16_is_refused():
    with pytest.raises(DTypeError, match="float32 or float64"):
        F.sum(numrnn.tensor(np.ones(3, dtype=np.float16)))
