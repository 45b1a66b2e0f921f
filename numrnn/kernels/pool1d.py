"""Max and average pooling over the last axis of a (B, C, L) array, and their adjoints.

Output position ``t`` of a row pools the window of positions
``p = t * stride - padding + k`` for ``k`` in ``0 .. K - 1``. A position outside
``0 .. lengths[b] - 1`` is padding: it never wins a max (PyTorch pads max
pooling with -inf) and adds nothing to an average. So a padded batch row gives,
at its valid outputs, what its unpadded sequence gives; outputs at or past
``out_lengths[b]`` are zero and pass no gradient back.

Each (batch row, channel) pair is an independent line, and the kernels run in
parallel over those lines, each writing only its own, in a fixed order: the
results do not depend on the thread count. Numba does no bounds checking: the
ops in :mod:`numrnn.functional.pooling` check every size first.
"""

import numpy as np
from numba import prange

from numrnn.kernels.jit import inline_kernel, parallel_kernel


@parallel_kernel
def max_pool_forward(x, lengths, kernel_size, stride, padding, out_steps, out_lengths):
    """``y[b, c, t] = max over the window of x[b, c, p]`` and where that max is.

    The first position holding the maximum wins; a NaN in the window wins over
    any number, as in PyTorch.

    Parameters
    ----------
    x : ndarray, shape (B, C, L), float32 or float64, C-contiguous
    lengths : ndarray, shape (B,), int64, each in ``1 .. L``
    kernel_size, stride, padding, out_steps : int
        ``padding <= kernel_size // 2``, so every valid window holds a position.
    out_lengths : ndarray, shape (B,), int64, each in ``1 .. out_steps``

    Returns
    -------
    y : ndarray, shape (B, C, L_out), dtype of ``x``
    argmax : ndarray, shape (B, C, L_out), int64
        The position in ``0 .. L - 1`` each output came from; -1 past
        ``out_lengths[b]``.
    """
    batch, channels, _ = x.shape
    y = np.zeros((batch, channels, out_steps), dtype=x.dtype)
    argmax = np.full((batch, channels, out_steps), -1, dtype=np.int64)
    for line in prange(batch * channels):
        b = line // channels
        c = line - b * channels
        length = lengths[b]
        for t in range(out_lengths[b]):
            start = t * stride - padding
            first = max(start, 0)
            stop = min(start + kernel_size, length)
            best = x[b, c, first]
            best_at = first
            for position in range(first + 1, stop):
                value = x[b, c, position]
                # NOTE: best != best is true for NaN only: once a NaN leads, it stays.
                if (value > best or value != value) and best == best:
                    best = value
                    best_at = position
            y[b, c, t] = best
            argmax[b, c, t] = best_at
    return y, argmax


@parallel_kernel
def max_pool_backward(grad_y, argmax, steps):
    """The adjoint of :func:`max_pool_forward`: each output's gradient to its winner.

    ``grad_x[b, c, p] = sum over t with argmax[b, c, t] == p of grad_y[b, c, t]``,
    summed in increasing ``t``.

    Parameters
    ----------
    grad_y : ndarray, shape (B, C, L_out), float32 or float64
    argmax : ndarray, shape (B, C, L_out), int64, from the forward
    steps : int
        L of the input.

    Returns
    -------
    grad_x : ndarray, shape (B, C, L), dtype of ``grad_y``
    """
    batch, channels, out_steps = grad_y.shape
    grad_x = np.zeros((batch, channels, steps), dtype=grad_y.dtype)
    for line in prange(batch * channels):
        b = line // channels
        c = line - b * channels
        for t in range(out_steps):
            position = argmax[b, c, t]
            if position >= 0:
                grad_x[b, c, position] += grad_y[b, c, t]
    return grad_x


@inline_kernel
def _window_divisor(start, kernel_size, length, count_include_pad):
    """What a window's sum is divided by: K, or its number of valid positions."""
    if count_include_pad:
        return kernel_size
    return min(start + kernel_size, length) - max(start, 0)


@parallel_kernel
def avg_pool_forward(x, lengths, kernel_size, stride, padding, out_steps, out_lengths,
                     count_include_pad):
    """``y[b, c, t] = (sum over the window of x[b, c, p]) / divisor``.

    The divisor is ``K`` with ``count_include_pad`` (padding counts as zeros),
    else the number of the window's positions inside ``0 .. lengths[b] - 1``.

    Parameters
    ----------
    x : ndarray, shape (B, C, L), float32 or float64, C-contiguous
    lengths : ndarray, shape (B,), int64, each in ``1 .. L``
    kernel_size, stride, padding, out_steps : int
        ``padding <= kernel_size // 2``, so every valid window holds a position.
    out_lengths : ndarray, shape (B,), int64, each in ``1 .. out_steps``
    count_include_pad : bool

    Returns
    -------
    y : ndarray, shape (B, C, L_out), dtype of ``x``
    """
    batch, channels, _ = x.shape
    y = np.zeros((batch, channels, out_steps), dtype=x.dtype)
    for line in prange(batch * channels):
        b = line // channels
        c = line - b * channels
        length = lengths[b]
        for t in range(out_lengths[b]):
            start = t * stride - padding
            total = x.dtype.type(0.0)
            for position in range(max(start, 0), min(start + kernel_size, length)):
                total += x[b, c, position]
            y[b, c, t] = total / _window_divisor(start, kernel_size, length, count_include_pad)
    return y


@parallel_kernel
def avg_pool_backward(grad_y, lengths, kernel_size, stride, padding, steps, out_lengths,
                      count_include_pad):
    """The adjoint of :func:`avg_pool_forward`.

    ``grad_x[b, c, p] = sum over windows t holding p of grad_y[b, c, t] / divisor(t)``,
    summed in increasing ``t``.

    Parameters
    ----------
    grad_y : ndarray, shape (B, C, L_out), float32 or float64
    lengths, kernel_size, stride, padding, out_lengths, count_include_pad
        As given to the forward.
    steps : int
        L of the input.

    Returns
    -------
    grad_x : ndarray, shape (B, C, L), dtype of ``grad_y``
    """
    batch, channels, _ = grad_y.shape
    grad_x = np.zeros((batch, channels, steps), dtype=grad_y.dtype)
    for line in prange(batch * channels):
        b = line // channels
        c = line - b * channels
        length = lengths[b]
        for t in range(out_lengths[b]):
            start = t * stride - padding
            share = grad_y[b, c, t] / _window_divisor(start, kernel_size, length,
                                                      count_include_pad)
            for position in range(max(start, 0), min(start + kernel_size, length)):
                grad_x[b, c, position] += share
    return grad_x
