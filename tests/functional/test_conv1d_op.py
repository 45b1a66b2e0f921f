"""F.conv1d: forward vs a NumPy reference run on each unpadded row, gradients vs
central differences, every option (stride, padding, 'same', causal, dilation,
groups, bias, lengths), and refusals before any kernel runs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError
from numrnn import functional as F
from numrnn.functional.windows import conv_padding
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


@st.composite
def conv_cases(draw, dtype=np.float64):
    """``(x, weight, bias, options, lengths)`` over every option, sizes kept small."""
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel_size = draw(st.integers(1, 4))
    dilation = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["int", "same", "valid", "causal"]))
    stride = 1 if mode == "same" else draw(st.integers(1, 3))
    padding = {"int": draw(st.integers(0, 3)), "same": "same", "valid": "valid",
               "causal": 0}[mode]
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
               "causal": mode == "causal"}
    pad_left, pad_right = conv_padding("test", padding, kernel_size, stride, dilation,
                                       mode == "causal")
    shortest = max(1, dilation * (kernel_size - 1) + 1 - pad_left - pad_right)
    steps = draw(st.integers(shortest, shortest + 5))
    batch = draw(st.integers(1, 3))
    x = draw(S.float_arrays((batch, in_channels, steps), dtype))
    weight = draw(S.float_arrays((out_channels, in_channels // groups, kernel_size), dtype))
    bias = draw(st.none() | S.float_arrays((out_channels,), dtype))
    lengths = draw(st.none() | st.lists(st.integers(shortest, steps), min_size=batch,
                                        max_size=batch))
    return x, weight, bias, options, lengths


def reference_conv1d(x, weight, bias, stride, padding, dilation, groups, causal, lengths):
    """Each row convolved on its own, unpadded, by plain loops; zeros past its output."""
    batch, in_channels, steps = x.shape
    out_channels, per_group, kernel_size = weight.shape
    pad_left, pad_right = conv_padding("ref", padding, kernel_size, stride, dilation, causal)
    span = dilation * (kernel_size - 1) + 1
    out_steps = (steps + pad_left + pad_right - span) // stride + 1
    lengths = [steps] * batch if lengths is None else lengths
    out = np.zeros((batch, out_channels, out_steps))
    out_per_group = out_channels // groups
    for b in range(batch):
        row = np.pad(x[b, :, :lengths[b]], ((0, 0), (pad_left, pad_right)))
        valid = (row.shape[1] - span) // stride + 1
        for o in range(out_channels):
            first = (o // out_per_group) * per_group
            for t in range(valid):
                taps = row[first:first + per_group, t * stride:t * stride + span:dilation]
                out[b, o, t] = np.sum(taps * weight[o]) + (0.0 if bias is None else bias[o])
    return out


@given(conv_cases())
def test_forward_matches_each_unpadded_row_convolved_alone(case):
    x, weight, bias, options, lengths = case
    got = F.conv1d(x, weight, bias, **options, lengths=lengths)
    want = reference_conv1d(x, weight, bias, **options, lengths=lengths)
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


@given(conv_cases())
def test_gradient_matches_central_differences(case):
    x, weight, bias, options, lengths = case
    gradcheck(lambda *args: F.conv1d(*args, **options, lengths=lengths), [x, weight, bias])


@given(conv_cases(dtype=np.float32))
def test_float32_stays_float32_and_agrees_with_float64(case):
    x, weight, bias, options, lengths = case
    leaves32 = [None if a is None else numrnn.tensor(a, requires_grad=True)
                for a in (x, weight, bias)]
    leaves64 = [None if a is None else numrnn.tensor(a.astype(np.float64), requires_grad=True)
                for a in (x, weight, bias)]
    y32 = F.conv1d(*leaves32, **options, lengths=lengths)
    y64 = F.conv1d(*leaves64, **options, lengths=lengths)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-4, atol=1e-4)
    seed = np.cos(np.arange(y32.size)).reshape(y32.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    for t32, t64 in zip(leaves32, leaves64):
        if t32 is not None:
            assert t32.grad.dtype == np.float32
            np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-4)


def test_unbatched_input_is_one_row_without_the_batch_axis():
    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal((3, 9)), rng.standard_normal((4, 3, 2))
    unbatched = F.conv1d(x, weight, stride=2, padding=1)
    batched = F.conv1d(x[None], weight, stride=2, padding=1)
    assert unbatched.shape == (4, 5)
    np.testing.assert_array_equal(unbatched.data, batched.data[0])


def test_causal_output_never_sees_later_inputs():
    rng = np.random.default_rng(1)
    x = numrnn.tensor(rng.standard_normal((1, 2, 12)), requires_grad=True)
    weight = rng.standard_normal((3, 2, 3))
    y = F.conv1d(x, weight, dilation=2, causal=True)
    assert y.shape == (1, 3, 12)
    y[0, :, 5].sum().backward()
    assert np.all(x.grad[..., 6:] == 0)
    assert np.all(x.grad[..., [1, 3, 5]] != 0)


def test_padded_positions_past_a_length_do_not_leak_into_valid_outputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 10))
    weight, bias = rng.standard_normal((4, 3, 3)), rng.standard_normal(4)
    noisy = x.copy()
    noisy[1, :, 6:] = 1e3
    clean = F.conv1d(x, weight, bias, padding=1, lengths=[10, 6]).data
    dirty = F.conv1d(noisy, weight, bias, padding=1, lengths=[10, 6]).data
    np.testing.assert_array_equal(clean, dirty)
    alone = F.conv1d(x[1:, :, :6], weight, bias, padding=1).data
    np.testing.assert_allclose(dirty[1, :, :6], alone[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(dirty[1, :, 6:], 0.0)


def test_output_lengths_follow_the_output_size_formula():
    np.testing.assert_array_equal(F.output_lengths([10, 7, 3], 3, stride=2, padding=(1, 1)),
                                  [5, 4, 2])
    np.testing.assert_array_equal(F.output_lengths([10, 1], 3, dilation=2, padding=(4, 0)),
                                  [10, 1])
    with pytest.raises(ShapeError, match=r"row 1 has 2 valid step\(s\), padded to 2, shorter "
                                         r"than the window of 3"):
        F.output_lengths([5, 2], 3)
    with pytest.raises(DTypeError, match="lengths must be integers, got dtype float64"):
        F.output_lengths(np.array([5.0]), 3)


def test_refuses_bad_arguments_naming_expected_and_got():
    x, weight = np.zeros((2, 4, 8)), np.zeros((6, 2, 3))
    with pytest.raises(ShapeError, match=r"input must have 4 channels \(weight's 2 per group "
                                         r"x groups=2\), got 3"):
        F.conv1d(np.zeros((2, 3, 8)), weight, groups=2)
    with pytest.raises(ShapeError, match="6 output channels must be a multiple of groups=4"):
        F.conv1d(np.zeros((2, 4, 8)), np.zeros((6, 1, 3)), groups=4)
    with pytest.raises(ShapeError, match=r"weight must be 3-D \(C_out, C_in / groups, K\), "
                                         r"got 2-D"):
        F.conv1d(x, np.zeros((6, 4)))
    with pytest.raises(ShapeError, match=r"input must be 3-D \(B, C_in, L\) or 2-D"):
        F.conv1d(np.zeros(8), weight)
    with pytest.raises(ShapeError, match=r"bias must have shape \(6,\), got \(5,\)"):
        F.conv1d(x, weight, np.zeros(5), groups=2)
    with pytest.raises(DTypeError, match="weight must have dtype float64 like the input, "
                                         "got float32"):
        F.conv1d(x, weight.astype(np.float32), groups=2)
    with pytest.raises(ShapeError, match=r"input of 2 step\(s\), padded to 2, is shorter than "
                                         r"the window of 5"):
        F.conv1d(np.zeros((1, 4, 2)), np.zeros((6, 4, 3)), dilation=2)
    with pytest.raises(ShapeError, match=r"input must have at least one step, got shape "
                                         r"\(2, 4, 0\)"):
        F.conv1d(np.zeros((2, 4, 0)), weight, padding=2, groups=2)
    with pytest.raises(ArgumentError, match="stride must be a positive int, got 0"):
        F.conv1d(x, weight, stride=0, groups=2)
    with pytest.raises(ArgumentError, match="padding must be an int, 'same' or 'valid', "
                                            "got 'full'"):
        F.conv1d(x, weight, padding="full", groups=2)
    with pytest.raises(ArgumentError, match="padding='same' needs stride=1"):
        F.conv1d(x, weight, stride=2, padding="same", groups=2)
    with pytest.raises(ArgumentError, match="causal=True pads 2 position"):
        F.conv1d(x, weight, padding=1, causal=True, groups=2)
    with pytest.raises(ShapeError, match=r"every length must be in 1..8"):
        F.conv1d(x, weight, groups=2, lengths=[8, 9])
    with pytest.raises(ShapeError, match=r"row 1 has 1 valid step\(s\)"):
        F.conv1d(x, weight, groups=2, lengths=[8, 1])
    with pytest.raises(ArgumentError, match="lengths needs a batched"):
        F.conv1d(x[0], weight, groups=2, lengths=[8])
