"""F.conv2d: outputs and gradients against the same convolution composed from primitive
tape ops, gradients against central differences, float32, and refusals before any
kernel runs."""

import numpy as np
import pytest
from hypothesis import given, settings

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError
from numrnn import functional as F
from numrnn.testing import gradcheck
from tests.image_references import composed_conv2d, conv2d_cases


def _leaves(arrays, dtype=None):
    return [None if a is None else numrnn.tensor(a if dtype is None else a.astype(dtype),
                                                 requires_grad=True) for a in arrays]


@given(conv2d_cases())
def test_outputs_and_gradients_match_the_composition_of_primitive_ops(case):
    x, weight, bias, options = case
    fused, composed = _leaves((x, weight, bias)), _leaves((x, weight, bias))
    y = F.conv2d(*fused, **options)
    expected = composed_conv2d(*composed, **options)
    np.testing.assert_allclose(y.data, expected.data, rtol=1e-12, atol=1e-12)
    seed = np.cos(np.arange(y.size)).reshape(y.shape)
    y.backward(seed)
    expected.backward(seed)
    for ours, theirs in zip(fused, composed):
        if ours is not None:
            np.testing.assert_allclose(ours.grad, theirs.grad, rtol=1e-12, atol=1e-12)


@settings(max_examples=15)
@given(conv2d_cases())
def test_gradient_matches_central_differences(case):
    x, weight, bias, options = case
    gradcheck(lambda *args: F.conv2d(*args, **options), [x, weight, bias])


@settings(max_examples=15)
@given(conv2d_cases())
def test_float32_stays_float32_and_agrees_with_float64(case):
    x, weight, bias, options = case
    leaves32, leaves64 = _leaves((x, weight, bias), np.float32), _leaves((x, weight, bias))
    y32, y64 = F.conv2d(*leaves32, **options), F.conv2d(*leaves64, **options)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-4, atol=1e-4)
    seed = np.cos(np.arange(y32.size)).reshape(y32.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    for t32, t64 in zip(leaves32, leaves64):
        if t32 is not None:
            assert t32.grad.dtype == np.float32
            np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-4)


def test_only_the_gradients_asked_for_are_computed():
    rng = np.random.default_rng(0)
    x = numrnn.tensor(rng.standard_normal((2, 3, 6, 5)))
    weight = numrnn.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    F.conv2d(x, weight, padding=1).sum().backward()
    assert x.grad is None and weight.grad.shape == (4, 3, 3, 3)
    x.requires_grad = True
    weight = numrnn.tensor(weight.data)
    F.conv2d(x, weight, padding=1).sum().backward()
    assert x.grad.shape == (2, 3, 6, 5) and weight.grad is None


def test_unbatched_input_is_one_image_without_the_batch_axis():
    rng = np.random.default_rng(1)
    x, weight = rng.standard_normal((3, 7, 6)), rng.standard_normal((4, 3, 2, 3))
    unbatched = F.conv2d(x, weight, stride=2, padding=(1, 0))
    batched = F.conv2d(x[None], weight, stride=2, padding=(1, 0))
    assert unbatched.shape == (4, 4, 2)
    np.testing.assert_array_equal(unbatched.data, batched.data[0])


def test_same_padding_keeps_the_size_with_the_odd_extra_after():
    rng = np.random.default_rng(2)
    x, weight = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((3, 2, 2, 4))
    y = F.conv2d(x, weight, padding="same")
    assert y.shape == (1, 3, 5, 6)
    # kH = 2: no row before, one after; kW = 4: one column before, two after.
    padded = np.pad(x, ((0, 0), (0, 0), (0, 1), (1, 2)))
    np.testing.assert_allclose(y.data, F.conv2d(padded, weight).data, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("call, error, message", [
    (lambda x, w: F.conv2d(x[0, 0], w), ShapeError,
     r"input must be 4-D \(N, C_in, H, W\) or 3-D \(C_in, H, W\), got 2-D with shape \(8, 8\)"),
    (lambda x, w: F.conv2d(x, w[..., 0]), ShapeError,
     r"weight must be 4-D \(C_out, C_in / groups, kH, kW\), got 3-D"),
    (lambda x, w: F.conv2d(x, w[:, :, :0]), ShapeError,
     r"kernel of at least 1x1, got shape \(6, 2, 0, 3\)"),
    (lambda x, w: F.conv2d(x, w, stride=0), ArgumentError,
     r"stride must be a positive int or a pair of them \(height, width\), got 0"),
    (lambda x, w: F.conv2d(x, w, stride=(1, 2, 3)), ArgumentError,
     r"stride must be a positive int or a pair .* got \(1, 2, 3\)"),
    (lambda x, w: F.conv2d(x, w, padding=-1), ArgumentError,
     r"padding must be a non-negative int or a pair .* got -1"),
    (lambda x, w: F.conv2d(x, w, padding="full"), ArgumentError,
     r"padding must be an int, a pair, 'same' or 'valid', got 'full'"),
    (lambda x, w: F.conv2d(x, w, stride=2, padding="same"), ArgumentError,
     r"padding='same' needs stride=1"),
    (lambda x, w: F.conv2d(x, w, groups=4), ShapeError,
     r"weight's 6 output channels must be a multiple of groups=4"),
    (lambda x, w: F.conv2d(x, w, groups=3), ShapeError,
     r"input must have 6 channels \(weight's 2 per group x groups=3\), got 4"),
    (lambda x, w: F.conv2d(x[:, :2, :2], w), ShapeError,
     r"input height of 2, padded to 2, is smaller than the window of 3"),
    (lambda x, w: F.conv2d(x[:, :2], w, dilation=(1, 4)), ShapeError,
     r"input width of 8, padded to 8, is smaller than the window of 9 .* dilation 4"),
    (lambda x, w: F.conv2d(x, w, np.zeros(5)), ShapeError,
     r"bias must have shape \(6,\), got \(5,\)"),
    (lambda x, w: F.conv2d(x.astype(np.float32), w), DTypeError,
     r"weight must have dtype float32 like the input, got float64"),
])
def test_refuses_bad_arguments_naming_expected_and_got(call, error, message):
    x, weight = np.zeros((2, 4, 8, 8)), np.zeros((6, 2, 3, 3))
    with pytest.raises(error, match=message):
        call(x, weight)
