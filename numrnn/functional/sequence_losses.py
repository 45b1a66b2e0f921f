"""Losses over padded batches of sequences, and the many-to-one gather.

A padded batch holds ``T`` steps for every row, but row ``b`` is only valid for
its first ``lengths[b]`` steps (or where a boolean ``mask`` is True). These
losses average over the valid steps only, and the padded steps have no
influence at all: whatever their predictions or targets hold (even NaN or an
out-of-range class), the loss and every gradient are unchanged, and the
gradient reaching a padded step is exactly zero.

That is achieved with primitive ops rather than a new gradient rule: padded
predictions are replaced by 0 with ``where`` (whose backward sends zero to the
replaced entries, and whose forward drops NaN), padded targets are switched
off (``ignore_index`` for cross-entropy and NLL, 0 for squared and absolute
error, a weight of 0 for binary cross-entropy), and the mean divides by the
number of valid steps.

Layouts follow the recurrent layers: time-major ``(T, B, ...)`` by default,
``(B, T, ...)`` with ``batch_first=True``; ``lengths`` is ``(B,)`` either way
and ``mask`` has the layout of the targets, ``(T, B)`` or ``(B, T)``.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.ops.arithmetic import div
from numrnn.autograd.ops.binary_losses import (
    binary_cross_entropy_with_logits,
    broadcast_constant,
)
from numrnn.autograd.ops.embedding import integer_array
from numrnn.autograd.ops.indexing import getitem, where
from numrnn.autograd.ops.losses import (
    REDUCTIONS,
    check_label_smoothing,
    class_weight_array,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
)
from numrnn.autograd.ops.operands import coerce
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.functional.checks import check_lengths, data_of

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import TensorLike, TensorOrArray

__all__ = ["last_valid_step", "sequence_binary_cross_entropy_with_logits",
           "sequence_cross_entropy", "sequence_l1_loss", "sequence_mask", "sequence_mse_loss",
           "sequence_nll_loss"]

# Any negative class works: valid targets are checked to lie in 0..C-1.
_PADDED_TARGET = -1


def sequence_mask(lengths: npt.ArrayLike, steps: int,
                  batch_first: bool = False) -> npt.NDArray[np.bool_]:
    """Boolean mask of the valid steps: ``mask[t, b] = t < lengths[b]``.

    ``lengths`` is an int array ``(B,)`` with entries in 0..steps (a row of
    length 0 is allowed: it simply contributes nothing to a loss). Returns a
    ``(steps, B)`` array, or ``(B, steps)`` with ``batch_first``.
    """
    return _mask_from_lengths("sequence_mask", lengths, steps, None, batch_first)


def _mask_from_lengths(op, lengths, steps, batch, batch_first):
    array = np.asarray(data_of(lengths))
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: lengths must be integers, got dtype {array.dtype}")
    if array.ndim != 1 or (batch is not None and array.shape != (batch,)):
        expected = "(B,)" if batch is None else f"({batch},), one per batch row"
        raise ShapeError(f"{op}: lengths must have shape {expected}, got {array.shape}")
    if array.size and (array.min() < 0 or array.max() > steps):
        raise ShapeError(f"{op}: every length must be in 0..{steps} (the number of steps), "
                         f"got {array.tolist()}")
    mask = np.arange(steps)[:, None] < array[None, :]
    return mask.T.copy() if batch_first else mask


def _valid_steps(op, shape, lengths, mask, batch_first):
    """The ``(T, B)`` (or ``(B, T)``) boolean mask of valid steps for ``shape``."""
    steps, batch = (shape[1], shape[0]) if batch_first else (shape[0], shape[1])
    if lengths is not None and mask is not None:
        raise ArgumentError(f"{op}: pass lengths or mask, not both")
    if lengths is not None:
        return _mask_from_lengths(op, lengths, steps, batch, batch_first)
    if mask is None:
        return np.ones(shape[:2], dtype=bool)
    mask = np.asarray(data_of(mask))
    if mask.dtype != np.bool_:
        raise DTypeError(f"{op}: mask must be a boolean array, got dtype {mask.dtype}")
    if mask.shape != tuple(shape[:2]):
        layout = "(B, T)" if batch_first else "(T, B)"
        raise ShapeError(f"{op}: mask must have shape {tuple(shape[:2])} {layout}, "
                         f"got {mask.shape}")
    return mask


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_sequence(op, name, x, batch_first, extra_dims):
    layout = "(B, T" if batch_first else "(T, B"
    if x.ndim < 2 + extra_dims:
        tail = ", C)" if extra_dims else ", ...)"
        raise ShapeError(f"{op}: {name} must be at least {2 + extra_dims}-D {layout}{tail}, "
                         f"got shape {x.shape}")


def sequence_cross_entropy(logits: TensorLike, targets: TensorLike,
                           lengths: npt.ArrayLike | None = None, mask: TensorLike | None = None,
                           batch_first: bool = False, reduction: str = "mean",
                           weight: TensorLike | None = None, ignore_index: int | None = None,
                           label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy per step, averaged over the valid steps only.

    Parameters
    ----------
    logits : Tensor or float ndarray, shape (T, B, C), or (B, T, C) with batch_first
    targets : int array, shape (T, B), or (B, T) with batch_first
        Class of each step, in 0..C-1 where valid; padded steps may hold anything.
    lengths : int array (B,), optional
        Valid steps per row, each in 0..T; step ``t`` of row ``b`` counts when
        ``t < lengths[b]``.
    mask : bool array shaped like ``targets``, optional
        True at the steps that count. Give ``lengths`` or ``mask`` (or neither:
        every step counts), not both.
    reduction : {'mean', 'sum', 'none'}
        'mean' divides the sum by the number of valid steps (by their total
        class weight with ``weight``; 0 when there are none); 'none' returns
        the per-step losses shaped like ``targets``, 0 at padded steps.
    weight : array-like (C,), optional
        A weight per class, as :func:`numrnn.functional.cross_entropy`.
    ignore_index : int, optional
        Valid steps whose target is this value are skipped as padded ones are.
    label_smoothing : float in [0, 1]
        As :func:`numrnn.functional.cross_entropy`.

    Examples
    --------
    >>> loss = sequence_cross_entropy(decoder_logits, target_ids, lengths=target_lengths)
    """
    return _sequence_class_loss("sequence_cross_entropy", cross_entropy, "logits", logits,
                                targets, lengths, mask, batch_first, reduction, ignore_index,
                                weight=weight, label_smoothing=label_smoothing)


def sequence_nll_loss(log_probs: TensorLike, targets: TensorLike,
                      lengths: npt.ArrayLike | None = None, mask: TensorLike | None = None,
                      batch_first: bool = False, reduction: str = "mean",
                      weight: TensorLike | None = None, ignore_index: int | None = None) -> Tensor:
    """Negative log-likelihood per step, averaged over the valid steps only.

    :func:`numrnn.functional.nll_loss` on a padded batch: ``log_probs`` is
    (T, B, C) (or (B, T, C) with ``batch_first``), and the other arguments are
    those of :func:`sequence_cross_entropy`.
    """
    return _sequence_class_loss("sequence_nll_loss", nll_loss, "log_probs", log_probs, targets,
                                lengths, mask, batch_first, reduction, ignore_index,
                                weight=weight)


def _sequence_class_loss(op, loss, name, scores, targets, lengths, mask, batch_first, reduction,
                         ignore_index, **options):
    _check_reduction(op, reduction)
    if "label_smoothing" in options:
        check_label_smoothing(op, options["label_smoothing"])
    (scores,) = coerce(op, scores)
    _check_sequence(op, name, scores, batch_first, extra_dims=1)
    options["weight"] = class_weight_array(op, options["weight"], scores.shape[-1], scores.dtype)
    target_array = integer_array(op, "targets", targets)
    if target_array.shape != scores.shape[:-1]:
        raise ShapeError(f"{op}: targets must have shape {scores.shape[:-1]} ({name} without "
                         f"the class axis), got {target_array.shape}")
    valid = _valid_steps(op, scores.shape, lengths, mask, batch_first)
    allowed = ""
    if ignore_index is not None:
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
            raise ArgumentTypeError(f"{op}: ignore_index must be an int or None, got "
                                    f"{type(ignore_index).__name__}")
        valid = valid & (target_array != ignore_index)
        allowed = f" or ignore_index={ignore_index}"
    n_classes = scores.shape[-1]
    out_of_range = valid & ((target_array < 0) | (target_array >= n_classes))
    if out_of_range.any():
        raise ShapeError(f"{op}: targets at valid steps must be in 0..{n_classes - 1}{allowed}, "
                         f"got {int(target_array[out_of_range][0])}")
    masked_scores = where(valid[..., None], scores, 0.0)
    masked_targets = np.where(valid, target_array, _PADDED_TARGET)
    return loss(masked_scores, masked_targets, ignore_index=_PADDED_TARGET, reduction=reduction,
                **options)


def sequence_mse_loss(pred: TensorLike, target: TensorLike, lengths: npt.ArrayLike | None = None,
                      mask: TensorLike | None = None, batch_first: bool = False,
                      reduction: str = "mean") -> Tensor:
    """Squared error per element, averaged over the valid steps and their features.

    Parameters
    ----------
    pred, target : Tensor or float ndarray, shape (T, B, ...), or (B, T, ...) with batch_first
        Same shape; both may require gradients. Padded steps may hold anything.
    lengths, mask :
        As in :func:`sequence_cross_entropy`.
    reduction : {'mean', 'sum', 'none'}
        'mean' divides the sum by (valid steps x features per step), 0 when no
        step is valid; 'none' returns the per-element squared errors, 0 at
        padded steps.
    """
    return _sequence_elementwise_loss("sequence_mse_loss", mse_loss, pred, target, lengths, mask,
                                      batch_first, reduction)


def sequence_l1_loss(pred: TensorLike, target: TensorLike, lengths: npt.ArrayLike | None = None,
                     mask: TensorLike | None = None, batch_first: bool = False,
                     reduction: str = "mean") -> Tensor:
    """Absolute error per element, averaged over the valid steps and their features.

    :func:`numrnn.functional.l1_loss` on a padded batch; arguments as
    :func:`sequence_mse_loss`.
    """
    return _sequence_elementwise_loss("sequence_l1_loss", l1_loss, pred, target, lengths, mask,
                                      batch_first, reduction)


def sequence_binary_cross_entropy_with_logits(logits: TensorLike, target: TensorLike,
                                              lengths: npt.ArrayLike | None = None,
                                              mask: TensorLike | None = None,
                                              batch_first: bool = False, reduction: str = "mean",
                                              weight: TensorLike | None = None,
                                              pos_weight: TensorLike | None = None) -> Tensor:
    """Binary cross-entropy on logits per element, averaged over the valid steps and features.

    :func:`numrnn.functional.binary_cross_entropy_with_logits` on a padded
    batch: ``logits`` and ``target`` are (T, B, ...) (or (B, T, ...) with
    ``batch_first``); ``weight`` and ``pos_weight`` broadcast to their shape;
    'mean' divides by (valid steps x features per step), 0 when no step is
    valid; padded steps give 0 loss and 0 gradient whatever they hold.
    """
    op = "sequence_binary_cross_entropy_with_logits"
    (template,) = coerce(op, logits)
    weight = broadcast_constant(op, "weight", weight, template.shape, template.dtype)
    return _sequence_elementwise_loss(op, binary_cross_entropy_with_logits, logits, target,
                                      lengths, mask, batch_first, reduction, weighted=True,
                                      weight=weight, pos_weight=pos_weight)


def _sequence_elementwise_loss(op, loss, pred, target, lengths, mask, batch_first, reduction,
                               weighted=False, weight=None, **options):
    """``loss`` over the valid steps of ``pred`` and ``target``.

    With ``weighted`` the mask (times ``weight``, if any) is also passed as the
    loss's ``weight``: binary cross-entropy is log 2, not 0, at zeroed inputs.
    """
    _check_reduction(op, reduction)
    pred, target = coerce(op, pred, target)
    _check_sequence(op, "pred", pred, batch_first, extra_dims=0)
    if pred.shape != target.shape:
        raise ShapeError(f"{op}: target must have the shape of pred {pred.shape}, "
                         f"got {target.shape}")
    valid = _valid_steps(op, pred.shape, lengths, mask, batch_first)
    valid_elements = valid.reshape(valid.shape + (1,) * (pred.ndim - 2))
    if weighted:
        mask_weight = np.broadcast_to(valid_elements, pred.shape).astype(pred.dtype)
        options["weight"] = mask_weight if weight is None else mask_weight * weight
    summed = loss(where(valid_elements, pred, 0.0), where(valid_elements, target, 0.0),
                  reduction="sum" if reduction == "mean" else reduction, **options)
    if reduction != "mean":
        return summed
    features = int(np.prod(pred.shape[2:], dtype=np.int64))
    count = int(valid.sum()) * features
    # With no valid step there is nothing to average: 0, as sequence_cross_entropy.
    return div(summed, count) if count else summed


def last_valid_step(output: TensorOrArray, lengths: npt.ArrayLike,
                    batch_first: bool = False) -> Tensor:
    """Each row's output at its last valid step: ``output[lengths[b] - 1, b]``.

    The many-to-one read-out for sequence classification on a padded batch
    (the last time step of a short row is padding). Differentiable: the
    gradient flows back to exactly those steps.

    Parameters
    ----------
    output : Tensor or float ndarray, shape (T, B, ...), or (B, T, ...) with batch_first
    lengths : int array (B,), each in 1..T

    Returns
    -------
    Tensor of shape ``(B, ...)``.
    """
    op = "last_valid_step"
    (output,) = coerce(op, output)
    _check_sequence(op, "output", output, batch_first, extra_dims=0)
    steps, batch = (output.shape[1], output.shape[0]) if batch_first else output.shape[:2]
    last = check_lengths(op, lengths, steps, batch) - 1
    rows = np.arange(batch)
    return getitem(output, (rows, last) if batch_first else (last, rows))
