"""Loss modules with PyTorch's names, arguments and reductions.

Each holds its options and calls its function in :mod:`numrnn.functional`.
Called as ``loss(input, target)`` it is PyTorch's loss; called with
``lengths=`` (or ``mask=``) on a padded batch of sequences it counts the
valid steps only, through the ``sequence_*`` losses: padded steps get no loss
and no gradient, and 'mean' averages over the valid steps.

One difference from PyTorch: the class axis of ``CrossEntropyLoss`` and
``NLLLoss`` is the last one, as numrnn's layers produce it ((N, C), (T, B, C));
PyTorch's is axis 1 (``(N, C, d1, ...)``). For (N, C) the two agree.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn import functional as F
from numrnn.autograd.ops.losses import REDUCTIONS, check_label_smoothing
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError
from numrnn.nn.module import Module

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.typing import TensorLike, TensorOrArray

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss"]


class _Loss(Module):
    """Options every loss shares: ``reduction`` and the sequence layout ``batch_first``."""

    def __init__(self, reduction: str, batch_first: bool) -> None:
        super().__init__()
        name = type(self).__name__
        if reduction not in REDUCTIONS:
            raise ArgumentError(f"{name}: reduction must be one of {REDUCTIONS}, "
                                f"got {reduction!r}")
        if not isinstance(batch_first, bool):
            raise ArgumentTypeError(f"{name}: batch_first must be a bool, "
                                    f"got {type(batch_first).__name__}")
        self.reduction = reduction
        self.batch_first = batch_first

    def _masked(self, lengths, mask):
        return lengths is not None or mask is not None

    def _sequence_options(self, lengths, mask):
        return {"lengths": lengths, "mask": mask, "batch_first": self.batch_first}

    def extra_repr(self) -> str:
        shown = [f"{key}={value!r}" for key, value, default in self._shown_options()
                 if not _same(value, default)]
        return ", ".join(shown)

    def _shown_options(self):
        return [("reduction", self.reduction, "mean"), ("batch_first", self.batch_first, False)]


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (..., C) against integer class targets.

    See :func:`numrnn.functional.cross_entropy` (and, with ``lengths`` or
    ``mask``, :func:`numrnn.functional.sequence_cross_entropy`).

    Parameters
    ----------
    weight : array-like of shape (C,), optional
        A weight per class; 'mean' then divides by the total weight of the
        targets that count, as PyTorch.
    ignore_index : int, default -100
        Targets with this value give no loss and no gradient.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    label_smoothing : float in [0, 1], default 0
    batch_first : bool, default False
        Layout of sequence batches passed with ``lengths``/``mask``: (B, T, C)
        instead of (T, B, C).

    Notes
    -----
    Call as ``loss(logits, targets, lengths=None, mask=None)``.

    Examples
    --------
    >>> criterion = CrossEntropyLoss(weight=[1.0, 3.0], label_smoothing=0.1)
    >>> loss = criterion(model(x), labels)
    >>> loss = criterion(step_logits, step_targets, lengths=lengths)   # (T, B, C), (T, B)
    """

    def __init__(self, weight: TensorLike | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0, *,
                 batch_first: bool = False) -> None:
        super().__init__(reduction, batch_first)
        self.weight = _class_weight(type(self).__name__, weight)
        self.ignore_index = _ignore_index(type(self).__name__, ignore_index)
        self.label_smoothing = check_label_smoothing(type(self).__name__, label_smoothing)

    def forward(self, input: TensorOrArray, target: TensorOrArray,
                lengths: npt.ArrayLike | None = None, mask: TensorOrArray | None = None) -> Tensor:
        options = {"weight": self.weight, "ignore_index": self.ignore_index,
                   "reduction": self.reduction, "label_smoothing": self.label_smoothing}
        if self._masked(lengths, mask):
            return F.sequence_cross_entropy(input, target, **self._sequence_options(lengths, mask),
                                            **options)
        return F.cross_entropy(input, target, **options)

    def _shown_options(self):
        return [("weight", self.weight, None), ("ignore_index", self.ignore_index, -100),
                ("label_smoothing", self.label_smoothing, 0.0)] + super()._shown_options()


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (..., C) against integer class targets.

    Feed it ``log_softmax`` outputs; ``NLLLoss()(log_softmax(x), t)`` equals
    ``CrossEntropyLoss()(x, t)``. Options as :class:`CrossEntropyLoss`, without
    label smoothing; see :func:`numrnn.functional.nll_loss`.
    """

    def __init__(self, weight: TensorLike | None = None, ignore_index: int = -100,
                 reduction: str = "mean", *, batch_first: bool = False) -> None:
        super().__init__(reduction, batch_first)
        self.weight = _class_weight(type(self).__name__, weight)
        self.ignore_index = _ignore_index(type(self).__name__, ignore_index)

    def forward(self, input: TensorOrArray, target: TensorOrArray,
                lengths: npt.ArrayLike | None = None, mask: TensorOrArray | None = None) -> Tensor:
        options = {"weight": self.weight, "ignore_index": self.ignore_index,
                   "reduction": self.reduction}
        if self._masked(lengths, mask):
            return F.sequence_nll_loss(input, target, **self._sequence_options(lengths, mask),
                                       **options)
        return F.nll_loss(input, target, **options)

    def _shown_options(self):
        return [("weight", self.weight, None), ("ignore_index", self.ignore_index, -100)
                ] + super()._shown_options()


class MSELoss(_Loss):
    """Squared error ``(input - target) ** 2``; see :func:`numrnn.functional.mse_loss`.

    With ``lengths``/``mask`` the mean is over the valid steps and their
    features (:func:`numrnn.functional.sequence_mse_loss`).
    """

    def __init__(self, reduction: str = "mean", *, batch_first: bool = False) -> None:
        super().__init__(reduction, batch_first)

    def forward(self, input: TensorOrArray, target: TensorOrArray,
                lengths: npt.ArrayLike | None = None, mask: TensorOrArray | None = None) -> Tensor:
        if self._masked(lengths, mask):
            return F.sequence_mse_loss(input, target, **self._sequence_options(lengths, mask),
                                       reduction=self.reduction)
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Absolute error ``|input - target|``; see :func:`numrnn.functional.l1_loss`."""

    def __init__(self, reduction: str = "mean", *, batch_first: bool = False) -> None:
        super().__init__(reduction, batch_first)

    def forward(self, input: TensorOrArray, target: TensorOrArray,
                lengths: npt.ArrayLike | None = None, mask: TensorOrArray | None = None) -> Tensor:
        if self._masked(lengths, mask):
            return F.sequence_l1_loss(input, target, **self._sequence_options(lengths, mask),
                                      reduction=self.reduction)
        return F.l1_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits, for yes/no and multi-label outputs.

    See :func:`numrnn.functional.binary_cross_entropy_with_logits`: computed
    through softplus, finite for any logit.

    Parameters
    ----------
    weight : array-like, optional
        Rescales each element's loss; broadcast to the input's shape.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    pos_weight : array-like, optional
        Weight of the positive term, broadcast to the input's shape: (C,)
        for one per label on the last axis.
    batch_first : bool, default False
        Layout of sequence batches passed with ``lengths``/``mask``.

    Examples
    --------
    >>> criterion = BCEWithLogitsLoss(pos_weight=[4.0, 1.0, 1.0])
    >>> loss = criterion(model(x), multi_hot_labels)
    """

    def __init__(self, weight: TensorLike | None = None, reduction: str = "mean",
                 pos_weight: TensorLike | None = None, *, batch_first: bool = False) -> None:
        super().__init__(reduction, batch_first)
        self.weight = _real_array(type(self).__name__, "weight", weight)
        self.pos_weight = _real_array(type(self).__name__, "pos_weight", pos_weight)

    def forward(self, input: TensorOrArray, target: TensorOrArray,
                lengths: npt.ArrayLike | None = None, mask: TensorOrArray | None = None) -> Tensor:
        options = {"weight": self.weight, "pos_weight": self.pos_weight,
                   "reduction": self.reduction}
        if self._masked(lengths, mask):
            return F.sequence_binary_cross_entropy_with_logits(
                input, target, **self._sequence_options(lengths, mask), **options)
        return F.binary_cross_entropy_with_logits(input, target, **options)

    def _shown_options(self):
        return [("weight", self.weight, None), ("pos_weight", self.pos_weight, None)
                ] + super()._shown_options()


def _real_array(name, option, value):
    """``value`` as a float64 array (a copy), or None."""
    if value is None:
        return None
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.dtype.kind not in "fiu":
        raise DTypeError(f"{name}: {option} must hold real numbers, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ArgumentError(f"{name}: {option} must be finite, got {array.tolist()}")
    return array.astype(np.float64)


def _class_weight(name, weight):
    array = _real_array(name, "weight", weight)
    if array is not None and array.ndim != 1:
        raise ArgumentError(f"{name}: weight must be 1-D, one per class, got shape {array.shape}")
    return array


def _ignore_index(name, ignore_index):
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise ArgumentTypeError(f"{name}: ignore_index must be an int, "
                                f"got {type(ignore_index).__name__}")
    return int(ignore_index)


def _same(value, default):
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    return value == default
