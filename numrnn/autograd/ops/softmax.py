"""softmax and log_softmax along one axis, stable for any input magnitude.

Both subtract the maximum along the axis before exponentiating, so the largest
exponent is e^0 = 1: nothing overflows, and the sum of exponentials is at
least 1, so its log never sees 0. ``log_softmax([1000, 1])`` is exactly
``[0, -999]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce, normalize_axis
from numrnn.errors import ShapeError

if TYPE_CHECKING:
    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Axis, TensorLike


def _shifted(x, axis):
    return x - np.max(x, axis=axis, keepdims=True)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, *, axis):
        exps = np.exp(_shifted(x, axis))
        y = exps / np.sum(exps, axis=axis, keepdims=True)
        ctx.save(y, axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, axis = ctx.saved
        return y * (grad - np.sum(grad * y, axis=axis, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, *, axis):
        shifted = _shifted(x, axis)
        y = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.save(y, axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, axis = ctx.saved
        return grad - np.exp(y) * np.sum(grad, axis=axis, keepdims=True)


def _softmax_args(name, x, axis):
    (x,) = coerce(name, x)
    if x.ndim == 0:
        raise ShapeError(f"{name}: needs a tensor with at least 1 dimension, got a 0-d one")
    axis = normalize_axis(name, axis, x.ndim)
    if x.shape[axis] == 0:
        raise ShapeError(f"{name}: axis {axis} of tensor shape {x.shape} is empty")
    return x, axis


def softmax(x: TensorLike, axis: Axis = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis``: entries in (0, 1] summing to 1."""
    x, axis = _softmax_args("softmax", x, axis)
    return Softmax.apply(x, axis=axis)


def log_softmax(x: TensorLike, axis: Axis = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``axis``, exact where softmax would underflow."""
    x, axis = _softmax_args("log_softmax", x, axis)
    return LogSoftmax.apply(x, axis=axis)
