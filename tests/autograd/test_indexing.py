"""getitem (basic, integer-array and boolean indexing) and where."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn import functional as F
from numrnn.errors import DTypeError, ShapeError
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


def _basic_index(shape):
    return hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True)


def _integer_array_index(shape):
    # Indices repeat freely here, which is what exercises accumulation.
    return hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_side=4))


def _boolean_mask(shape):
    """A mask over the first 1..ndim dimensions."""
    return st.integers(1, len(shape)).flatmap(
        lambda k: hnp.arrays(np.bool_, shape[:k], elements=st.booleans())
    )


def _mixed_index(shape):
    """A slice on the first axis and an integer array (with repeats) on the second."""
    return hnp.arrays(np.int64, st.integers(1, 4), elements=st.integers(-shape[1], shape[1] - 1)
                      ).map(lambda cols: (slice(None, None, -1), cols))


INDEX_KINDS = {
    "basic": (1, _basic_index),
    "integer_array": (1, _integer_array_index),
    "boolean_mask": (1, _boolean_mask),
    "mixed": (2, _mixed_index),
}


@st.composite
def getitem_case(draw, kind, dtype=np.float64):
    min_dims, index_strategy = INDEX_KINDS[kind]
    shape = draw(S.shapes(min_dims=min_dims, max_dims=3, max_side=3))
    return draw(S.float_arrays(shape, dtype)), draw(index_strategy(shape))


@st.composite
def where_case(draw, dtype=np.float64):
    """condition, a and b of three mutually broadcastable shapes."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
    cond_shape, a_shape, b_shape = shapes.input_shapes
    condition = draw(hnp.arrays(np.bool_, cond_shape, elements=st.booleans()))
    return condition, draw(S.float_arrays(a_shape, dtype)), draw(S.float_arrays(b_shape, dtype))


@pytest.mark.parametrize("kind", sorted(INDEX_KINDS))
@given(data=st.data())
def test_getitem_forward_matches_numpy(kind, data):
    x, index = data.draw(getitem_case(kind))
    out = numrnn.tensor(x)[index]
    assert isinstance(out.data, np.ndarray)
    np.testing.assert_array_equal(out.data, x[index])


@pytest.mark.parametrize("kind", sorted(INDEX_KINDS))
@given(data=st.data())
def test_getitem_gradient_matches_central_differences(kind, data):
    x, index = data.draw(getitem_case(kind))
    gradcheck(lambda t: t[index], [x])


@pytest.mark.parametrize("kind", sorted(INDEX_KINDS))
@given(data=st.data())
def test_getitem_float32_gives_exactly_the_float64_result(kind, data):
    x32, index = data.draw(getitem_case(kind, np.float32))
    t32 = numrnn.tensor(x32, requires_grad=True)
    t64 = numrnn.tensor(x32.astype(np.float64), requires_grad=True)
    y32, y64 = t32[index], t64[index]
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32.data, y64.data.astype(np.float32))
    # A positive seed: repeated indices then add same-sign terms, so float32 rounding
    # stays relative (a seed summing to ~0 would make the comparison meaningless).
    seed = np.linspace(0.5, 1.5, y64.data.size).reshape(y64.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-6, atol=1e-7)


def test_repeated_integer_indices_accumulate():
    x = numrnn.tensor(np.zeros(4), requires_grad=True)
    x[np.array([0, 2, 0, 0, -1])].backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(x.grad, [8.0, 0.0, 2.0, 5.0])


def test_repeated_rows_and_columns_accumulate():
    x = numrnn.tensor(np.zeros((2, 3)), requires_grad=True)
    x[[1, 1], :][:, [2, 2, 0]].backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, [[0, 0, 0], [2, 0, 4]])


def test_index_tensors_and_lists_act_like_arrays():
    data = np.arange(6.0).reshape(3, 2)
    x = numrnn.tensor(data)
    rows = numrnn.tensor(np.array([2, 0]))
    np.testing.assert_array_equal(x[rows].data, data[[2, 0]])
    np.testing.assert_array_equal(x[[True, False, True]].data, data[[True, False, True]])
    np.testing.assert_array_equal(x[..., None, 1].data, data[..., None, 1])


def test_an_index_array_changed_after_the_forward_does_not_move_the_gradient():
    x = numrnn.tensor(np.zeros(3), requires_grad=True)
    rows = np.array([0, 1])
    y = x[rows]
    rows[:] = 2
    y.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 0.0])


def test_iterating_a_tensor_yields_its_rows_and_stops():
    x = numrnn.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert [r.shape for r in rows] == [(2,)] * 3
    F.stack(rows).backward(np.ones((3, 2)))
    np.testing.assert_array_equal(x.grad, np.ones((3, 2)))


def test_out_of_range_index_is_a_shape_error_and_an_index_error():
    x = numrnn.tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"getitem: cannot index a tensor of shape \(2, 3\): "
                                         r"index 5 is out of bounds for axis 1 with size 3"):
        x[0, 5]
    with pytest.raises(IndexError):
        x[[0, 2]]


def test_bad_index_types_and_mask_shapes_are_refused():
    x = numrnn.tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"getitem: cannot index a tensor of shape \(2, 3\)"):
        x[1.5]
    with pytest.raises(ShapeError, match="boolean index did not match"):
        x[np.array([True, False, True])]


@given(data=st.data())
def test_where_forward_matches_numpy(data):
    condition, a, b = data.draw(where_case())
    out = F.where(condition, numrnn.tensor(a), numrnn.tensor(b))
    np.testing.assert_array_equal(out.data, np.where(condition, a, b))


@given(data=st.data())
def test_where_gradient_matches_central_differences(data):
    condition, a, b = data.draw(where_case())
    gradcheck(lambda ta, tb: F.where(condition, ta, tb), [a, b])


@given(data=st.data())
def test_where_float32_gives_exactly_the_float64_result(data):
    condition, a32, b32 = data.draw(where_case(np.float32))
    tensors32 = [numrnn.tensor(v, requires_grad=True) for v in (a32, b32)]
    tensors64 = [numrnn.tensor(v.astype(np.float64), requires_grad=True) for v in (a32, b32)]
    y32, y64 = F.where(condition, *tensors32), F.where(condition, *tensors64)
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32.data, y64.data.astype(np.float32))
    seed = np.linspace(-1.0, 1.0, y64.data.size).reshape(y64.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    # A broadcast input's gradient is a float32 sum of up to seed.size terms of
    # magnitude <= 1, so it may differ from float64's by seed.size rounding steps
    # (1.2e-7 for a 12-term sum whose float64 value is 3e-16, found by Hypothesis).
    atol = seed.size * np.finfo(np.float32).eps
    for t32, t64 in zip(tensors32, tensors64):
        assert t32.grad.dtype == np.float32
        np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-6, atol=atol)


def test_where_sends_each_gradient_to_its_branch_and_unbroadcasts():
    condition = np.array([[True, False, True], [False, False, True]])
    a = numrnn.tensor(np.zeros(3), requires_grad=True)
    b = numrnn.tensor(np.zeros((2, 1)), requires_grad=True)
    F.where(condition, a, b).backward(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(a.grad, [0.0, 0.0, 7.0])
    np.testing.assert_array_equal(b.grad, [[1.0], [7.0]])


def test_where_with_a_python_scalar_keeps_float32():
    x = numrnn.tensor(np.array([-1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = F.where(x.data > 0, x, 0.0)
    assert y.dtype == np.float32
    y.backward(np.ones(2, dtype=np.float32))
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])


def test_where_refuses_bad_condition_shapes_and_dtypes():
    a, b = numrnn.tensor(np.ones((2, 3))), numrnn.tensor(np.ones(3))
    with pytest.raises(DTypeError, match="where: condition must be a boolean array, got dtype "
                                         "float64"):
        F.where(np.ones(3), a, b)
    with pytest.raises(ShapeError, match=r"where: condition \(4,\), a \(2, 3\) and b \(3,\) are "
                                         r"not broadcast-compatible"):
        F.where(np.ones(4, dtype=bool), a, b)
    with pytest.raises(DTypeError, match="float32 and float64"):
        F.where(np.ones(3, dtype=bool), numrnn.tensor(np.ones(3, dtype=np.float32)), b)
