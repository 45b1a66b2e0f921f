"""Losses and weight penalties: cross_entropy, nll_loss, mse_loss, l1_loss, l1/l2 penalties.

Each is one fused Function: the forward keeps what the closed-form gradient
needs (softmax probabilities, differences, the weights) and the backward
writes that gradient directly, instead of replaying a chain of primitive ops.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.embedding import integer_array
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numrnn.typing import TensorLike, TensorOrArray

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """Softmax cross-entropy over the last axis of ``logits`` (..., C).

    ``targets`` (int64, shape ``logits.shape[:-1]``) hold a class per row, with
    ignored rows already replaced by class 0 and switched off by ``valid``.
    Row ``i`` is scored against the distribution
    ``q = (1 - s) * w[t] * onehot(t) + (s / C) * w`` (``s`` the label smoothing,
    ``w`` the class weights, ones when there are none), so that
    ``loss[i] = -sum_c q_c * log_softmax(logits[i])_c`` and its gradient is
    ``softmax(logits[i]) * sum(q) - q``.
    """

    @staticmethod
    def forward(ctx, logits, *, targets, valid, class_weights, label_smoothing, reduction):
        n_classes = logits.shape[-1]
        rows = logits.reshape(-1, n_classes)
        flat_targets = targets.reshape(-1)
        flat_valid = valid.reshape(-1)
        # NOTE: log-sum-exp with the row maximum subtracted: exp never overflows and
        # the largest term is exactly 1, so the log never sees 0.
        shifted = rows - rows.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)
        log_sum_exp = np.log(sum_exp)
        target_weights = _target_weights(class_weights, flat_targets, flat_valid, logits.dtype)
        picked = shifted[np.arange(rows.shape[0]), flat_targets]
        losses = (1.0 - label_smoothing) * target_weights * (log_sum_exp - picked)
        if label_smoothing:
            # sum_c w_c * -log_softmax_c, without forming the (N, C) log-probabilities.
            if class_weights is None:
                smooth = n_classes * log_sum_exp - shifted.sum(axis=1)
            else:
                smooth = class_weights.sum() * log_sum_exp - shifted @ class_weights
            losses = losses + (label_smoothing / n_classes) * smooth
        losses = np.where(flat_valid, losses, 0).astype(logits.dtype)
        normaliser = float(target_weights.sum(dtype=np.float64))
        ctx.save(exp / sum_exp[:, None], flat_targets, flat_valid, target_weights, class_weights,
                 label_smoothing, normaliser, logits.shape, reduction)
        return _reduce_rows(losses, targets.shape, reduction, normaliser, logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        (probs, targets, valid, target_weights, class_weights, label_smoothing, normaliser,
         shape, reduction) = ctx.saved
        n_classes = probs.shape[1]
        keep = 1.0 - label_smoothing
        spread = label_smoothing / n_classes
        weight_total = n_classes if class_weights is None else class_weights.sum()
        grad_rows = probs * (keep * target_weights + spread * weight_total)[:, None]
        grad_rows[np.arange(probs.shape[0]), targets] -= keep * target_weights
        if label_smoothing:
            grad_rows -= spread * (1.0 if class_weights is None else class_weights[None, :])
        grad_rows *= _row_scale(grad, valid, normaliser, reduction)[:, None]
        return grad_rows.astype(probs.dtype, copy=False).reshape(shape)


class NLLLoss(Function):
    """Negative log-likelihood: ``loss[i] = -w[t_i] * log_probs[i, t_i]`` over the last axis."""

    @staticmethod
    def forward(ctx, log_probs, *, targets, valid, class_weights, reduction):
        n_classes = log_probs.shape[-1]
        rows = log_probs.reshape(-1, n_classes)
        flat_targets = targets.reshape(-1)
        flat_valid = valid.reshape(-1)
        target_weights = _target_weights(class_weights, flat_targets, flat_valid,
                                         log_probs.dtype)
        picked = rows[np.arange(rows.shape[0]), flat_targets]
        losses = np.where(flat_valid, -target_weights * picked, 0).astype(log_probs.dtype)
        normaliser = float(target_weights.sum(dtype=np.float64))
        ctx.save(flat_targets, flat_valid, target_weights, normaliser, log_probs.shape,
                 reduction)
        return _reduce_rows(losses, targets.shape, reduction, normaliser, log_probs.dtype)

    @staticmethod
    def backward(ctx, grad):
        targets, valid, target_weights, normaliser, shape, reduction = ctx.saved
        grad_rows = np.zeros((targets.size, shape[-1]), dtype=target_weights.dtype)
        row_scale = _row_scale(grad, valid, normaliser, reduction)
        grad_rows[np.arange(targets.size), targets] = -target_weights * row_scale
        return grad_rows.reshape(shape)


def _target_weights(class_weights, targets, valid, dtype):
    """Each row's weight ``w[t]`` (1 without class weights), 0 for ignored rows."""
    weights = np.ones(targets.shape, dtype) if class_weights is None else class_weights[targets]
    return np.where(valid, weights, 0).astype(dtype, copy=False)


def _reduce_rows(losses, shape, reduction, normaliser, dtype):
    if reduction == "none":
        return losses.reshape(shape)
    total = losses.sum(dtype=dtype)
    if reduction == "mean":
        # With every target ignored (or weighted 0) there is nothing to average: the loss is 0.
        total = total / normaliser if normaliser else total
    return np.asarray(total, dtype=dtype)


def _row_scale(grad, valid, normaliser, reduction):
    """d(reduced loss) / d(row loss), times the incoming gradient; 0 for ignored rows."""
    if reduction == "none":
        row_scale = grad.reshape(-1)
    elif reduction == "mean":
        row_scale = np.full(valid.shape, grad / normaliser if normaliser else 0, dtype=grad.dtype)
    else:
        row_scale = np.full(valid.shape, grad, dtype=grad.dtype)
    return np.where(valid, row_scale, 0).astype(grad.dtype)


def _reduce_elements(values, reduction, dtype):
    """An elementwise loss reduced as ``reduction`` asks: as it is, its sum or its mean."""
    if reduction == "none":
        return values
    total = values.sum(dtype=dtype)
    if reduction == "mean":
        total = total / values.size
    return np.asarray(total, dtype=dtype)


def _elementwise_grads(ctx, grad, local):
    """The input's and target's gradients of an elementwise loss of ``input - target``
    whose derivative by the difference is ``local``, reduced as the forward was."""
    reduction = ctx.saved[-1]
    scale = grad / local.size if reduction == "mean" else grad
    grad_input = np.asarray(local * scale, dtype=local.dtype)
    grad_input_needed, grad_target_needed = ctx.needs_input_grad
    return (grad_input if grad_input_needed else None,
            -grad_input if grad_target_needed else None)


class MSELoss(Function):
    @staticmethod
    def forward(ctx, input, target, *, reduction):
        diff = input - target
        ctx.save(diff, reduction)
        return _reduce_elements(diff * diff, reduction, input.dtype)

    @staticmethod
    def backward(ctx, grad):
        diff = ctx.saved[0]
        return _elementwise_grads(ctx, grad, 2 * diff)


class L1Loss(Function):
    @staticmethod
    def forward(ctx, input, target, *, reduction):
        diff = input - target
        # sign(0) = 0 at a tie, as PyTorch's L1 loss.
        ctx.save(np.sign(diff), reduction)
        return _reduce_elements(np.abs(diff), reduction, input.dtype)

    @staticmethod
    def backward(ctx, grad):
        return _elementwise_grads(ctx, grad, ctx.saved[0])


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


def cross_entropy(logits: TensorOrArray, targets: TensorLike, weight: TensorLike | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between ``logits`` and integer class ``targets``.

    ``loss[i] = w[t] * (logsumexp(logits[i, :]) - logits[i, t])`` for
    ``t = targets[i]``, computed from the log-softmax with the row maximum
    subtracted so that logits of any magnitude stay finite. With label
    smoothing ``s`` the target is the mixture ``(1 - s) * onehot(t) + s / C``,
    as in PyTorch: ``loss[i] = (1 - s) * w[t] * -log p[i, t]
    + (s / C) * sum_c w[c] * -log p[i, c]``.

    Parameters
    ----------
    logits : Tensor or ndarray, shape (N, C) or (..., C), float32 or float64
        Unnormalised class scores; leading dimensions are flattened into rows.
        The class axis is the last one (PyTorch's is axis 1: for (N, C) the two agree).
    targets : int array or Tensor, shape (N,) or (...)
        Class of each row, in ``0 .. C - 1``, or ``ignore_index``.
    weight : array-like of shape (C,), optional
        A weight per class (PyTorch's ``weight=``), e.g. inverse class frequencies.
    ignore_index : int
        Rows with this target contribute neither loss nor gradient.
    reduction : {'mean', 'sum', 'none'}
        'mean' divides the sum by the total weight ``sum_i w[targets[i]]`` of the
        rows that are not ignored (their number without ``weight``), as PyTorch;
        when that is 0 (every row ignored) the loss is 0 and so is its gradient
        (rather than 0/0 = NaN). 'none' returns the per-row losses, shaped like
        ``targets``, 0 where ignored.
    label_smoothing : float in [0, 1]
        How much of the target's probability is spread evenly over all classes.

    Returns
    -------
    Tensor, 0-D for 'mean' and 'sum', shaped like ``targets`` for 'none'.

    Raises
    ------
    ShapeError
        When shapes disagree or a target is out of range.
    DTypeError
        For float targets or non-float logits.
    ArgumentError, ArgumentTypeError
        For a bad ``reduction``, ``label_smoothing``, ``ignore_index`` or ``weight``.

    Examples
    --------
    >>> loss = cross_entropy(logits, labels, weight=[1.0, 4.0], label_smoothing=0.1)
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    smoothing = check_label_smoothing(op, label_smoothing)
    (logits,) = coerce(op, logits)
    safe_targets, valid = _class_targets(op, "logits", logits, targets, ignore_index)
    class_weights = class_weight_array(op, weight, logits.shape[-1], logits.dtype)
    return CrossEntropy.apply(logits, targets=safe_targets, valid=valid,
                              class_weights=class_weights, label_smoothing=smoothing,
                              reduction=reduction)


def nll_loss(log_probs: TensorOrArray, targets: TensorLike, weight: TensorLike | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer ``targets`` under ``log_probs`` (..., C).

    ``loss[i] = -w[t] * log_probs[i, t]`` for ``t = targets[i]``; feed it
    :func:`log_softmax` outputs (``nll_loss(log_softmax(x), t)`` equals
    ``cross_entropy(x, t)``). Arguments, class axis, reductions and errors are
    those of :func:`cross_entropy`.
    """
    op = "nll_loss"
    _check_reduction(op, reduction)
    (log_probs,) = coerce(op, log_probs)
    safe_targets, valid = _class_targets(op, "log_probs", log_probs, targets, ignore_index)
    class_weights = class_weight_array(op, weight, log_probs.shape[-1], log_probs.dtype)
    return NLLLoss.apply(log_probs, targets=safe_targets, valid=valid,
                         class_weights=class_weights, reduction=reduction)


def check_label_smoothing(op, label_smoothing):
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise ArgumentTypeError(f"{op}: label_smoothing must be a number, got "
                                f"{type(label_smoothing).__name__}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _class_targets(op, name, scores, targets, ignore_index):
    """Check integer class targets against ``scores`` (..., C).

    Returns the targets with ignored rows replaced by class 0, and the mask
    of the rows that count.
    """
    if scores.ndim < 1 or scores.shape[-1] == 0:
        raise ShapeError(f"{op}: {name} must be (N, C) or (..., C) with C >= 1, got shape "
                         f"{scores.shape}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise ArgumentTypeError(f"{op}: ignore_index must be an int, got "
                                f"{type(ignore_index).__name__}")
    target_array = integer_array(op, "targets", targets)
    if target_array.shape != scores.shape[:-1]:
        raise ShapeError(f"{op}: targets must have shape {scores.shape[:-1]} ({name} without "
                         f"the class axis), got {target_array.shape}")
    n_classes = scores.shape[-1]
    valid = target_array != ignore_index
    out_of_range = valid & ((target_array < 0) | (target_array >= n_classes))
    if out_of_range.any():
        raise ShapeError(f"{op}: targets must be in 0..{n_classes - 1} or ignore_index="
                         f"{ignore_index}, got {int(target_array[out_of_range][0])}")
    return np.where(valid, target_array, 0), valid


def class_weight_array(op, weight, n_classes, dtype):
    """``weight`` as a (C,) array of ``dtype``, or None."""
    if weight is None:
        return None
    array = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if array.dtype.kind not in "fiu":
        raise DTypeError(f"{op}: weight must hold real numbers, got dtype {array.dtype}")
    if array.shape != (n_classes,):
        raise ShapeError(f"{op}: weight must have shape ({n_classes},), one per class, "
                         f"got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ArgumentError(f"{op}: weight must be finite, got {array.tolist()}")
    return array.astype(dtype)


def mse_loss(input: TensorOrArray, target: TensorOrArray, reduction: str = "mean") -> Tensor:
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


def l1_loss(input: TensorOrArray, target: TensorOrArray, reduction: str = "mean") -> Tensor:
    """Absolute error ``|input - target|``, averaged, summed or per element.

    As :func:`mse_loss`: same shapes (no broadcasting), both may require grad,
    'mean' over zero elements is refused. The gradient is
    ``sign(input - target)``, 0 where they are equal (as PyTorch's).
    """
    _check_reduction("l1_loss", reduction)
    input, target = coerce("l1_loss", input, target)
    if input.shape != target.shape:
        raise ShapeError(
            f"l1_loss: target must have the shape of input {input.shape}, got {target.shape}"
        )
    if reduction == "mean" and input.size == 0:
        raise ShapeError("l1_loss: reduction='mean' needs at least one element, got 0")
    return L1Loss.apply(input, target, reduction=reduction)


def _penalty_operands(op, tensors, weight):
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise ArgumentTypeError(f"{op}: weight must be a real number, got {type(weight).__name__}")
    if isinstance(tensors, (Tensor, np.ndarray)):
        tensors = [tensors]
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError(f"{op}: needs at least one tensor, got none")
    return coerce(op, *tensors), float(weight)


def l1_penalty(tensors: Sequence[TensorLike], weight: TensorLike = 1.0) -> Tensor:
    """``weight * sum(|w|)`` over every element of every tensor (a Tensor or an iterable).

    The gradient is ``weight * sign(w)``, taken as 0 at w = 0.
    """
    operands, weight = _penalty_operands("l1_penalty", tensors, weight)
    return L1Penalty.apply(*operands, weight=weight)


def l2_penalty(tensors: Sequence[TensorLike], weight: TensorLike = 1.0) -> Tensor:
    """``weight * sum(w ** 2)`` over every element of every tensor (a Tensor or an iterable).

    No factor 1/2: the gradient is ``2 * weight * w``. PyTorch's optimizer
    ``weight_decay=lam`` adds ``lam * w`` to the gradient, which is the gradient of
    ``0.5 * lam * sum(w ** 2)``; so ``l2_penalty(params, weight=lam / 2)`` matches it.
    """
    operands, weight = _penalty_operands("l2_penalty", tensors, weight)
    return L2Penalty.apply(*operands, weight=weight)
