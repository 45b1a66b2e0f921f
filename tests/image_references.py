"""Conv2d and the 2-D pools rebuilt from primitive tape ops, and random configurations.

The references unfold an image by fancy indexing (``x[:, :, rows, cols]`` with
index grids of shape (kH, kW, H_out, W_out)) into its windows, then reduce them
with ``matmul`` (convolution), ``max`` or ``sum`` (pools): every step is a
primitive op whose gradient is tested on its own, so comparing the fused ops'
outputs and gradients with these checks the hand-written kernels.
"""

import numpy as np
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.functional.windows2d import conv2d_padding
from numrnn.testing import strategies as S


def pad_constant(x, padding, value):
    """``x`` (N, C, H, W) with ``((top, bottom), (left, right))`` rows/columns of ``value``."""
    (top, bottom), (left, right) = padding
    n, c, h, w = x.shape
    parts = [numrnn.tensor(np.full((n, c, top, w), value, dtype=x.dtype)), x,
             numrnn.tensor(np.full((n, c, bottom, w), value, dtype=x.dtype))]
    x = F.concatenate(parts, axis=2)
    h = x.shape[2]
    parts = [numrnn.tensor(np.full((n, c, h, left), value, dtype=x.dtype)), x,
             numrnn.tensor(np.full((n, c, h, right), value, dtype=x.dtype))]
    return F.concatenate(parts, axis=3)


def windows(x, kernel_size, stride, dilation):
    """The windows of an already padded ``x``: shape (N, C, kH, kW, H_out, W_out)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    out_h = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    rows = (np.arange(kh) * dh)[:, None, None, None] + (np.arange(out_h) * sh)[None, None, :, None]
    cols = (np.arange(kw) * dw)[None, :, None, None] + (np.arange(out_w) * sw)[None, None, None, :]
    return x[:, :, rows, cols]


def composed_conv2d(x, weight, bias, stride, padding, dilation, groups):
    """conv2d from pad + windows + one matmul per group + concatenate."""
    pairs = [(v, v) if isinstance(v, int) else tuple(v) for v in (stride, dilation)]
    stride, dilation = pairs
    out_channels, per_group, kh, kw = weight.shape
    pads = conv2d_padding("ref", padding, (kh, kw), stride, dilation)
    cols = windows(pad_constant(x, pads, 0.0), (kh, kw), stride, dilation)
    n, _, _, _, out_h, out_w = cols.shape
    out_per_group = out_channels // groups
    outputs = []
    for g in range(groups):
        group_cols = F.reshape(cols[:, g * per_group:(g + 1) * per_group],
                               (n, per_group * kh * kw, out_h * out_w))
        group_weight = F.reshape(weight[g * out_per_group:(g + 1) * out_per_group],
                                 (out_per_group, per_group * kh * kw))
        outputs.append(F.matmul(group_weight, group_cols))
    y = F.reshape(F.concatenate(outputs, axis=1), (n, out_channels, out_h, out_w))
    return y if bias is None else y + F.reshape(bias, (1, out_channels, 1, 1))


def composed_max_pool2d(x, kernel_size, stride, padding):
    """max_pool2d from -inf padding + windows + max over the window axis."""
    pads = tuple((p, p) for p in padding)
    cols = windows(pad_constant(x, pads, -np.inf), kernel_size, stride, (1, 1))
    n, c, kh, kw, out_h, out_w = cols.shape
    return F.max(F.reshape(cols, (n, c, kh * kw, out_h, out_w)), axis=2)


def composed_avg_pool2d(x, kernel_size, stride, padding, count_include_pad):
    """avg_pool2d from zero padding + windows + sum, over a constant count of each window."""
    pads = tuple((p, p) for p in padding)
    cols = windows(pad_constant(x, pads, 0.0), kernel_size, stride, (1, 1))
    n, c, kh, kw, out_h, out_w = cols.shape
    total = F.sum(F.reshape(cols, (n, c, kh * kw, out_h, out_w)), axis=2)
    if count_include_pad:
        return total / float(kh * kw)
    ones = numrnn.tensor(np.ones((1, 1) + x.shape[2:], dtype=x.dtype))
    inside = windows(pad_constant(ones, pads, 0.0), kernel_size, stride, (1, 1)).data
    return total / inside.reshape(1, 1, kh * kw, out_h, out_w).sum(axis=2)


def composed_adaptive_avg_pool2d(x, out_size):
    """adaptive_avg_pool2d as the mean of each cell's slice, stacked back into a grid."""
    height, width = x.shape[2:]
    out_h, out_w = out_size
    rows = []
    for oy in range(out_h):
        top, bottom = oy * height // out_h, -(-(oy + 1) * height // out_h)
        cells = []
        for ox in range(out_w):
            left, right = ox * width // out_w, -(-(ox + 1) * width // out_w)
            cells.append(F.mean(x[:, :, top:bottom, left:right], axis=(2, 3)))
        rows.append(F.stack(cells, axis=-1))
    return F.stack(rows, axis=-2)


def _pair(draw, low, high):
    return draw(st.integers(low, high)), draw(st.integers(low, high))


@st.composite
def conv2d_cases(draw, dtype=np.float64):
    """``(x, weight, bias, options)`` over every option, sizes kept small."""
    groups = draw(st.integers(1, 2))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel_size = _pair(draw, 1, 3)
    dilation = _pair(draw, 1, 2)
    mode = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = (1, 1) if mode == "same" else _pair(draw, 1, 2)
    padding = {"int": draw(st.integers(0, 2)), "pair": _pair(draw, 0, 2), "same": "same",
               "valid": "valid"}[mode]
    pads = conv2d_padding("test", padding, kernel_size, stride, dilation)
    size = [max(1, d * (k - 1) + 1 - before - after) + draw(st.integers(0, 3))
            for k, d, (before, after) in zip(kernel_size, dilation, pads)]
    batch = draw(st.integers(1, 2))
    x = draw(S.float_arrays((batch, in_channels, *size), dtype))
    weight = draw(S.float_arrays((out_channels, in_channels // groups, *kernel_size), dtype))
    bias = draw(st.none() | S.float_arrays((out_channels,), dtype))
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return x, weight, bias, options


@st.composite
def pool2d_cases(draw, dtype=np.float64, distinct=False):
    """``(x, kernel_size, stride, padding)``; ``distinct`` values avoid ties for max pooling."""
    kernel_size = _pair(draw, 1, 3)
    stride = _pair(draw, 1, 3)
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel_size)
    size = tuple(max(1, k - 2 * p) + draw(st.integers(0, 3))
                 for k, p in zip(kernel_size, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size
    array = S.distinct_float_arrays(shape, dtype) if distinct else S.float_arrays(shape, dtype)
    return draw(array), kernel_size, stride, padding
