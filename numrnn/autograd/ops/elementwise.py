"""Unary elementwise functions: exp, log, sqrt, abs, tanh, sigmoid, relu, leaky_relu, clip."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce

if TYPE_CHECKING:
    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import TensorLike


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad * y


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad / x


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad / (2 * y)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * np.sign(x)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad * (1 - y * y)


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow: only e^-|x| is ever computed."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = stable_sigmoid(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad * y * (1 - y)


class LeakyReLU(Function):
    """max(x, 0) + slope * min(x, 0); ``slope=0`` is the plain ReLU."""

    @staticmethod
    def forward(ctx, x, *, negative_slope):
        positive = x > 0
        ctx.save(positive, negative_slope)
        if negative_slope == 0:
            return np.where(positive, x, 0).astype(x.dtype, copy=False)
        return np.where(positive, x, x * negative_slope).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        positive, negative_slope = ctx.saved
        return np.where(positive, grad, grad * negative_slope).astype(grad.dtype, copy=False)


class Clip(Function):
    @staticmethod
    def forward(ctx, x, *, low, high):
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        ctx.save(inside)
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved
        return np.where(inside, grad, 0).astype(grad.dtype, copy=False)


def exp(x: TensorLike) -> Tensor:
    """e ** x."""
    return Exp.apply(*coerce("exp", x))


def log(x: TensorLike) -> Tensor:
    """Natural logarithm."""
    return Log.apply(*coerce("log", x))


def sqrt(x: TensorLike) -> Tensor:
    """Square root."""
    return Sqrt.apply(*coerce("sqrt", x))


def abs(x: TensorLike) -> Tensor:
    """|x|; its gradient at 0 is taken as 0."""
    return Abs.apply(*coerce("abs", x))


def tanh(x: TensorLike) -> Tensor:
    """Hyperbolic tangent."""
    return Tanh.apply(*coerce("tanh", x))


def sigmoid(x: TensorLike) -> Tensor:
    """Logistic sigmoid, exact and finite for any input magnitude."""
    return Sigmoid.apply(*coerce("sigmoid", x))


def relu(x: TensorLike) -> Tensor:
    """max(x, 0); its gradient at 0 is taken as 0."""
    return LeakyReLU.apply(*coerce("relu", x), negative_slope=0.0)


def leaky_relu(x: TensorLike, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, ``negative_slope * x`` otherwise."""
    return LeakyReLU.apply(*coerce("leaky_relu", x), negative_slope=float(negative_slope))


def clip(x: TensorLike, min: float | None = None, max: float | None = None) -> Tensor:
    """Clamp into [min, max]; the gradient is zero where the value was clamped."""
    return Clip.apply(*coerce("clip", x), low=min, high=max)
