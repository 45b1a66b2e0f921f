"""Losses and weight penalties: cross_entropy, mse_loss, l1_penalty, l2_penalty.

Each is one fused Function: the forward keeps what the closed-form gradient
needs (softmax probabilities, differences, the weights) and the backward
writes that gradient directly, instead of replaying a chain of primitive ops.
"""

import numbers

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.embedding import integer_array
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """Softmax cross-entropy over the last axis of ``logits`` (..., C).

    ``targets`` (int64, shape ``logits.shape[:-1]``) hold a class per row, with
    ignored rows already replaced by class 0 and switched off by ``valid``.
    """

    @staticmethod
    def forward(ctx, logits, *, targets, valid, reduction):
        n_classes = logits.shape[-1]
        rows = logits.reshape(-1, n_classes)
        flat_targets = targets.reshape(-1)
        flat_valid = valid.reshape(-1)
        # NOTE: log-sum-exp with the row maximum subtracted: exp never overflows and
        # the largest term is exactly 1, so the log never sees 0.
        shifted = rows - rows.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)
        picked = shifted[np.arange(rows.shape[0]), flat_targets]
        losses = np.where(flat_valid, np.log(sum_exp) - picked, 0).astype(logits.dtype)
        count = int(flat_valid.sum())
        ctx.save(exp / sum_exp[:, None], flat_targets, flat_valid, count, logits.shape,
                 reduction)
        if reduction == "none":
            return losses.reshape(targets.shape)
        total = losses.sum(dtype=logits.dtype)
        if reduction == "mean":
            # With every target ignored there is nothing to average: the loss is 0.
            total = total / count if count else total
        return np.asarray(total, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        probs, targets, valid, count, shape, reduction = ctx.saved
        if reduction == "none":
            row_scale = grad.reshape(-1)
        elif reduction == "mean":
            row_scale = np.full(valid.shape, grad / count if count else 0, dtype=grad.dtype)
        else:
            row_scale = np.full(valid.shape, grad, dtype=grad.dtype)
        row_scale = np.where(valid, row_scale, 0).astype(grad.dtype)
        # d(-log softmax(x)[t]) / dx = softmax(x) - onehot(t)
        grad_rows = probs.copy()
        grad_rows[np.arange(probs.shape[0]), targets] -= 1
        grad_rows *= row_scale[:, None]
        return grad_rows.reshape(shape)


class MSELoss(Function):
    @staticmethod
    def forward(ctx, input, target, *, reduction):
        diff = input - target
        ctx.save(diff, reduction)
        squared = diff * diff
        if reduction == "none":
            return squared
        total = squared.sum(dtype=input.dtype)
        if reduction == "mean":
            total = total / diff.size
        return np.asarray(total, dtype=input.dtype)

    @staticmethod
    def backward(ctx, grad):
        diff, reduction = ctx.saved
        scale = grad / diff.size if reduction == "mean" else grad
        grad_input = np.asarray(2 * diff * scale, dtype=diff.dtype)
        grad_input_needed, grad_target_needed = ctx.needs_input_grad
        return (grad_input if grad_input_needed else None,
                -grad_input if grad_target_needed else None)


class L1Penalty(Function):
    @staticmethod
    def forward(ctx, *params, weight):
        ctx.save(params, weight)
        total = sum(float(np.abs(p).sum()) for p in params)
        return np.asarray(weight * total, dtype=params[0].dtype)

    @staticmethod
    def backward(ctx, grad):
        params, weight = ctx.saved
        # sign(0) = 0: the subgradient that leaves an exact zero where it is.
        return tuple(np.asarray(grad * weight * np.sign(p), dtype=p.dtype) for p in params)


class L2Penalty(Function):
    @staticmethod
    def forward(ctx, *params, weight):
        ctx.save(params, weight)
        total = sum(float(np.vdot(p, p)) for p in params)
        return np.asarray(weight * total, dtype=params[0].dtype)

    @staticmethod
    def backward(ctx, grad):
        params, weight = ctx.saved
        return tuple(np.asarray(grad * (2 * weight) * p, dtype=p.dtype) for p in params)


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def cross_entropy(logits, targets, ignore_index=-100, reduction="mean"):
    """Softmax cross-entropy between ``logits`` and integer class ``targets``.

    ``loss[i] = logsumexp(logits[i, :]) - logits[i, targets[i]]``, computed with
    the row maximum subtracted so that logits of any magnitude stay finite.

    Parameters
    ----------
    logits : Tensor or ndarray, shape (N, C) or (..., C), float32 or float64
        Unnormalised class scores; leading dimensions are flattened into rows.
    targets : int array or Tensor, shape (N,) or (...)
        Class of each row, in ``0 .. C - 1``, or ``ignore_index``.
    ignore_index : int
        Rows with this target contribute neither loss nor gradient.
    reduction : {'mean', 'sum', 'none'}
        'mean' averages over the rows that are not ignored; when every row is
        ignored the loss is 0 and so is its gradient (rather than 0/0 = NaN).
        'none' returns the per-row losses, shaped like ``targets``, 0 where ignored.

    Raises ShapeError when shapes disagree or a target is out of range, and
    DTypeError for float targets or non-float logits.
    """
    _check_reduction("cross_entropy", reduction)
    (logits,) = coerce("cross_entropy", logits)
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise ShapeError(
            f"cross_entropy: logits must be (N, C) or (..., C) with C >= 1, got shape "
            f"{logits.shape}"
        )
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise ArgumentTypeError(
            f"cross_entropy: ignore_index must be an int, got {type(ignore_index).__name__}"
        )
    target_array = integer_array("cross_entropy", "targets", targets)
    if target_array.shape != logits.shape[:-1]:
        raise ShapeError(
            f"cross_entropy: targets must have shape {logits.shape[:-1]} (logits without "
            f"the class axis), got {target_array.shape}"
        )
    n_classes = logits.shape[-1]
    valid = target_array != ignore_index
    out_of_range = valid & ((target_array < 0) | (target_array >= n_classes))
    if out_of_range.any():
        raise ShapeError(
            f"cross_entropy: targets must be in 0..{n_classes - 1} or ignore_index="
            f"{ignore_index}, got {int(target_array[out_of_range][0])}"
        )
    safe_targets = np.where(valid, target_array, 0)
    return CrossEntropy.apply(logits, targets=safe_targets, valid=valid, reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    """Squared error ``(input - target) ** 2``, averaged, summed or per element.

    ``input`` and ``target`` must have the same shape (no broadcasting: a
    silently broadcast target is a classic shape bug). Both may require grad.
    'mean' over zero elements is refused rather than returning NaN.
    """
    _check_reduction("mse_loss", reduction)
    input, target = coerce("mse_loss", input, target)
    if input.shape != target.shape:
        raise ShapeError(
            f"mse_loss: target must have the shape of input {input.shape}, got {target.shape}"
        )
    if reduction == "mean" and input.size == 0:
        raise ShapeError("mse_loss: reduction='mean' needs at least one element, got 0")
    return MSELoss.apply(input, target, reduction=reduction)


def _penalty_operands(op, tensors, weight):
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise ArgumentTypeError(f"{op}: weight must be a real number, got {type(weight).__name__}")
    if isinstance(tensors, (Tensor, np.ndarray)):
        tensors = [tensors]
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError(f"{op}: needs at least one tensor, got none")
    return coerce(op, *tensors), float(weight)


def l1_penalty(tensors, weight=1.0):
    """``weight * sum(|w|)`` over every element of every tensor (a Tensor or an iterable).

    The gradient is ``weight * sign(w)``, taken as 0 at w = 0.
    """
    operands, weight = _penalty_operands("l1_penalty", tensors, weight)
    return L1Penalty.apply(*operands, weight=weight)


def l2_penalty(tensors, weight=1.0):
    """``weight * sum(w ** 2)`` over every element of every tensor (a Tensor or an iterable).

    No factor 1/2: the gradient is ``2 * weight * w``. PyTorch's optimizer
    ``weight_decay=lam`` adds ``lam * w`` to the gradient, which is the gradient of
    ``0.5 * lam * sum(w ** 2)``; so ``l2_penalty(params, weight=lam / 2)`` matches it.
    """
    operands, weight = _penalty_operands("l2_penalty", tensors, weight)
    return L2Penalty.apply(*operands, weight=weight)
