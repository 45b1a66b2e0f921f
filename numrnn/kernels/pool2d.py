"""Max, average and adaptive average pooling over the last two axes of (N, C, H, W).

Output ``(oy, ox)`` of a plane pools the window of rows ``oy * sH - pad_top +
i`` (``i < kH``) and columns ``ox * sW - pad_left + j`` (``j < kW``). Positions
outside the plane are padding: they never win a max (PyTorch pads max pooling
with -inf) and add nothing to an average. Adaptive pooling instead splits each
axis into ``out`` windows, window ``k`` covering ``floor(k * H / out)`` up to
``ceil((k + 1) * H / out)``, as PyTorch does.

Each (image, channel) plane is independent; the kernels run in parallel over
the planes, each computed by one thread in a fixed order, so the results do
not depend on the thread count. Numba does no bounds checking: the ops in
:mod:`numrnn.functional.pooling2d` check every size first.
"""

import numpy as np
from numba import prange

from numrnn.kernels.jit import parallel_kernel


@parallel_kernel
def max_pool_forward(x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h,
                     out_w):
    """``y[n, c, oy, ox] = max over the window of x[n, c, y, x]`` and where that max is.

    The first position in row-major order holding the maximum wins; a NaN in
    the window wins over any number, as in PyTorch.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64, C-contiguous
    kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w : int
        Each padding at most half its kernel side, so every window holds a position.

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out), dtype of ``x``
    argmax : ndarray, shape (N, C, H_out, W_out), int64
        ``y * W + x`` of the position each output came from.
    """
    batch, channels, height, width = x.shape
    y = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    argmax = np.empty((batch, channels, out_h, out_w), dtype=np.int64)
    for plane in prange(batch * channels):
        n = plane // channels
        c = plane - n * channels
        for oy in range(out_h):
            top = oy * stride_h - pad_top
            first_row, stop_row = max(top, 0), min(top + kernel_h, height)
            for ox in range(out_w):
                left = ox * stride_w - pad_left
                first_col, stop_col = max(left, 0), min(left + kernel_w, width)
                best = x[n, c, first_row, first_col]
                best_at = first_row * width + first_col
                for row in range(first_row, stop_row):
                    for col in range(first_col, stop_col):
                        value = x[n, c, row, col]
                        # NOTE: best != best is true for NaN only: once a NaN leads, it stays.
                        if (value > best or value != value) and best == best:
                            best = value
                            best_at = row * width + col
                y[n, c, oy, ox] = best
                argmax[n, c, oy, ox] = best_at
    return y, argmax


@parallel_kernel
def max_pool_backward(grad_y, argmax, height, width):
    """The adjoint of :func:`max_pool_forward`: each output's gradient to its winner,
    summed in row-major output order.

    Parameters
    ----------
    grad_y : ndarray, shape (N, C, H_out, W_out), float32 or float64
    argmax : ndarray, shape (N, C, H_out, W_out), int64, from the forward
    height, width : int
        H and W of the input.

    Returns
    -------
    grad_x : ndarray, shape (N, C, H, W), dtype of ``grad_y``
    """
    batch, channels, out_h, out_w = grad_y.shape
    grad_x = np.zeros((batch, channels, height * width), dtype=grad_y.dtype)
    for plane in prange(batch * channels):
        n = plane // channels
        c = plane - n * channels
        for oy in range(out_h):
            for ox in range(out_w):
                grad_x[n, c, argmax[n, c, oy, ox]] += grad_y[n, c, oy, ox]
    return grad_x.reshape((batch, channels, height, width))


@parallel_kernel
def avg_pool_forward(x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h,
                     out_w, count_include_pad):
    """``y[n, c, oy, ox] = (sum over the window of x[n, c, y, x]) / divisor``.

    The divisor is ``kH * kW`` with ``count_include_pad`` (padding counts as
    zeros), else the number of the window's positions inside the plane.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64, C-contiguous
    kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w : int
    count_include_pad : bool

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out), dtype of ``x``
    """
    batch, channels, height, width = x.shape
    y = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    for plane in prange(batch * channels):
        n = plane // channels
        c = plane - n * channels
        for oy in range(out_h):
            top = oy * stride_h - pad_top
            first_row, stop_row = max(top, 0), min(top + kernel_h, height)
            for ox in range(out_w):
                left = ox * stride_w - pad_left
                first_col, stop_col = max(left, 0), min(left + kernel_w, width)
                total = x.dtype.type(0.0)
                for row in range(first_row, stop_row):
                    for col in range(first_col, stop_col):
                        total += x[n, c, row, col]
                divisor = kernel_h * kernel_w if count_include_pad else \
                    (stop_row - first_row) * (stop_col - first_col)
                y[n, c, oy, ox] = total / divisor
    return y


@parallel_kernel
def avg_pool_backward(grad_y, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                      height, width, count_include_pad):
    """The adjoint of :func:`avg_pool_forward`: each output's gradient over its divisor,
    added to every position of its window, in row-major output order.

    Parameters
    ----------
    grad_y : ndarray, shape (N, C, H_out, W_out), float32 or float64
    kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, count_include_pad
        As given to the forward.
    height, width : int
        H and W of the input.

    Returns
    -------
    grad_x : ndarray, shape (N, C, H, W), dtype of ``grad_y``
    """
    batch, channels, out_h, out_w = grad_y.shape
    grad_x = np.zeros((batch, channels, height, width), dtype=grad_y.dtype)
    for plane in prange(batch * channels):
        n = plane // channels
        c = plane - n * channels
        for oy in range(out_h):
            top = oy * stride_h - pad_top
            first_row, stop_row = max(top, 0), min(top + kernel_h, height)
            for ox in range(out_w):
                left = ox * stride_w - pad_left
                first_col, stop_col = max(left, 0), min(left + kernel_w, width)
                divisor = kernel_h * kernel_w if count_include_pad else \
                    (stop_row - first_row) * (stop_col - first_col)
                share = grad_y[n, c, oy, ox] / divisor
                for row in range(first_row, stop_row):
                    for col in range(first_col, stop_col):
                        grad_x[n, c, row, col] += share
    return grad_x


@parallel_kernel
def adaptive_avg_pool_forward(x, out_h, out_w):
    """``y[n, c, oy, ox]`` = the mean of rows ``floor(oy * H / H_out) ..
    ceil((oy + 1) * H / H_out) - 1`` and the columns likewise.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64, C-contiguous
    out_h, out_w : int >= 1

    Returns
    -------
    y : ndarray, shape (N, C, H_out, W_out), dtype of ``x``
    """
    batch, channels, height, width = x.shape
    y = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    for plane in prange(batch * channels):
        n = plane // channels
        c = plane - n * channels
        for oy in range(out_h):
            first_row = (oy * height) // out_h
            stop_row = ((oy + 1) * height + out_h - 1) // out_h
            for ox in range(out_w):
                first_col = (ox * width) // out_w
                stop_col = ((ox + 1) * width + out_w - 1) // out_w
                total = x.dtype.type(0.0)
                for row in range(first_row, stop_row):
                    for col in range(first_col, stop_col):
                        total += x[n, c, row, col]
                y[n, c, oy, ox] = total / ((stop_row - first_row) * (stop_col - first_col))
    return y


@parallel_kernel
def adaptive_avg_pool_backward(grad_y, height, width):
    """The adjoint of :func:`adaptive_avg_pool_forward`, in row-major output order.

    Parameters
    ----------
    grad_y : ndarray, shape (N, C, H_out, W_out), float32 or float64
    height, width : int
        H and W of the input.

    Returns
    -------
    grad_x : ndarray, shape (N, C, H, W), dtype of ``grad_y``
    """
    batch, channels, out_h, out_w = grad_y.shape
    grad_x = np.zeros((batch, channels, height, width), dtype=grad_y.dtype)
    for plane in prange(batch * channels):
        n = plane // channels
        c = plane - n * channels
        for oy in range(out_h):
            first_row = (oy * height) // out_h
            stop_row = ((oy + 1) * height + out_h - 1) // out_h
            for ox in range(out_w):
                first_col = (ox * width) // out_w
                stop_col = ((ox + 1) * width + out_w - 1) // out_w
                share = grad_y[n, c, oy, ox] / ((stop_row - first_row) * (stop_col - first_col))
                for row in range(first_row, stop_row):
                    for col in range(first_col, stop_col):
                        grad_x[n, c, row, col] += share
    return grad_x
