"""Binary arithmetic with NumPy broadcasting: add, sub, mul, div, pow, matmul, neg.

Gradients flowing back to a broadcast operand are summed over the broadcast
axes (:func:`unbroadcast`), so a bias of shape ``(H,)`` added to ``(B, H)`` gets
a ``(H,)`` gradient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import check_broadcastable, coerce, unbroadcast
from numrnn.errors import ArgumentTypeError, ShapeError

if TYPE_CHECKING:
    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import TensorLike, TensorOrArray


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.saved
        return unbroadcast(grad, a_shape), unbroadcast(grad, b_shape)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.saved
        return unbroadcast(grad, a_shape), unbroadcast(-grad, b_shape)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        grad_a = unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        grad_a = unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    @staticmethod
    def forward(ctx, a, *, exponent):
        ctx.save(a, exponent)
        return a**exponent

    @staticmethod
    def backward(ctx, grad):
        a, exponent = ctx.saved
        return grad * exponent * a ** (exponent - 1)


def _matmul(a, b):
    # NOTE: with a contraction of size 1 the product is an outer product; NumPy's
    # batched matmul takes 5-8x longer on those than a broadcast multiply (measured
    # on attention's (B, S, 1) @ (B, 1, H) gradients), and the results are equal.
    if a.shape[-1] == 1:
        return a * b
    return a @ b


class MatMul(Function):
    """``a @ b`` for 2-D matrices and stacks of them (leading axes broadcast)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return _matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(_matmul(grad, np.swapaxes(b, -1, -2)), a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(_matmul(np.swapaxes(a, -1, -2), grad), b.shape)
        return grad_a, grad_b


def add(a: TensorLike, b: TensorLike) -> Tensor:
    """``a + b`` with broadcasting."""
    a, b = coerce("add", a, b)
    check_broadcastable("add", a, b)
    return Add.apply(a, b)


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    """``a - b`` with broadcasting."""
    a, b = coerce("sub", a, b)
    check_broadcastable("sub", a, b)
    return Sub.apply(a, b)


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    """``a * b`` elementwise, with broadcasting."""
    a, b = coerce("mul", a, b)
    check_broadcastable("mul", a, b)
    return Mul.apply(a, b)


def div(a: TensorLike, b: TensorLike) -> Tensor:
    """``a / b`` elementwise, with broadcasting."""
    a, b = coerce("div", a, b)
    check_broadcastable("div", a, b)
    return Div.apply(a, b)


def neg(a: TensorLike) -> Tensor:
    """``-a``."""
    return Neg.apply(*coerce("neg", a))


def pow(a: TensorLike, exponent: float) -> Tensor:
    """``a ** exponent`` for a scalar (Python number) exponent."""
    if not np.isscalar(exponent):
        raise ArgumentTypeError(
            f"pow: exponent must be a scalar number, got {type(exponent).__name__}"
        )
    # np.isscalar's TypeGuard forgets that exponent is a float by annotation.
    return Pow.apply(*coerce("pow", a), exponent=float(exponent))  # type: ignore[arg-type]


def matmul(a: TensorOrArray, b: TensorOrArray) -> Tensor:
    """Matrix product of 2-D or batched (…, n, k) @ (…, k, m) operands (1-D is refused)."""
    a, b = coerce("matmul", a, b)
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(
            f"matmul: both operands must have at least 2 dimensions, got {a.ndim} and {b.ndim}"
        )
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            f"matmul: inner sizes must agree, got {a.shape} @ {b.shape}"
        )
    return MatMul.apply(a, b)
