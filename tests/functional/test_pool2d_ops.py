"""F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d: outputs and gradients against
compositions of primitive tape ops (windows by indexing, then max / sum / mean),
gradients against central differences, and refusals before any kernel runs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, ShapeError
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S
from tests.image_references import (
    composed_adaptive_avg_pool2d,
    composed_avg_pool2d,
    composed_max_pool2d,
    pool2d_cases,
)


def _assert_same_outputs_and_gradients(x, fused_op, composed_op):
    fused, composed = numrnn.tensor(x, requires_grad=True), numrnn.tensor(x, requires_grad=True)
    y, expected = fused_op(fused), composed_op(composed)
    np.testing.assert_allclose(y.data, expected.data, rtol=1e-12, atol=1e-12)
    seed = np.cos(np.arange(y.size)).reshape(y.shape)
    y.backward(seed)
    expected.backward(seed)
    np.testing.assert_allclose(fused.grad, composed.grad, rtol=1e-12, atol=1e-12)


@given(pool2d_cases(distinct=True))
def test_max_pool_matches_windows_then_max(case):
    x, kernel_size, stride, padding = case
    _assert_same_outputs_and_gradients(
        x, lambda t: F.max_pool2d(t, kernel_size, stride, padding),
        lambda t: composed_max_pool2d(t, kernel_size, stride, padding))


@given(pool2d_cases(), st.booleans())
def test_avg_pool_matches_windows_then_sum_over_count(case, count_include_pad):
    x, kernel_size, stride, padding = case
    _assert_same_outputs_and_gradients(
        x, lambda t: F.avg_pool2d(t, kernel_size, stride, padding,
                                  count_include_pad=count_include_pad),
        lambda t: composed_avg_pool2d(t, kernel_size, stride, padding, count_include_pad))


@st.composite
def adaptive_cases(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 7)),
             draw(st.integers(1, 7)))
    return draw(S.float_arrays(shape)), (draw(st.integers(1, 5)), draw(st.integers(1, 5)))


@given(adaptive_cases())
def test_adaptive_avg_pool_matches_the_mean_of_each_cell(case):
    x, out_size = case
    _assert_same_outputs_and_gradients(x, lambda t: F.adaptive_avg_pool2d(t, out_size),
                                       lambda t: composed_adaptive_avg_pool2d(t, out_size))


@settings(max_examples=15)
@given(pool2d_cases(distinct=True), adaptive_cases(), st.booleans())
def test_gradients_match_central_differences(case, adaptive, count_include_pad):
    x, kernel_size, stride, padding = case
    # Distinct values at least 0.1 apart: a 1e-6 step never changes a window's winner.
    gradcheck(lambda t: F.max_pool2d(t, kernel_size, stride, padding), [x])
    gradcheck(lambda t: F.avg_pool2d(t, kernel_size, stride, padding,
                                     count_include_pad=count_include_pad), [x])
    image, out_size = adaptive
    gradcheck(lambda t: F.adaptive_avg_pool2d(t, out_size), [image])


def test_max_pool_gives_a_tie_to_its_first_position_and_lets_nan_win():
    x = numrnn.tensor(np.array([[[[1.0, 2.0], [2.0, 0.0]]], [[[0.0, np.nan], [5.0, 1.0]]]]),
                      requires_grad=True)
    y = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.data[0].ravel(), [2.0])
    assert np.isnan(y.data[1, 0, 0, 0])
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad[0, 0], [[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(x.grad[1, 0], [[0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pools_keep_the_dtype_and_take_unbatched_images(dtype):
    x = np.random.default_rng(0).standard_normal((3, 6, 5)).astype(dtype)
    for pool in (lambda t: F.max_pool2d(t, 2), lambda t: F.avg_pool2d(t, (3, 2), 1, (1, 0)),
                 lambda t: F.adaptive_avg_pool2d(t, (2, None))):
        unbatched, batched = pool(x), pool(x[None])
        assert unbatched.dtype == dtype
        np.testing.assert_array_equal(unbatched.data, batched.data[0])
    assert F.adaptive_avg_pool2d(x, (2, None)).shape == (3, 2, 5)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.max_pool2d(x, 0), ArgumentError,
     r"max_pool2d: kernel_size must be a positive int or a pair .* got 0"),
    (lambda x: F.avg_pool2d(x, 2, stride=(1, 0)), ArgumentError,
     r"avg_pool2d: stride must be a positive int or a pair .* got \(1, 0\)"),
    (lambda x: F.max_pool2d(x, (3, 2), padding=(1, 2)), ArgumentError,
     r"padding must be at most half of kernel_size along width \(1\), got 2"),
    (lambda x: F.max_pool2d(x, 6), ShapeError,
     r"input height of 5, padded to 5, is smaller than the window of 6"),
    (lambda x: F.avg_pool2d(x[0, 0], 2), ShapeError,
     r"input must be 4-D \(N, C, H, W\) or 3-D \(C, H, W\), got 2-D with shape \(5, 6\)"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), ArgumentError,
     r"output_size must be a positive int or a pair of positive ints or None, got 0"),
    (lambda x: F.adaptive_avg_pool2d(x[:, :, :0], 2), ShapeError,
     r"input must not be empty, got shape \(2, 3, 0, 6\)"),
])
def test_refuses_bad_arguments_naming_expected_and_got(call, error, message):
    with pytest.raises(error, match=message):
        call(np.zeros((2, 3, 5, 6)))
