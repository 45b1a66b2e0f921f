"""Layer normalization as one fused op with a hand-written backward.

Composed from primitive ops, ``(x - mean) / sqrt(var + eps) * weight + bias``
records about ten tape nodes and keeps as many full-size residuals; the fused
op keeps two (the normalized input and the reciprocal standard deviation) and
writes the closed-form gradient directly.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.functional.checks import check_float_dtype, data_of

if TYPE_CHECKING:
    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Size, TensorLike

__all__ = ["checked_eps", "layer_norm", "normalized_shape_tuple"]


class LayerNorm(Function):
    """``y = (x - mean) * rstd * weight + bias`` over the trailing ``axes``.

    ``mean`` and the biased variance ``var`` are taken over ``axes``;
    ``rstd = 1 / sqrt(var + eps)``. ``weight`` and ``bias`` (shape of the
    normalized dimensions) may each be None.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, *, axes, eps):
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + x.dtype.type(eps))
        normalized = centered * rstd
        ctx.save(normalized, rstd, weight, axes)
        y = normalized if weight is None else normalized * weight
        return y if bias is None else y + bias

    @staticmethod
    def backward(ctx, grad):
        normalized, rstd, weight, axes = ctx.saved
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad
        leading = tuple(range(grad.ndim - len(axes)))
        grad_x = grad_weight = grad_bias = None
        if needs_x:
            grad_normalized = grad if weight is None else grad * weight
            # NOTE: d/dx of (x - mean) * rstd projects out the two directions the
            # normalization removes: the constant shift (mean of the gradient) and
            # the scale (its component along the normalized input).
            grad_x = rstd * (
                grad_normalized
                - grad_normalized.mean(axis=axes, keepdims=True)
                - normalized * np.mean(grad_normalized * normalized, axis=axes, keepdims=True)
            )
        if needs_weight:
            grad_weight = np.asarray(np.sum(grad * normalized, axis=leading))
        if needs_bias:
            grad_bias = np.asarray(np.sum(grad, axis=leading))
        return grad_x, grad_weight, grad_bias


def normalized_shape_tuple(op, normalized_shape):
    """``normalized_shape`` (an int or a sequence of positive ints) as a tuple."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        shape = tuple(normalized_shape)
    except TypeError:
        shape = None
    if not shape or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                            and n >= 1 for n in shape):
        raise ShapeError(f"{op}: normalized_shape must be a positive int or a non-empty "
                         f"sequence of positive ints, got {normalized_shape!r}")
    return tuple(int(n) for n in shape)


def checked_eps(op, eps):
    """``eps`` (a real number > 0) as a float."""
    message = f"{op}: eps must be a positive real number, got {eps!r}"
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise ArgumentTypeError(message)
    if not eps > 0:
        raise ArgumentError(message)
    return float(eps)


def layer_norm(input: TensorLike, normalized_shape: Size, weight: TensorLike | None = None,
               bias: TensorLike | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dimensions, as PyTorch's ``layer_norm``.

    Parameters
    ----------
    input : Tensor or float ndarray, shape (..., *normalized_shape)
        Any leading dimensions: ``(T, B, H)`` and ``(B, T, H)`` sequences alike.
    normalized_shape : int or tuple of ints
        The trailing dimensions to normalize over (mean and biased variance).
    weight, bias : Tensor or ndarray of shape ``normalized_shape``, optional
        Elementwise scale and shift applied after normalizing.
    eps : float > 0
        Added to the variance, so a constant input gives 0 rather than 0/0.

    Returns
    -------
    Tensor of the shape and dtype of ``input``.
    """
    shape = normalized_shape_tuple("layer_norm", normalized_shape)
    eps = checked_eps("layer_norm", eps)
    (x,) = coerce("layer_norm", input)
    dtype = check_float_dtype("layer_norm", "input", x)
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"layer_norm: input must end with the normalized_shape {shape}, "
                         f"got shape {x.shape}")
    for name, value in (("weight", weight), ("bias", bias)):
        if value is None:
            continue
        check_float_dtype("layer_norm", name, value, dtype)
        if data_of(value).shape != shape:
            raise ShapeError(f"layer_norm: {name} must have shape {shape} (normalized_shape), "
                             f"got {data_of(value).shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return LayerNorm.apply(x, weight, bias, axes=axes, eps=eps)
