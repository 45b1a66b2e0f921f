"""Unfold and fold: the kernels around the GEMMs of a 1-D convolution.

A convolution of ``x`` (B, C_in, L) with ``weight`` (C_out, C_in/groups, K) is,
per group, one matrix product of the unfolded input ("im2col") with the
weight seen as a (C_out, C_in/groups * K) matrix::

    cols[b * L_out + t, c * K + k] = x[b, c, t * stride + k * dilation - pad_left]
    y_rows = cols @ weight2dᵀ                                   (B * L_out, C_out)

and its backward is two more products and the adjoint of the unfold (fold):
``grad_cols = grad_rows @ weight2d``, ``grad_weight2d = grad_rowsᵀ @ cols``,
``grad_x = fold(grad_cols)``. The products run in
:func:`numrnn.kernels.gemm.matmul`; the kernels here move the data around them.

A row's positions at or past ``lengths[b]`` read as the zero padding, so a
padded batch row gives, at its valid output positions, exactly what its
unpadded sequence gives; output positions at or past ``out_lengths[b]`` are
zero and their gradient is dropped.

Every kernel runs in parallel over the batch rows, and each row writes only its
own part of the result in a fixed order, so results do not depend on the thread
count. Numba does no bounds checking: the op in
:mod:`numrnn.functional.conv` checks every size first.
"""

import numpy as np
from numba import prange

from numrnn.kernels.jit import parallel_kernel


@parallel_kernel
def unfold(x, lengths, kernel_size, stride, dilation, pad_left, out_steps):
    """The windows of ``x`` as rows: the left factor of the forward product.

    ``cols[b * L_out + t, c * K + k] = x[b, c, p]`` with ``p = t * stride +
    k * dilation - pad_left`` when ``0 <= p < lengths[b]``, else 0.

    Parameters
    ----------
    x : ndarray, shape (B, C, L), float32 or float64, C-contiguous
    lengths : ndarray, shape (B,), int64
        Each in ``0 .. L``: positions from ``lengths[b]`` on read as zeros.
    kernel_size, stride, dilation, pad_left, out_steps : int
        ``out_steps`` is L_out.

    Returns
    -------
    cols : ndarray, shape (B * L_out, C * K), dtype of ``x``
    """
    batch, channels, _ = x.shape
    cols = np.empty((batch * out_steps, channels * kernel_size), dtype=x.dtype)
    for b in prange(batch):
        length = lengths[b]
        for t in range(out_steps):
            row = b * out_steps + t
            start = t * stride - pad_left
            for c in range(channels):
                base = c * kernel_size
                for k in range(kernel_size):
                    position = start + k * dilation
                    if 0 <= position < length:
                        cols[row, base + k] = x[b, c, position]
                    else:
                        cols[row, base + k] = 0.0
    return cols


@parallel_kernel
def fold(grad_cols, lengths, channels, steps, kernel_size, stride, dilation, pad_left,
         out_steps):
    """The adjoint of :func:`unfold`: each window's gradient summed back onto ``x``.

    ``grad_x[b, c, p] = sum over (t, k) with t * stride + k * dilation - pad_left == p
    of grad_cols[b * L_out + t, c * K + k]``, for ``p < lengths[b]`` (0 past it),
    summed in increasing ``t``, then ``k``.

    Parameters
    ----------
    grad_cols : ndarray, shape (B * L_out, C * K), float32 or float64
    lengths : ndarray, shape (B,), int64, each in ``0 .. steps``
    channels, steps : int
        C and L of the input.
    kernel_size, stride, dilation, pad_left, out_steps : int

    Returns
    -------
    grad_x : ndarray, shape (B, C, L), dtype of ``grad_cols``
    """
    batch = lengths.shape[0]
    grad_x = np.zeros((batch, channels, steps), dtype=grad_cols.dtype)
    for b in prange(batch):
        length = lengths[b]
        for t in range(out_steps):
            row = b * out_steps + t
            start = t * stride - pad_left
            for c in range(channels):
                base = c * kernel_size
                for k in range(kernel_size):
                    position = start + k * dilation
                    if 0 <= position < length:
                        grad_x[b, c, position] += grad_cols[row, base + k]
    return grad_x


@parallel_kernel
def rows_to_channels_first(rows, bias, out_lengths, out_steps):
    """The product's rows as a (B, C_out, L_out) output, plus the bias.

    ``y[b, o, t] = rows[b * L_out + t, o] + bias[o]`` for ``t < out_lengths[b]``,
    else 0.

    Parameters
    ----------
    rows : ndarray, shape (B * L_out, C_out), float32 or float64
    bias : ndarray, shape (C_out,), dtype of ``rows`` (zeros for no bias)
    out_lengths : ndarray, shape (B,), int64, each in ``0 .. L_out``
    out_steps : int

    Returns
    -------
    y : ndarray, shape (B, C_out, L_out), dtype of ``rows``
    """
    batch = out_lengths.shape[0]
    channels = rows.shape[1]
    y = np.zeros((batch, channels, out_steps), dtype=rows.dtype)
    for b in prange(batch):
        for t in range(out_lengths[b]):
            row = b * out_steps + t
            for o in range(channels):
                y[b, o, t] = rows[row, o] + bias[o]
    return y


@parallel_kernel
def channels_first_to_rows(grad_y, out_lengths):
    """The adjoint of :func:`rows_to_channels_first` without the bias.

    ``grad_rows[b * L_out + t, o] = grad_y[b, o, t]`` for ``t < out_lengths[b]``,
    else 0 (those outputs were set to zero, so nothing flows back from them).

    Parameters
    ----------
    grad_y : ndarray, shape (B, C_out, L_out), float32 or float64
    out_lengths : ndarray, shape (B,), int64, each in ``0 .. L_out``

    Returns
    -------
    grad_rows : ndarray, shape (B * L_out, C_out), dtype of ``grad_y``
    """
    batch, channels, out_steps = grad_y.shape
    grad_rows = np.zeros((batch * out_steps, channels), dtype=grad_y.dtype)
    for b in prange(batch):
        for t in range(out_lengths[b]):
            row = b * out_steps + t
            for o in range(channels):
                grad_rows[row, o] = grad_y[b, o, t]
    return grad_rows
