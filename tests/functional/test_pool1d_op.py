"""F.max_pool1d and F.avg_pool1d: forward vs a NumPy reference run on each unpadded
row, gradients vs central differences, lengths, and refusals."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, ShapeError
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


@st.composite
def pool_cases(draw, dtype=np.float64):
    """``(x, kernel_size, stride, padding, lengths)``; entries distinct so no max ties."""
    kernel_size = draw(st.integers(1, 4))
    stride = draw(st.none() | st.integers(1, 3))
    padding = draw(st.integers(0, kernel_size // 2))
    shortest = max(1, kernel_size - 2 * padding)
    steps = draw(st.integers(shortest, shortest + 5))
    batch, channels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = draw(S.distinct_float_arrays((batch, channels, steps), dtype))
    lengths = draw(st.none() | st.lists(st.integers(shortest, steps), min_size=batch,
                                        max_size=batch))
    return x, kernel_size, stride, padding, lengths


def reference_pool1d(x, kernel_size, stride, padding, lengths, kind, count_include_pad=True):
    """Each row pooled on its own, unpadded, by plain loops; zeros past its output."""
    batch, channels, steps = x.shape
    stride = kernel_size if stride is None else stride
    out_steps = (steps + 2 * padding - kernel_size) // stride + 1
    lengths = [steps] * batch if lengths is None else lengths
    out = np.zeros((batch, channels, out_steps))
    for b in range(batch):
        fill = -np.inf if kind == "max" else 0.0
        row = np.pad(x[b, :, :lengths[b]], ((0, 0), (padding, padding)), constant_values=fill)
        inside = np.pad(np.ones(lengths[b]), (padding, padding))
        for t in range((row.shape[1] - kernel_size) // stride + 1):
            window = slice(t * stride, t * stride + kernel_size)
            if kind == "max":
                out[b, :, t] = row[:, window].max(axis=1)
            else:
                divisor = kernel_size if count_include_pad else inside[window].sum()
                out[b, :, t] = row[:, window].sum(axis=1) / divisor
    return out


@given(pool_cases())
def test_max_pool_matches_each_unpadded_row_pooled_alone(case):
    x, kernel_size, stride, padding, lengths = case
    got = F.max_pool1d(x, kernel_size, stride, padding, lengths=lengths)
    want = reference_pool1d(x, kernel_size, stride, padding, lengths, "max")
    np.testing.assert_array_equal(got.data, want)


@given(pool_cases(), st.booleans())
def test_avg_pool_matches_each_unpadded_row_pooled_alone(case, count_include_pad):
    x, kernel_size, stride, padding, lengths = case
    got = F.avg_pool1d(x, kernel_size, stride, padding, count_include_pad=count_include_pad,
                       lengths=lengths)
    want = reference_pool1d(x, kernel_size, stride, padding, lengths, "avg", count_include_pad)
    np.testing.assert_allclose(got.data, want, rtol=1e-13, atol=1e-13)


@given(pool_cases())
def test_max_pool_gradient_matches_central_differences(case):
    x, kernel_size, stride, padding, lengths = case
    gradcheck(lambda t: F.max_pool1d(t, kernel_size, stride, padding, lengths=lengths), [x])


@given(pool_cases(), st.booleans())
def test_avg_pool_gradient_matches_central_differences(case, count_include_pad):
    x, kernel_size, stride, padding, lengths = case
    gradcheck(lambda t: F.avg_pool1d(t, kernel_size, stride, padding,
                                     count_include_pad=count_include_pad, lengths=lengths), [x])


@pytest.mark.parametrize("pool", [F.max_pool1d, F.avg_pool1d])
def test_float32_stays_float32_and_unbatched_input_works(pool):
    x = np.random.default_rng(0).standard_normal((3, 11)).astype(np.float32)
    leaf = numrnn.tensor(x, requires_grad=True)
    y = pool(leaf, 3, 2, 1)
    assert y.shape == (3, 6) and y.dtype == np.float32
    np.testing.assert_array_equal(y.data, pool(x[None], 3, 2, 1).data[0])
    y.sum().backward()
    assert leaf.grad.dtype == np.float32


def test_max_pool_gives_a_tied_maximum_gradient_to_its_first_position():
    x = numrnn.tensor(np.array([[[1.0, 3.0, 3.0, 2.0]]]), requires_grad=True)
    F.max_pool1d(x, 4).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[0.0, 1.0, 0.0, 0.0]]])


def test_max_pool_propagates_nan_as_pytorch_does():
    y = F.max_pool1d(np.array([[[1.0, np.nan, 5.0, 2.0]]]), 2, 1)
    np.testing.assert_array_equal(y.data, [[[np.nan, np.nan, 5.0]]])


@pytest.mark.parametrize("pool", [F.max_pool1d, F.avg_pool1d])
def test_refuses_bad_arguments_naming_expected_and_got(pool):
    name = pool.__name__
    x = np.zeros((2, 3, 8))
    with pytest.raises(ArgumentError, match=f"{name}: kernel_size must be a positive int, got 0"):
        pool(x, 0)
    with pytest.raises(ArgumentError, match=r"padding must be at most half of kernel_size "
                                            r"\(1\), got 2"):
        pool(x, 3, padding=2)
    with pytest.raises(ArgumentError, match="stride must be a positive int, got -1"):
        pool(x, 3, stride=-1)
    with pytest.raises(ShapeError, match=r"input must be 3-D \(B, C, L\) or 2-D"):
        pool(np.zeros(8), 2)
    with pytest.raises(ShapeError, match=r"input of 2 step\(s\), padded to 2, is shorter than "
                                         r"the window of 3"):
        pool(np.zeros((1, 1, 2)), 3)
    with pytest.raises(ShapeError, match=r"input must have at least one step"):
        pool(np.zeros((1, 1, 0)), 2, padding=1)
    with pytest.raises(ShapeError, match=r"row 0 has 1 valid step\(s\)"):
        pool(x, 3, lengths=[1, 8])
    with pytest.raises(ShapeError, match=r"lengths must have shape \(2,\)"):
        pool(x, 3, lengths=[8])
