"""Binary cross-entropy on logits, the loss of multi-label and yes/no outputs.

One fused Function in the softplus form: with ``softplus(x) = log(1 + e^x)``,
``-log sigmoid(x) = softplus(-x)`` and ``-log(1 - sigmoid(x)) = softplus(x)``,
and ``softplus(x) = max(x, 0) + log1p(exp(-|x|))`` never overflows, so logits
of any magnitude give finite losses and gradients (the probability itself is
never formed and then logged).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.losses import REDUCTIONS
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, DTypeError, ShapeError

if TYPE_CHECKING:
    from numrnn.typing import TensorLike, TensorOrArray


def _softplus_pair(x):
    """``softplus(x)`` and ``softplus(-x)``, each accurate even where it is tiny."""
    # Computing softplus(-x) as softplus(x) - x would cancel to 0 in float32 for x > 17.
    tail = np.log1p(np.exp(-np.abs(x)))
    return np.maximum(x, 0) + tail, np.maximum(-x, 0) + tail


class BinaryCrossEntropyWithLogits(Function):
    """``loss = w * (pos_weight * y * softplus(-x) + (1 - y) * softplus(x))``, elementwise.

    Gradients: ``dloss/dx = w * ((1 - y) * sigmoid(x) - pos_weight * y * sigmoid(-x))``
    and ``dloss/dy = w * (pos_weight * softplus(-x) - softplus(x))``.
    ``weight`` and ``pos_weight`` arrive broadcast to the input's shape (or None).
    """

    @staticmethod
    def forward(ctx, logits, target, *, weight, pos_weight, reduction):
        softplus_pos, softplus_neg = _softplus_pair(logits)
        positive = target * softplus_neg
        if pos_weight is not None:
            positive = pos_weight * positive
        losses = positive + (1 - target) * softplus_pos
        if weight is not None:
            losses = weight * losses
        ctx.save(logits, target, softplus_pos, softplus_neg, weight, pos_weight, reduction)
        losses = losses.astype(logits.dtype, copy=False)
        if reduction == "none":
            return losses
        total = losses.sum(dtype=logits.dtype)
        if reduction == "mean":
            total = total / losses.size
        return np.asarray(total, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        logits, target, softplus_pos, softplus_neg, weight, pos_weight, reduction = ctx.saved
        scale = grad / logits.size if reduction == "mean" else grad
        if weight is not None:
            scale = weight * scale
        positive_weight = 1 if pos_weight is None else pos_weight
        grad_logits = grad_target = None
        logits_needed, target_needed = ctx.needs_input_grad
        if logits_needed:
            # sigmoid(x) = exp(-softplus(-x)) and sigmoid(x) - 1 = -exp(-softplus(x)): both
            # keep their relative accuracy in the tails, where 1 / (1 + e^-x) - 1 would not.
            grad_logits = scale * ((1 - target) * np.exp(-softplus_neg)
                                   - positive_weight * target * np.exp(-softplus_pos))
            grad_logits = grad_logits.astype(logits.dtype, copy=False)
        if target_needed:
            grad_target = scale * (positive_weight * softplus_neg - softplus_pos)
            grad_target = grad_target.astype(logits.dtype, copy=False)
        return grad_logits, grad_target


def broadcast_constant(op, name, value, shape, dtype):
    """``value`` (array-like or Tensor, a constant) broadcast to ``shape`` as ``dtype``, or None."""
    if value is None:
        return None
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.dtype.kind not in "fiu":
        raise DTypeError(f"{op}: {name} must hold real numbers, got dtype {array.dtype}")
    try:
        broadcast = np.broadcast_shapes(array.shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != tuple(shape):
        raise ShapeError(f"{op}: {name} must broadcast to the input's shape {tuple(shape)}, "
                         f"got shape {array.shape}")
    return np.broadcast_to(array.astype(dtype), shape)


def binary_cross_entropy_with_logits(input: TensorOrArray, target: TensorOrArray,
                                     weight: TensorLike | None = None, reduction: str = "mean",
                                     pos_weight: TensorLike | None = None) -> Tensor:
    """Binary cross-entropy between ``sigmoid(input)`` and ``target``, from the logits.

    ``loss = -w * (pos_weight * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))``
    elementwise, computed through softplus so that it is finite for any logit.

    Parameters
    ----------
    input : Tensor or float ndarray, any shape
        Logits ``x``.
    target : Tensor or float ndarray, the shape of ``input``
        Probabilities ``y`` in [0, 1] (usually 0 or 1); may require grad.
    weight : array-like, optional
        Rescales each element's loss; broadcast to ``input``'s shape.
    reduction : {'mean', 'sum', 'none'}
        'mean' averages over all elements (not over the weights, as PyTorch).
    pos_weight : array-like, optional
        Weight of the positive term, broadcast to ``input``'s shape: shape (C,)
        weights each of C labels on the last axis. ``pos_weight = negatives /
        positives`` balances a rare label.

    Returns
    -------
    Tensor, 0-D for 'mean' and 'sum', shaped like ``input`` for 'none'.

    Raises
    ------
    ShapeError
        When ``target`` differs in shape from ``input``, ``weight`` or
        ``pos_weight`` does not broadcast to it, or 'mean' has no element.
    DTypeError, ArgumentError
        For non-real weights or an unknown ``reduction``.

    Examples
    --------
    >>> loss = binary_cross_entropy_with_logits(logits, labels, pos_weight=[3.0, 1.0])
    """
    op = "binary_cross_entropy_with_logits"
    if reduction not in REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    input, target = coerce(op, input, target)
    if input.shape != target.shape:
        raise ShapeError(f"{op}: target must have the shape of input {input.shape}, "
                         f"got {target.shape}")
    if reduction == "mean" and input.size == 0:
        raise ShapeError(f"{op}: reduction='mean' needs at least one element, got 0")
    dtype = input.dtype
    weight = broadcast_constant(op, "weight", weight, input.shape, dtype)
    pos_weight = broadcast_constant(op, "pos_weight", pos_weight, input.shape, dtype)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight=weight,
                                              pos_weight=pos_weight, reduction=reduction)
