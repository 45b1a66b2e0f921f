"""The conv1d and pool1d kernels called directly: each backward kernel is the exact
adjoint (transpose) of its forward, <forward(x), v> == <x, backward(v)>, for every
geometry and per-row length, and unfold agrees with plain NumPy slicing."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numrnn.kernels import conv1d, pool1d


@st.composite
def geometries(draw):
    """``(batch, channels, steps, kernel_size, stride, dilation, pad_left, out_steps, lengths)``."""
    kernel_size, stride, dilation = (draw(st.integers(1, 4)) for _ in range(3))
    pad_left = draw(st.integers(0, dilation * (kernel_size - 1)))
    pad_right = draw(st.integers(0, 3))
    span = dilation * (kernel_size - 1) + 1
    shortest = max(1, span - pad_left - pad_right)
    steps = draw(st.integers(shortest, shortest + 8))
    out_steps = (steps + pad_left + pad_right - span) // stride + 1
    batch, channels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lengths = np.array(draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch)))
    return batch, channels, steps, kernel_size, stride, dilation, pad_left, out_steps, lengths


@given(geometries(), st.integers(0, 2**32 - 1))
def test_unfold_reads_each_window_and_fold_is_its_adjoint(geometry, seed):
    batch, channels, steps, kernel_size, stride, dilation, pad_left, out_steps, lengths = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, steps))
    cols = conv1d.unfold(x, lengths, kernel_size, stride, dilation, pad_left, out_steps)
    masked = x * (np.arange(steps) < lengths[:, None, None])
    padded = np.pad(masked, ((0, 0), (0, 0), (pad_left, stride * out_steps + dilation *
                                                      kernel_size)))
    for t in range(out_steps):
        window = padded[:, :, t * stride:t * stride + dilation * (kernel_size - 1) + 1:dilation]
        np.testing.assert_array_equal(cols[t::out_steps].reshape(window.shape), window)
    v = rng.standard_normal(cols.shape)
    grad_x = conv1d.fold(v, lengths, channels, steps, kernel_size, stride, dilation, pad_left,
                         out_steps)
    np.testing.assert_allclose(np.sum(cols * v), np.sum(x * grad_x), rtol=1e-12, atol=1e-12)


@given(geometries(), st.integers(0, 2**32 - 1))
def test_channel_layout_kernels_are_adjoint(geometry, seed):
    batch, _, _, _, _, _, _, out_steps, lengths = geometry
    rng = np.random.default_rng(seed)
    out_lengths = np.minimum(lengths, out_steps)
    rows = rng.standard_normal((batch * out_steps, 5))
    y = conv1d.rows_to_channels_first(rows, np.zeros(5), out_lengths, out_steps)
    v = rng.standard_normal(y.shape)
    back = conv1d.channels_first_to_rows(v, out_lengths)
    np.testing.assert_allclose(np.sum(y * v), np.sum(rows * back), rtol=1e-12, atol=1e-12)


@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**32 - 1), st.booleans())
def test_pool_backward_kernels_are_adjoint_to_the_forward(kernel_size, stride, seed, include):
    rng = np.random.default_rng(seed)
    padding = int(rng.integers(0, kernel_size // 2 + 1))
    steps = int(rng.integers(max(1, kernel_size - 2 * padding), 12))
    lengths = rng.integers(max(1, kernel_size - 2 * padding), steps + 1, 3)
    out_steps = (steps + 2 * padding - kernel_size) // stride + 1
    out_lengths = (lengths + 2 * padding - kernel_size) // stride + 1
    x = rng.standard_normal((3, 2, steps))
    v = rng.standard_normal((3, 2, out_steps))
    y = pool1d.avg_pool_forward(x, lengths, kernel_size, stride, padding, out_steps,
                                out_lengths, include)
    grad_x = pool1d.avg_pool_backward(v, lengths, kernel_size, stride, padding, steps,
                                      out_lengths, include)
    np.testing.assert_allclose(np.sum(y * v), np.sum(x * grad_x), rtol=1e-12, atol=1e-12)
    y, argmax = pool1d.max_pool_forward(x, lengths, kernel_size, stride, padding, out_steps,
                                        out_lengths)
    valid = argmax >= 0
    assert np.all(argmax < lengths[:, None, None])
    assert np.all(valid == (np.arange(out_steps) < out_lengths[:, None, None]))
    np.testing.assert_array_equal(y[valid], np.take_along_axis(x, np.maximum(argmax, 0),
                                                               axis=2)[valid])
    grad_x = pool1d.max_pool_backward(v, argmax, steps)
    np.testing.assert_allclose(np.sum(y * v), np.sum(x * grad_x), rtol=1e-12, atol=1e-12)
