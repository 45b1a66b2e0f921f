"""argmax/argmin, max/min with indices, squeeze/unsqueeze/view: values, gradients, torch parity."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import Tensor
from numrnn import functional as F
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


@st.composite
def array_and_axis(draw, min_dims=1):
    """Entries spaced apart (a tie is a kink of max/min), and one valid axis."""
    shape = draw(S.shapes(min_dims=min_dims, max_dims=3, max_side=4))
    return draw(S.distinct_float_arrays(shape)), draw(S.axis(len(shape)))


@pytest.mark.parametrize("name", ["max", "min"])
@given(case=array_and_axis(), keepdim=st.booleans())
def test_values_and_indices_match_numpy_and_their_gradient_central_differences(
        name, case, keepdim):
    x, axis = case
    values, indices = getattr(numrnn.tensor(x), name)(axis, keepdim=keepdim)
    pick = np.argmax if name == "max" else np.argmin
    np.testing.assert_array_equal(indices.data, pick(x, axis=axis, keepdims=keepdim))
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(values.data,
                                  getattr(np, name)(x, axis=axis, keepdims=keepdim))
    gradcheck(lambda t: getattr(t, name)(axis, keepdim=keepdim).values, [x])


@given(data=st.data())
def test_squeeze_unsqueeze_view_gradients(data):
    shape = data.draw(S.shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    x = data.draw(S.float_arrays(shape))
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    gradcheck(lambda t: t.unsqueeze(axis) * 2.0, [x])
    gradcheck(lambda t: t.squeeze() * 2.0, [x])
    gradcheck(lambda t: t.view(-1) * 2.0, [x])


@given(case=array_and_axis(), keepdims=st.booleans())
def test_argmax_argmin_match_numpy_and_record_nothing(case, keepdims):
    x, axis = case
    t = numrnn.tensor(x, requires_grad=True)
    for name in ("argmax", "argmin"):
        reference = getattr(np, name)
        result = getattr(t, name)(axis, keepdims=keepdims)
        assert result.dtype == np.int64 and not result.requires_grad and result.is_leaf
        np.testing.assert_array_equal(result.data, reference(x, axis=axis, keepdims=keepdims))
        assert getattr(t, name)().item() == reference(x)


def test_parity_with_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, 1.0, 3.0], [-2.0, 5.0, 0.5]])
    t, reference = numrnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for name in ("max", "min"):
        values, indices = getattr(t, name)(1)
        expected = getattr(reference, name)(1)
        np.testing.assert_array_equal(values.data, expected.values.detach().numpy())
        np.testing.assert_array_equal(indices.data, expected.indices.numpy())
        assert getattr(t, name)().item() == getattr(reference, name)().item()
    values, _ = t.max(1, keepdim=True)
    values.sum().backward()
    reference.max(1, keepdim=True).values.sum().backward()
    np.testing.assert_array_equal(t.grad, reference.grad.numpy())
    for index in (0, 1, -1):
        np.testing.assert_array_equal(t.argmax(index).data, reference.argmax(index).numpy())
        np.testing.assert_array_equal(t.argmin(index, keepdims=True).data,
                                      reference.argmin(index, keepdim=True).numpy())
    column = numrnn.tensor(np.ones((2, 1, 3)))
    for axis in (0, 1, (0, 1), None):
        expected = torch.ones(2, 1, 3).squeeze(*(() if axis is None else (axis,)))
        assert column.squeeze(axis).shape == tuple(expected.shape)
    for axis in (0, 3, -1, -4):
        assert column.unsqueeze(axis).shape == tuple(torch.ones(2, 1, 3).unsqueeze(axis).shape)
    assert t.view(3, 2).shape == (3, 2) and t.view((-1,)).shape == (6,)
    for symbol in ("<", "<=", ">", ">=", "==", "!="):
        ours = eval(f"t {symbol} 1.0")  # noqa: S307
        np.testing.assert_array_equal(ours.data, eval(f"reference {symbol} 1.0").numpy())  # noqa: S307


def test_numpy_forms_of_max_and_min_keep_their_meaning():
    x = np.array([[3.0, 1.0, 3.0], [-2.0, 5.0, 0.5]])
    t = numrnn.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(t.max(axis=(0, 1)).data, 5.0)
    np.testing.assert_array_equal(t.min(axis=1, keepdims=True).data, [[1.0], [-2.0]])
    t.max(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])


def test_bad_arguments_are_refused_by_name():
    t = numrnn.tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match="argmax: axis 2 is out of range"):
        t.argmax(2)
    with pytest.raises(ShapeError, match=r"max: cannot pick from axis 1 of size 0 "
                                         r"\(tensor shape \(2, 0\)\)"):
        numrnn.tensor(np.ones((2, 0))).max(1)
    with pytest.raises(ShapeError, match="argmin: cannot pick from an empty tensor"):
        F.argmin(np.ones(0))
    with pytest.raises(ArgumentTypeError, match=r"argmax: axis must be one int or None, "
                                                r"got \(0, 1\)"):
        t.argmax((0, 1))
    with pytest.raises(ArgumentError, match="give PyTorch's dim/keepdim or NumPy's axis/keepdims"):
        t.max(1, axis=0)
    with pytest.raises(ArgumentError, match="keepdim=True needs a dim"):
        t.min(keepdim=True)
    with pytest.raises(ArgumentTypeError, match="keepdims must be True or False, got 'yes'"):
        t.argmax(0, keepdims="yes")
    with pytest.raises(ShapeError, match="unsqueeze: axis 3 is out of range"):
        t.unsqueeze(3)
    with pytest.raises(ShapeError, match=r"comparison <: shapes \(2, 3\) and \(2,\) are not "
                                         "broadcast-compatible"):
        t < np.ones(2)  # noqa: B015
    assert (t == None) is False  # noqa: E711
    with pytest.raises(TypeError):
        t < "a"  # noqa: B015


def test_comparison_results_work_as_masks_and_counts():
    logits = numrnn.tensor(np.array([[0.1, 2.0], [3.0, -1.0], [0.0, 0.5]], np.float32))
    targets = np.array([1, 0, 0])
    correct = logits.argmax(1) == targets
    assert isinstance(correct, Tensor) and correct.sum().item() == 2
    assert not (logits > 0).requires_grad


def test_pytorch_keyword_names_dim_and_keepdim_match_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, 1.0, 3.0], [-2.0, 5.0, 0.5]])
    t, reference = numrnn.tensor(x), torch.tensor(x)
    for name in ("argmax", "argmin"):
        for call in ({"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": -1, "keepdim": False}):
            np.testing.assert_array_equal(getattr(t, name)(**call).data,
                                          getattr(reference, name)(**call).numpy())
            np.testing.assert_array_equal(getattr(F, name)(t, **call).data,
                                          getattr(torch, name)(reference, **call).numpy())
        np.testing.assert_array_equal(getattr(t, name)(1, keepdim=True).data,
                                      getattr(reference, name)(1, keepdim=True).numpy())
    for name in ("sum", "mean"):
        for call in ({"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": (0, 1)},
                     {"dim": -1, "keepdim": True}):
            np.testing.assert_allclose(getattr(t, name)(**call).data,
                                       getattr(reference, name)(**call).numpy(), rtol=1e-15)
            np.testing.assert_allclose(getattr(F, name)(t, **call).data,
                                       getattr(torch, name)(reference, **call).numpy(),
                                       rtol=1e-15)
        np.testing.assert_allclose(getattr(t, name)(1, keepdim=True).data,
                                   getattr(reference, name)(1, keepdim=True).numpy())
    column = numrnn.tensor(np.ones((2, 1, 3)))
    ones = torch.ones(2, 1, 3)
    for dim in (0, 1, -2):
        assert column.squeeze(dim=dim).shape == tuple(ones.squeeze(dim=dim).shape)
        assert F.squeeze(column, dim=dim).shape == tuple(torch.squeeze(ones, dim=dim).shape)
    for dim in (0, 3, -1):
        assert column.unsqueeze(dim=dim).shape == tuple(ones.unsqueeze(dim=dim).shape)
        assert F.unsqueeze(column, dim=dim).shape == tuple(torch.unsqueeze(ones, dim=dim).shape)


def test_gradients_flow_the_same_through_the_pytorch_keyword_names():
    x = np.array([[3.0, 1.0, 3.0], [-2.0, 5.0, 0.5]])
    gradcheck(lambda t: t.sum(dim=1, keepdim=True) * t.mean(dim=0).sum(), [x])
    gradcheck(lambda t: t.unsqueeze(dim=0).squeeze(dim=0) * 2.0, [x])


@pytest.mark.parametrize("call, message", [
    (lambda t: t.argmax(1, dim=0), r"argmax: give dim \(PyTorch's name\) or axis \(NumPy's\), "
                                   r"not both \(got dim=0, axis=1\)"),
    (lambda t: t.argmin(0, keepdims=True, keepdim=True),
     r"argmin: give keepdim \(PyTorch's name\) or keepdims \(NumPy's\), not both"),
    (lambda t: t.sum(axis=0, dim=1), r"sum: give dim .* or axis .*, not both"),
    (lambda t: t.mean(0, keepdims=False, keepdim=False), r"mean: give keepdim .* not both"),
    (lambda t: t.squeeze(0, dim=0), r"squeeze: give dim .* or axis .*, not both"),
    (lambda t: t.unsqueeze(0, dim=0), r"unsqueeze: give dim .* or axis .*, not both"),
    (lambda t: t.unsqueeze(), r"unsqueeze: needs the position of the new axis \(dim or axis\)"),
])
def test_a_dimension_given_under_both_names_is_refused(call, message):
    with pytest.raises(ArgumentError, match=message):
        call(numrnn.tensor(np.ones((2, 3))))
