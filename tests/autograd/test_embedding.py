"""embedding: row gather forward, scatter-add backward, index validation before the kernel."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn import functional as F
from numrnn.kernels.embedding import gather_rows, scatter_add_rows
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


@st.composite
def tables_and_indices(draw, dtype=np.float64):
    num_rows = draw(st.integers(1, 6))
    dim = draw(st.integers(1, 4))
    weight = draw(S.float_arrays((num_rows, dim), dtype))
    index_shape = draw(S.shapes(min_dims=0, max_dims=3, max_side=4))
    indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, num_rows - 1)))
    return weight, indices


@given(tables_and_indices())
def test_forward_matches_numpy_fancy_indexing(case):
    weight, indices = case
    out = F.embedding(numrnn.tensor(weight), indices)
    assert out.shape == indices.shape + (weight.shape[1],)
    np.testing.assert_array_equal(out.data, weight[indices])


@given(tables_and_indices())
def test_gradient_matches_central_differences(case):
    weight, indices = case
    gradcheck(lambda w: F.embedding(w, indices), [weight])


@given(tables_and_indices(), st.data())
def test_backward_is_scatter_add_of_numpy(case, data):
    weight, indices = case
    grad_out = data.draw(S.float_arrays(indices.shape + (weight.shape[1],)))
    expected = np.zeros_like(weight)
    np.add.at(expected, indices.reshape(-1), grad_out.reshape(-1, weight.shape[1]))
    table = numrnn.tensor(weight, requires_grad=True)
    F.embedding(table, indices).backward(grad_out)
    np.testing.assert_allclose(table.grad, expected, rtol=1e-12, atol=1e-12)


@given(tables_and_indices(np.float32))
def test_float32_agrees_with_float64(case):
    weight32, indices = case
    t32 = numrnn.tensor(weight32, requires_grad=True)
    t64 = numrnn.tensor(weight32.astype(np.float64), requires_grad=True)
    y32, y64 = F.embedding(t32, indices), F.embedding(t64, indices)
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32.data, y64.data.astype(np.float32))
    y32.backward(np.ones(y32.shape, np.float32))
    y64.backward(np.ones(y64.shape))
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-6)


def test_repeated_indices_accumulate():
    weight = numrnn.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    F.embedding(weight, np.array([[2, 2], [0, 2]])).backward(np.ones((2, 2, 3)))
    np.testing.assert_array_equal(weight.grad, [[1, 1, 1], [0, 0, 0], [3, 3, 3], [0, 0, 0]])


@pytest.mark.parametrize("padding_idx, zero_row", [(1, 1), (-1, 3)])
def test_padding_row_gets_zero_gradient(padding_idx, zero_row):
    weight = numrnn.tensor(np.ones((4, 2)), requires_grad=True)
    indices = np.array([1, 3, 3, 0])
    out = F.embedding(weight, indices, padding_idx=padding_idx)
    np.testing.assert_array_equal(out.data, np.ones((4, 2)))  # forward is unchanged
    out.backward(np.full((4, 2), 5.0))
    expected = np.array([[5, 5], [5, 5], [0, 0], [10, 10]], dtype=float)
    expected[zero_row] = 0
    np.testing.assert_array_equal(weight.grad, expected)


def test_indices_may_be_an_int_tensor_or_list():
    weight = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(F.embedding(weight, numrnn.tensor([2, 0])).data,
                                  weight[[2, 0]])
    np.testing.assert_array_equal(F.embedding(weight, [[1]]).data, weight[[[1]]])


def test_kernels_directly_float32_and_float64():
    for dtype in (np.float32, np.float64):
        weight = np.arange(8, dtype=dtype).reshape(4, 2)
        indices = np.array([3, 1, 3], dtype=np.int64)
        rows = gather_rows(weight, indices)
        assert rows.dtype == dtype
        np.testing.assert_array_equal(rows, weight[indices])
        summed = scatter_add_rows(np.ones((3, 2), dtype), indices, 4)
        assert summed.dtype == dtype
        np.testing.assert_array_equal(summed, [[0, 0], [1, 1], [0, 0], [2, 2]])


@pytest.mark.parametrize(
    "indices, message",
    [
        (np.array([0, 4]), r"embedding: every index must be in 0\.\.3 .*got 4"),
        (np.array([[1], [-1]]), r"embedding: every index must be in 0\.\.3 .*got -1"),
        (np.array([10**12]), r"got 1000000000000"),
    ],
)
def test_out_of_range_indices_raise_shape_error(indices, message):
    with pytest.raises(numrnn.ShapeError, match=message):
        F.embedding(np.zeros((4, 2)), indices)


@pytest.mark.parametrize("indices", [np.array([0.0, 1.0]), np.array([True, False]), ["a"]])
def test_non_integer_indices_raise_dtype_error(indices):
    with pytest.raises(numrnn.DTypeError, match="embedding: indices must be an integer array"):
        F.embedding(np.zeros((4, 2)), indices)


def test_bad_weight_and_padding_idx_are_refused():
    with pytest.raises(numrnn.ShapeError, match=r"weight must be 2-D .*got shape \(4,\)"):
        F.embedding(np.zeros(4), np.array([0]))
    with pytest.raises(numrnn.DTypeError, match="weight must be a float32 or float64 array, "
                                                "got int64"):
        F.embedding(np.zeros((4, 2), np.int64), np.array([0]))
    with pytest.raises(numrnn.ArgumentError, match=r"padding_idx must be in -4\.\.3, got 4"):
        F.embedding(np.zeros((4, 2)), np.array([0]), padding_idx=4)
    with pytest.raises(numrnn.ArgumentTypeError,
                       match="padding_idx must be an int or None, got float"):
        F.embedding(np.zeros((4, 2)), np.array([0]), padding_idx=1.0)
