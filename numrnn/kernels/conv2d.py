"""A 2-D convolution as one unfold and one GEMM per image, both passes.

A convolution of ``x`` (N, C_in, H, W) with ``weight`` (C_out, C_in/groups, kH,
kW) is, for each image ``n`` and group, one matrix product of the weight seen as
a (C_out/groups, C_in/groups * kH * kW) matrix with the image's unfolded windows
("im2col", one column per output position)::

    cols[(c * kH + i) * kW + j, oy * W_out + ox]
        = x[n, c, oy * sH + i * dH - pad_top, ox * sW + j * dW - pad_left]   (0 outside)
    y[n] = weight2d @ cols + bias                                  (C_out, H_out * W_out)

The product lands in ``y``'s channels-first layout directly, with no transpose.
The backward rebuilds ``cols`` image by image (instead of keeping N times
their memory between the passes) and makes two more products per image:
``grad_weight2d[n]ᵀ = cols @ grad_y[n]ᵀ`` and ``grad_cols = weight2dᵀ @ grad_y[n]``,
folded back onto the image by the adjoint of the unfold. (The weight's product
in that orientation: ``grad_y[n] @ colsᵀ`` measured 1.4-7x slower at N=32,
16→32 channels, 16x16.)

The kernels run in parallel over the images; each image's results come from
one thread, in one fixed order, through single-threaded GEMMs of shapes that do
not depend on the thread count (the caller holds
:func:`~numrnn.kernels.blas_threads.single_threaded_kernel_blas`). The weight
gradient is kept per image and summed over the images afterwards, in image
order. So every result is bit-identical whatever the thread count. Numba does
no bounds checking: :mod:`numrnn.functional.conv2d` checks every size first.
"""

import numpy as np
from numba import prange

from numrnn.kernels.blas import gemm
from numrnn.kernels.jit import inline_kernel, parallel_kernel


@inline_kernel
def _unfold_image(image, cols, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w,
                  pad_top, pad_left, out_h, out_w):
    """``cols[(c * kH + i) * kW + j, oy * W_out + ox] = image[c, y, x]`` (0 outside)."""
    channels, height, width = image.shape
    for c in range(channels):
        for i in range(kernel_h):
            for j in range(kernel_w):
                row = (c * kernel_h + i) * kernel_w + j
                shift = j * dilation_w - pad_left
                for oy in range(out_h):
                    y = oy * stride_h + i * dilation_h - pad_top
                    first = oy * out_w
                    if y < 0 or y >= height:
                        for ox in range(out_w):
                            cols[row, first + ox] = 0.0
                    else:
                        for ox in range(out_w):
                            x = ox * stride_w + shift
                            if 0 <= x < width:
                                cols[row, first + ox] = image[c, y, x]
                            else:
                                cols[row, first + ox] = 0.0


@inline_kernel
def _fold_image(grad_cols, grad_image, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
                dilation_w, pad_top, pad_left, out_h, out_w):
    """The adjoint of :func:`_unfold_image`: ``grad_image[c, y, x] +=`` every column
    entry read from there, in increasing (i, j, oy, ox)."""
    channels, height, width = grad_image.shape
    for c in range(channels):
        for i in range(kernel_h):
            for j in range(kernel_w):
                row = (c * kernel_h + i) * kernel_w + j
                shift = j * dilation_w - pad_left
                for oy in range(out_h):
                    y = oy * stride_h + i * dilation_h - pad_top
                    if 0 <= y < height:
                        first = oy * out_w
                        for ox in range(out_w):
                            x = ox * stride_w + shift
                            if 0 <= x < width:
                                grad_image[c, y, x] += grad_cols[row, first + ox]


@parallel_kernel
def forward(x, weight2d, bias, groups, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
            dilation_w, pad_top, pad_left, out_h, out_w):
    """``y[n, o] = bias[o] + weight2d[o] @ cols(n)`` over ``o``'s group's rows of ``cols``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), float32 or float64, C-contiguous
    weight2d : ndarray, shape (C_out, C_in / groups * kH * kW), dtype of ``x``, C-contiguous
    bias : ndarray, shape (C_out,), dtype of ``x`` (zeros for no bias)
    groups, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w : int >= 1
    pad_top, pad_left : int >= 0
        Zeros before the first row and column; those after the last are implied
        by ``out_h`` and ``out_w``.
    out_h, out_w : int >= 1

    Returns
    -------
    y : ndarray, shape (N, C_out, H_out * W_out), dtype of ``x``
    """
    batch, channels = x.shape[0], x.shape[1]
    out_channels, group_taps = weight2d.shape
    group_out = out_channels // groups
    positions = out_h * out_w
    y = np.empty((batch, out_channels, positions), dtype=x.dtype)
    for n in prange(batch):
        cols = np.empty((channels * kernel_h * kernel_w, positions), dtype=x.dtype)
        _unfold_image(x[n], cols, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
                      dilation_w, pad_top, pad_left, out_h, out_w)
        out = y[n]
        for g in range(groups):
            gemm(weight2d[g * group_out:(g + 1) * group_out],
                 cols[g * group_taps:(g + 1) * group_taps],
                 out[g * group_out:(g + 1) * group_out])
        for o in range(out_channels):
            shift = bias[o]
            for p in range(positions):
                out[o, p] += shift
    return y


@parallel_kernel
def backward(x, weight2d, grad_y, groups, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
             dilation_w, pad_top, pad_left, out_h, out_w, needs_x, needs_weight):
    """The input's and the weight's gradients of :func:`forward`.

    ``grad_x[n] = fold(weight2dᵀ @ grad_y[n])`` (group by group) and
    ``grad_weight2d = sum over n, in order, of (cols(n) @ grad_y[n]ᵀ)ᵀ``.

    Parameters
    ----------
    x, weight2d, groups, ... out_w
        As given to :func:`forward`.
    grad_y : ndarray, shape (N, C_out, H_out * W_out), dtype of ``x``, C-contiguous
    needs_x, needs_weight : bool
        Which gradients to compute; the other comes back as an empty array.

    Returns
    -------
    grad_x : ndarray, shape (N, C_in, H, W), or (0, 0, 0, 0) without ``needs_x``
    grad_weight2d : ndarray, shape (C_out, C_in / groups * kH * kW), or (0, 0)
    """
    batch, channels, height, width = x.shape
    out_channels, group_taps = weight2d.shape
    group_out = out_channels // groups
    positions = out_h * out_w
    taps = channels * kernel_h * kernel_w
    if needs_x:
        grad_x = np.zeros((batch, channels, height, width), dtype=x.dtype)
    else:
        grad_x = np.zeros((0, 0, 0, 0), dtype=x.dtype)
    per_image = np.empty((batch if needs_weight else 0, groups, group_taps, group_out),
                         dtype=x.dtype)
    # Two loops rather than one doing both per image: measured 2.4 times faster
    # (median) at N=32, 16->32 channels, 16x16, on the loaded development machine.
    if needs_weight:
        for n in prange(batch):
            cols = np.empty((taps, positions), dtype=x.dtype)
            _unfold_image(x[n], cols, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
                          dilation_w, pad_top, pad_left, out_h, out_w)
            grad_out = grad_y[n]
            for g in range(groups):
                gemm(cols[g * group_taps:(g + 1) * group_taps],
                     grad_out[g * group_out:(g + 1) * group_out].T, per_image[n, g])
    if needs_x:
        for n in prange(batch):
            grad_cols = np.empty((taps, positions), dtype=x.dtype)
            grad_out = grad_y[n]
            for g in range(groups):
                gemm(weight2d[g * group_out:(g + 1) * group_out].T,
                     grad_out[g * group_out:(g + 1) * group_out],
                     grad_cols[g * group_taps:(g + 1) * group_taps])
            _fold_image(grad_cols, grad_x[n], kernel_h, kernel_w, stride_h, stride_w,
                        dilation_h, dilation_w, pad_top, pad_left, out_h, out_w)
    # Summed in the products' own layout, then transposed once: the same sums in
    # the same order as adding each transposed product, without strided reads
    # (the weight gradient alone 1.23-1.27 ms against 1.30-1.39 ms at N=32,
    # 16->32 channels, 16x16, one thread: perf/conv2d_parts.py).
    summed = np.zeros((groups, group_taps, group_out), dtype=x.dtype)
    for n in range(per_image.shape[0]):
        for g in range(groups):
            for tap in range(group_taps):
                for o in range(group_out):
                    summed[g, tap, o] += per_image[n, g, tap, o]
    grad_weight2d = np.empty((out_channels if needs_weight else 0, group_taps), dtype=x.dtype)
    for g in range(groups if needs_weight else 0):
        grad_weight2d[g * group_out:(g + 1) * group_out] = summed[g].T
    return grad_x, grad_weight2d
