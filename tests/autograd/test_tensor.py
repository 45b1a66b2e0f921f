"""The Tensor API: construction, metadata, comparisons, dtype rules."""

import numpy as np
import pytest

import numrnn
from numrnn import Tensor
from numrnn import functional as F


def test_tensor_copies_its_input():
    source = np.array([1.0, 2.0])
    t = numrnn.tensor(source)
    source[0] = 99.0
    assert t.data[0] == 1.0
    again = numrnn.tensor(t)
    t.data[1] = -1.0
    assert again.data[1] == 2.0
    assert again.is_leaf and not again.requires_grad


def test_tensor_dtype_argument_and_inference():
    # Python floats take the default float dtype, float32 (issue #18: it was float64,
    # which the float32 layers then refused); see tests/test_defaults.py.
    assert numrnn.tensor([1.0, 2.0]).dtype == np.float32
    assert numrnn.tensor(np.array([1.0, 2.0])).dtype == np.float64
    assert numrnn.tensor([1.0, 2.0], dtype=np.float32).dtype == np.float32
    assert numrnn.tensor([1, 2]).dtype.kind == "i"


def test_metadata_properties():
    t = numrnn.tensor(np.zeros((2, 3, 4), np.float32))
    assert t.shape == (2, 3, 4)
    assert t.dtype == np.float32
    assert t.ndim == 3
    assert t.size == 24
    assert len(t) == 2


def test_numpy_returns_the_underlying_array_without_copying():
    t = numrnn.tensor([1.0, 2.0])
    assert t.numpy() is t.data
    assert isinstance(t.numpy(), np.ndarray)


def test_detach_shares_data_and_cuts_the_graph():
    x = numrnn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.data, y.data)
    assert (d * 3.0)._node is None


def test_item_gives_a_python_number_for_one_element():
    value = numrnn.tensor([[2.5]]).item()
    assert value == 2.5 and type(value) is float
    assert numrnn.tensor(np.float32(1.5)).item() == 1.5
    with pytest.raises(numrnn.NumrnnError, match=r"exactly one element, got shape \(2,\)"):
        numrnn.tensor([1.0, 2.0]).item()


@pytest.mark.parametrize(
    "compare, expected",
    [
        (lambda a, b: a == b, [False, True, False]),
        (lambda a, b: a != b, [True, False, True]),
        (lambda a, b: a < b, [True, False, False]),
        (lambda a, b: a <= b, [True, True, False]),
        (lambda a, b: a > b, [False, False, True]),
        (lambda a, b: a >= b, [False, True, True]),
    ],
)
def test_comparisons_return_bool_tensors_without_gradient(compare, expected):
    a = numrnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for other in (numrnn.tensor([2.0, 2.0, 2.0]), np.array([2.0, 2.0, 2.0]), 2.0):
        result = compare(a, other)
        assert type(result) is Tensor and result.dtype == np.bool_
        assert not result.requires_grad and result.is_leaf
        np.testing.assert_array_equal(result.data, expected)


def test_truth_value_is_refused():
    with pytest.raises(numrnn.GradError, match="truth value of a Tensor is ambiguous"):
        bool(numrnn.tensor([1.0]))


def test_tensors_hash_by_identity():
    a, b = numrnn.tensor([1.0]), numrnn.tensor([1.0])
    assert len({a, b}) == 2


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t * 2.0,
        lambda t: 2.0 * t,
        lambda t: t + 1,
        lambda t: 1 - t,
        lambda t: t / 3.0,
        lambda t: 3.0 / t,
        lambda t: t**2,
        lambda t: -t,
        lambda t: t * np.float64(0.5),
    ],
)
def test_python_scalars_adopt_the_tensor_dtype(op):
    t = numrnn.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = op(t)
    assert y.dtype == np.float32
    y.backward(np.ones(2, np.float32))
    assert t.grad.dtype == np.float32


def test_float32_and_float64_tensors_do_not_mix():
    a = numrnn.tensor(np.ones(2, np.float32))
    b = numrnn.tensor(np.ones(2, np.float64))
    with pytest.raises(numrnn.DTypeError, match="float32 and float64"):
        a + b
    with pytest.raises(numrnn.DTypeError, match="float32 and float64"):
        b * a
    with pytest.raises(numrnn.DTypeError, match="mul: operands must share dtype float32, "
                                                "got float64"):
        a * np.ones(2)
    assert isinstance(numrnn.DTypeError("x"), TypeError)


def test_int_tensor_operands_are_promoted_to_the_float_dtype():
    a = numrnn.tensor(np.ones(2, np.float32))
    assert (a + numrnn.tensor([1, 2])).dtype == np.float32


def test_requires_grad_on_an_int_tensor_is_refused():
    with pytest.raises(numrnn.DTypeError, match="only float32 or float64 tensors can require "
                                                "gradients, got int64"):
        numrnn.tensor(np.array([1, 2], np.int64), requires_grad=True)
    t = numrnn.tensor([1, 2])
    with pytest.raises(numrnn.DTypeError):
        t.requires_grad = True
    assert not t.requires_grad


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = numrnn.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(numrnn.GradError, match="only be switched off on a leaf"):
        y.requires_grad = False


def test_leaf_backward_accumulates_the_seed():
    x = numrnn.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_op_outputs_are_non_leaf_tensors_that_require_grad():
    x = numrnn.tensor([1.0], requires_grad=True)
    y = F.exp(x)
    assert isinstance(y, Tensor)
    assert y.requires_grad and not y.is_leaf
    assert not F.exp(numrnn.tensor([1.0])).requires_grad


def test_repr_shows_dtype_and_requires_grad():
    text = repr(numrnn.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True))
    assert text.startswith("tensor([1., 2.]")
    assert "dtype=float32" in text and "requires_grad=True" in text
    assert "requires_grad" not in repr(numrnn.tensor([1.0]))
