"""softmax and log_softmax: values, gradients and numerical stability."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.errors import DTypeError, ShapeError
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


def _softmax_reference(x, axis):
    # Inputs are within ±3, where the textbook formula is accurate.
    exps = np.exp(x)
    return exps / exps.sum(axis=axis, keepdims=True)


OPS = {
    "softmax": (F.softmax, _softmax_reference),
    "log_softmax": (F.log_softmax, lambda x, axis: np.log(_softmax_reference(x, axis))),
}


@st.composite
def softmax_case(draw, dtype=np.float64):
    shape = draw(S.shapes(min_dims=1, max_dims=3, max_side=4))
    return draw(S.float_arrays(shape, dtype)), draw(S.axis(len(shape)))


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_forward_matches_numpy(name, data):
    op, reference = OPS[name]
    x, axis = data.draw(softmax_case())
    np.testing.assert_allclose(op(numrnn.tensor(x), axis=axis).data, reference(x, axis),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_gradient_matches_central_differences(name, data):
    op, _ = OPS[name]
    x, axis = data.draw(softmax_case())
    gradcheck(lambda t: op(t, axis=axis), [x])


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_float32_agrees_with_float64(name, data):
    op, _ = OPS[name]
    x32, axis = data.draw(softmax_case(np.float32))
    t32 = numrnn.tensor(x32, requires_grad=True)
    t64 = numrnn.tensor(x32.astype(np.float64), requires_grad=True)
    y32, y64 = op(t32, axis=axis), op(t64, axis=axis)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-6)
    seed = np.linspace(-1.0, 1.0, y64.data.size).reshape(y64.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-5)


@given(data=st.data())
def test_softmax_rows_sum_to_one(data):
    x, axis = data.draw(softmax_case())
    np.testing.assert_allclose(F.softmax(numrnn.tensor(x), axis=axis).data.sum(axis=axis), 1.0,
                               rtol=1e-12)


def test_log_softmax_of_large_inputs_is_exact():
    x = numrnn.tensor(np.array([1000.0, 1.0]), requires_grad=True)
    y = F.log_softmax(x)
    np.testing.assert_array_equal(y.data, [0.0, -999.0])
    y.backward(np.array([1.0, 0.0]))
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_of_large_inputs_is_finite(dtype):
    x = numrnn.tensor(np.array([[1e4, 1.0, -1e4], [-5e3, -5e3, -5e3]], dtype=dtype),
                      requires_grad=True)
    y = F.softmax(x, axis=1)
    assert y.dtype == dtype
    assert np.all(np.isfinite(y.data))
    np.testing.assert_allclose(y.data, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    y.backward(np.ones((2, 3), dtype=dtype))
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(x.grad, np.zeros((2, 3)), atol=1e-6)


def test_log_softmax_is_the_log_of_softmax_along_other_axes():
    x = np.linspace(-4.0, 4.0, 24).reshape(2, 3, 4)
    for axis in (0, 1, -1):
        np.testing.assert_allclose(
            np.exp(F.log_softmax(numrnn.tensor(x), axis=axis).data),
            F.softmax(numrnn.tensor(x), axis=axis).data, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(OPS))
def test_bad_inputs_are_refused(name):
    op, _ = OPS[name]
    with pytest.raises(ShapeError, match=rf"{name}: needs a tensor with at least 1 dimension"):
        op(numrnn.tensor(1.0))
    with pytest.raises(ShapeError, match=rf"{name}: axis 2 is out of range for a tensor with 2"):
        op(numrnn.tensor(np.ones((2, 3))), axis=2)
    with pytest.raises(ShapeError, match=rf"{name}: axis 1 of tensor shape \(2, 0\) is empty"):
        op(numrnn.tensor(np.ones((2, 0))), axis=1)
    with pytest.raises(DTypeError, match="float32 or float64"):
        op(numrnn.tensor(np.ones(3, dtype=np.float16)))
