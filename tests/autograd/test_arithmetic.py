"""Binary arithmetic, neg, pow and matmul: forward against NumPy, gradients against
central differences, float32 against float64, and the errors for bad operands."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.errors import ArgumentTypeError, DTypeError, ShapeError
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

# name -> (op, numpy reference, keep b's elements at least this far from 0)
BINARY = {
    "add": (F.add, np.add, None),
    "sub": (F.sub, np.subtract, None),
    "mul": (F.mul, np.multiply, None),
    "div": (F.div, np.divide, 0.5),
}


@st.composite
def binary_operands(draw, name, dtype=np.float64):
    """Two arrays of broadcast-compatible shapes (size-1 and missing dims included)."""
    shape_a, shape_b = draw(S.broadcastable_shapes())
    away = BINARY[name][2]
    a = draw(S.float_arrays(shape_a, dtype))
    b = draw(S.float_arrays(shape_b, dtype, exclude_near=None if away is None else 0.0,
                            margin=away or 1e-3))
    return a, b


@st.composite
def matmul_operands(draw, dtype=np.float64):
    """(..., n, k) and (..., k, m) with broadcastable (possibly absent) batch dims."""
    batch_a, batch_b = draw(S.broadcastable_shapes(min_dims=0, max_dims=2, max_side=3))
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    a = draw(S.float_arrays((*batch_a, n, k), dtype))
    b = draw(S.float_arrays((*batch_b, k, m), dtype))
    return a, b


def pow_operands(dtype=np.float64):
    """A positive base (so any real exponent is smooth) and a scalar exponent."""
    base = S.shapes().flatmap(lambda shape: S.float_arrays(shape, dtype, 0.5, 3.0))
    return st.tuples(base, st.sampled_from([2, 3, 0.5, -1.5, 1.0]))


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_forward_matches_numpy(name, data):
    op, reference, _ = BINARY[name]
    a, b = data.draw(binary_operands(name))
    out = op(numrnn.tensor(a), numrnn.tensor(b))
    np.testing.assert_allclose(out.data, reference(a, b), rtol=1e-12, atol=1e-12)
    assert out.shape == np.broadcast_shapes(a.shape, b.shape)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_gradient_matches_central_differences(name, data):
    op, _, _ = BINARY[name]
    a, b = data.draw(binary_operands(name))
    gradcheck(op, [a, b])


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_float32_agrees_with_float64(name, data):
    op, _, _ = BINARY[name]
    a32, b32 = data.draw(binary_operands(name, np.float32))
    _assert_float32_agrees(op, [a32, b32])


@given(data=st.data())
def test_matmul_forward_matches_numpy(data):
    a, b = data.draw(matmul_operands())
    np.testing.assert_allclose(F.matmul(numrnn.tensor(a), numrnn.tensor(b)).data, a @ b,
                               rtol=1e-12, atol=1e-12)


@given(data=st.data())
def test_matmul_gradient_matches_central_differences(data):
    gradcheck(F.matmul, list(data.draw(matmul_operands())))


@given(data=st.data())
def test_matmul_float32_agrees_with_float64(data):
    _assert_float32_agrees(F.matmul, list(data.draw(matmul_operands(np.float32))))


@given(data=st.data())
def test_pow_forward_gradient_and_float32(data):
    x, exponent = data.draw(pow_operands())
    np.testing.assert_allclose(F.pow(numrnn.tensor(x), exponent).data, x**exponent, rtol=1e-12)
    gradcheck(lambda t: F.pow(t, exponent), [x])
    x32, exponent = data.draw(pow_operands(np.float32))
    _assert_float32_agrees(lambda t: F.pow(t, exponent), [x32])


@given(x=S.shapes().flatmap(S.float_arrays))
def test_neg_forward_gradient_and_float32(x):
    np.testing.assert_array_equal(F.neg(numrnn.tensor(x)).data, -x)
    gradcheck(F.neg, [x])
    _assert_float32_agrees(F.neg, [x.astype(np.float32)])


def _assert_float32_agrees(op, arrays32):
    tensors32 = [numrnn.tensor(a, requires_grad=True) for a in arrays32]
    tensors64 = [numrnn.tensor(a.astype(np.float64), requires_grad=True) for a in arrays32]
    y32, y64 = op(*tensors32), op(*tensors64)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-5)
    seed = np.linspace(-1.0, 1.0, y64.data.size).reshape(y64.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    for t32, t64 in zip(tensors32, tensors64):
        assert t32.grad.dtype == np.float32
        np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-4)


def test_operators_are_the_same_ops():
    a = numrnn.tensor(np.array([[1.0, -2.0], [3.0, 0.5]]))
    b = numrnn.tensor(np.array([2.0, 4.0]))
    np.testing.assert_array_equal((a + b).data, a.data + b.data)
    np.testing.assert_array_equal((a - b).data, a.data - b.data)
    np.testing.assert_array_equal((a * b).data, a.data * b.data)
    np.testing.assert_array_equal((a / b).data, a.data / b.data)
    np.testing.assert_array_equal((2.0 - a).data, 2.0 - a.data)
    np.testing.assert_array_equal((1.0 / b).data, 1.0 / b.data)
    np.testing.assert_array_equal((a**2).data, a.data**2)
    np.testing.assert_array_equal((-a).data, -a.data)
    np.testing.assert_array_equal((a @ a).data, a.data @ a.data)
    np.testing.assert_array_equal((np.eye(2) @ a).data, a.data)


def test_broadcast_bias_gets_gradient_of_its_own_shape():
    batch, hidden = 5, 3
    x = numrnn.tensor(np.ones((batch, hidden)), requires_grad=True)
    bias = numrnn.tensor(np.zeros(hidden), requires_grad=True)
    (x + bias).backward(np.arange(batch * hidden, dtype=np.float64).reshape(batch, hidden))
    assert bias.grad.shape == (hidden,)
    np.testing.assert_array_equal(bias.grad, [30.0, 35.0, 40.0])
    assert x.grad.shape == (batch, hidden)


def test_tensor_used_twice_accumulates():
    x = numrnn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x + x).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [3.0, 5.0])


def test_python_scalars_adopt_the_tensor_dtype():
    x = numrnn.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for y in (x * 2, 2 * x, x + 0.5, 1 - x, x / 3, 3 / x, x**2):
        assert y.dtype == np.float32


def test_mixing_float32_and_float64_tensors_raises():
    x32 = numrnn.tensor(np.ones(3, dtype=np.float32))
    x64 = numrnn.tensor(np.ones(3))
    with pytest.raises(DTypeError, match=r"Add.*float32 and float64"):
        x32 + x64
    with pytest.raises(DTypeError, match=r"matmul.*float32.*float64"):
        F.matmul(numrnn.tensor(np.ones((2, 2), np.float32)), np.ones((2, 2)))
    with pytest.raises(DTypeError, match=r"mul: operands must share dtype float32, got float64"):
        x32 * np.ones(3)


def test_matmul_inner_size_mismatch_names_both_shapes():
    a, b = numrnn.tensor(np.ones((2, 3))), numrnn.tensor(np.ones((4, 5)))
    with pytest.raises(ShapeError,
                       match=r"matmul: inner sizes must agree, got \(2, 3\) @ \(4, 5\)"):
        a @ b


def test_matmul_refuses_vectors():
    with pytest.raises(ShapeError, match=r"matmul: .*at least 2 dimensions, got 1 and 2"):
        F.matmul(np.ones(3), np.ones((3, 2)))


def test_non_broadcastable_shapes_name_both_shapes():
    with pytest.raises(ShapeError, match=r"sub: shapes \(2, 3\) and \(4,\) are not broadcast"):
        F.sub(numrnn.tensor(np.ones((2, 3))), np.ones(4))


def test_pow_refuses_array_exponent():
    with pytest.raises(ArgumentTypeError,
                       match="pow: exponent must be a scalar number, got ndarray"):
        F.pow(numrnn.tensor(np.ones(2)), np.ones(2))


def test_accumulating_a_float32_loss_from_python_zero_stays_float32():
    # 0-d results must stay ndarrays: a NumPy scalar's dtype is invisible to coerce(),
    # so `0.0 + loss` would silently become float64 and backward would fail.
    x = numrnn.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    loss = 0.0
    for weight in (1.0, 2.0):
        loss = loss + F.sum(x) * weight
    assert loss.dtype == np.float32
    loss.backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 3.0, np.float32))


@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((2, 3, 1), (1, 4)), ((5, 1), (2, 1, 4))])
def test_matmul_outer_product_path_matches_numpy_and_gradients(shapes):
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(shape) for shape in shapes)
    np.testing.assert_array_equal(F.matmul(numrnn.tensor(a), numrnn.tensor(b)).data, a @ b)
    gradcheck(F.matmul, [a, b])
