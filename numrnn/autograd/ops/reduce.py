"""Reductions over axes: sum, mean, max, min.

``axis`` is ``None`` (every axis), an int or a tuple of ints, negative ones
counting from the end, as in NumPy; ``sum`` and ``mean`` also take PyTorch's
``dim``/``keepdim`` for them. Each backward first puts the reduced axes
back as size-1 dimensions (:func:`_restore_axes`) and then broadcasts, so the
same rule serves ``keepdims=True`` and ``False``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import (
    axis_or_dim,
    coerce,
    keepdims_or_keepdim,
    normalize_axes,
)
from numrnn.errors import ArgumentTypeError, ShapeError

if TYPE_CHECKING:
    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Axis, TensorLike


def _restore_axes(grad, axes, keepdims):
    return grad if keepdims else np.expand_dims(grad, axes)


def _spread(grad, shape):
    # A broadcast view is read-only and aliases one value many times; give the
    # next backward (or a leaf's .grad) an ordinary array it may write into.
    return np.broadcast_to(grad, shape).copy()


class Sum(Function):
    @staticmethod
    def forward(ctx, x, *, axes, keepdims):
        ctx.save(x.shape, axes, keepdims)
        return np.asarray(np.sum(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims = ctx.saved
        return _spread(_restore_axes(grad, axes, keepdims), shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, *, axes, keepdims):
        count = math.prod(x.shape[a] for a in axes)
        ctx.save(x.shape, axes, keepdims, count)
        return np.asarray(np.mean(x, axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        shape, axes, keepdims, count = ctx.saved
        return _spread(_restore_axes(grad, axes, keepdims) / count, shape)


class Max(Function):
    """Largest entry (``np.min`` as ``extreme``: smallest); the gradient is split evenly
    among the entries tied for it.

    Splitting (rather than picking one winner) keeps the rule symmetric in its
    inputs and makes the gradient sum to the incoming one, as for ``amax`` in
    PyTorch. A NaN along an axis is the maximum (or minimum) there, and gets the gradient.
    """

    @staticmethod
    def forward(ctx, x, *, axes, keepdims, extreme=np.max):
        peak = np.asarray(extreme(x, axis=axes, keepdims=True))
        is_peak = x == peak
        nan_peak = np.isnan(peak)
        if nan_peak.any():
            is_peak |= np.isnan(x) & nan_peak
        ties = np.sum(is_peak, axis=axes, keepdims=True).astype(x.dtype)
        ctx.save(is_peak, ties, axes, keepdims)
        return peak if keepdims else np.asarray(np.squeeze(peak, axis=axes))

    @staticmethod
    def backward(ctx, grad):
        is_peak, ties, axes, keepdims = ctx.saved
        return is_peak * (_restore_axes(grad, axes, keepdims) / ties)


def _check_keepdims(name, keepdims):
    if not isinstance(keepdims, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name}: keepdims must be True or False, got {keepdims!r}")
    return bool(keepdims)


def _reduction_args(name, x, axis, keepdims, allow_empty):
    (x,) = coerce(name, x)
    axes = normalize_axes(name, axis, x.ndim)
    keepdims = _check_keepdims(name, keepdims)
    if not allow_empty:
        empty = [a for a in axes if x.shape[a] == 0]
        if empty:
            raise ShapeError(
                f"{name}: cannot reduce over axis {empty[0]} of size 0 (tensor shape {x.shape})"
            )
    return x, axes, keepdims


def sum(x: TensorLike, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Sum over ``axis`` (None: all axes; an int or a tuple of ints).

    ``dim`` and ``keepdim`` are PyTorch's names for ``axis`` and ``keepdims``
    (``torch.sum(x, dim=1, keepdim=True)``); one of each pair may be given.
    """
    axis = axis_or_dim("sum", axis, dim)
    keepdims = keepdims_or_keepdim("sum", keepdims, keepdim)
    x, axes, keepdims = _reduction_args("sum", x, axis, keepdims, allow_empty=True)
    return Sum.apply(x, axes=axes, keepdims=keepdims)


def mean(x: TensorLike, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
         keepdim: bool | None = None) -> Tensor:
    """Arithmetic mean over ``axis``; averaging over a size-0 axis is refused.

    Takes PyTorch's ``dim``/``keepdim`` as :func:`sum` does.
    """
    axis = axis_or_dim("mean", axis, dim)
    keepdims = keepdims_or_keepdim("mean", keepdims, keepdim)
    x, axes, keepdims = _reduction_args("mean", x, axis, keepdims, allow_empty=False)
    return Mean.apply(x, axes=axes, keepdims=keepdims)


def max(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Largest value over ``axis``; tied maxima share the gradient equally."""
    x, axes, keepdims = _reduction_args("max", x, axis, keepdims, allow_empty=False)
    return Max.apply(x, axes=axes, keepdims=keepdims)


def min(x: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Smallest value over ``axis``; tied minima share the gradient equally."""
    x, axes, keepdims = _reduction_args("min", x, axis, keepdims, allow_empty=False)
    return Max.apply(x, axes=axes, keepdims=keepdims, extreme=np.min)
