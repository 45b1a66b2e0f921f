"""Batches of sequences of similar length, so that little compute is spent on padding.

:func:`bucket_batches` decides which sequences go together (indices only);
:class:`BucketIterator` pads them into arrays ready for a recurrent layer.

The bucketing: shuffle all indices, cut them into pools of
``batch_size * bucket_size_multiplier``, sort each pool by length and cut it
into batches, then shuffle the order of the batches. Large pools give batches
of nearly equal lengths; the shuffles keep batches varied from epoch to epoch.
Everything is driven by ``seed`` (and the epoch), so a run can be repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from numrnn.data.padding import pad_sequences
from numrnn.errors import ArgumentError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    import numpy.typing as npt

    from numrnn.typing import IntArray


def bucket_batches(lengths: npt.ArrayLike, batch_size: int, shuffle: bool = True, seed: int = 0,
                   bucket_size_multiplier: int = 50, drop_last: bool = False) -> list[IntArray]:
    """Group sequence indices into batches of similar length.

    Parameters
    ----------
    lengths : array_like of int, shape (N,)
        Length of each sequence.
    batch_size : int
    shuffle : bool, default True
        Randomize pool contents and batch order; when False, pools follow the
        original order and batches come out pool by pool, longest first.
    seed : int or sequence of int, default 0
        Seeds the shuffles (``np.random.default_rng(seed)``).
    bucket_size_multiplier : int, default 50
        Pool size in batches. 1 means no sorting across batches; ``N`` or more
        means a global sort by length.
    drop_last : bool, default False
        Drop the one batch smaller than ``batch_size``, if there is one.

    Returns
    -------
    list of ndarray of int64
        Each entry holds the indices of one batch, sorted by decreasing length
        (the order packed recurrent layers like). Every index appears once.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ShapeError(f"bucket_batches: lengths must be 1-D (N,), got shape {lengths.shape}")
    for name, value in (("batch_size", batch_size),
                        ("bucket_size_multiplier", bucket_size_multiplier)):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ArgumentError(f"bucket_batches: {name} must be a positive integer, got {value!r}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    pool_size = batch_size * bucket_size_multiplier
    batches = []
    for start in range(0, len(order), pool_size):
        pool = order[start : start + pool_size]
        # Stable sort on the negated length: ties keep the (shuffled) pool order.
        pool = pool[np.argsort(-lengths[pool], kind="stable")]
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    # Pools are multiples of batch_size, so only the very last batch can be short.
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return [batch.astype(np.int64) for batch in batches]


@dataclass(frozen=True)
class Batch:
    """One padded batch.

    Attributes
    ----------
    inputs : ndarray, shape (T, B, *F) or (B, T, *F)
        The batch's sequences padded to its longest, ``T``.
    lengths : ndarray of int64, shape (B,)
    targets : ndarray or None
        Per-sequence targets ``(B, *G)``, or per-step targets padded like the
        inputs ``(T', B, *G)`` / ``(B, T', *G)``; None when none were given.
    indices : ndarray of int64, shape (B,)
        Positions of these sequences in the dataset.
    """

    inputs: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray | None
    indices: np.ndarray


class BucketIterator:
    """Iterate over padded batches of similar-length sequences, one epoch per ``iter()``.

    Parameters
    ----------
    sequences : sequence of array_like
        ``N`` sequences, the i-th of shape ``(L_i, *F)``.
    batch_size : int
    targets : array_like or sequence of array_like, optional
        One target per sequence. By default each is fixed-shape (a class label,
        a value): an ``(N, *G)`` array or a list of N equal-shape items, which
        batches get stacked as ``(B, *G)``.
    per_step_targets : bool, default False
        Targets are sequences themselves (a list of N arrays ``(L'_i, *G)``,
        usually ``L'_i = L_i``): batches get them padded like the inputs, with
        ``target_padding_value``, as ``(T', B, *G)`` or ``(B, T', *G)``.
    shuffle, seed, bucket_size_multiplier, drop_last
        As for :func:`bucket_batches`. Epoch ``e`` is shuffled with the seed
        ``(seed, e)``: every epoch differs, and a fresh iterator with the same
        seed repeats them all.
    batch_first : bool, default False
        Layout ``(B, T, ...)`` instead of ``(T, B, ...)``.
    padding_value, target_padding_value : scalar, default 0
    dtype : numpy dtype, optional
        dtype of ``inputs``; defaults to that of the sequences.

    Attributes
    ----------
    epoch : int
        The epoch the next ``iter()`` will produce; assign to jump (resume).

    Examples
    --------
    ::

        for batch in BucketIterator(sequences, batch_size=32, targets=labels):
            output = model(batch.inputs, batch.lengths)
    """

    def __init__(self, sequences: Sequence[npt.ArrayLike], batch_size: int,
                 targets: npt.ArrayLike | None = None, per_step_targets: bool = False,
                 shuffle: bool = True, seed: int = 0, bucket_size_multiplier: int = 50,
                 drop_last: bool = False, batch_first: bool = False, padding_value: float = 0,
                 target_padding_value: float = 0, dtype: npt.DTypeLike | None = None) -> None:
        self.sequences = [np.asarray(sequence) for sequence in sequences]
        if any(sequence.ndim == 0 for sequence in self.sequences):
            raise ShapeError("BucketIterator: each sequence needs a time axis first, "
                             "shape (L, *features); got a scalar")
        self.lengths = np.array([len(sequence) for sequence in self.sequences], dtype=np.int64)
        self.targets = _prepare_targets(targets, len(self.sequences), per_step_targets)
        self.per_step_targets = per_step_targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size_multiplier = bucket_size_multiplier
        self.drop_last = drop_last
        self.batch_first = batch_first
        self.padding_value = padding_value
        self.target_padding_value = target_padding_value
        self.dtype = dtype
        self.epoch = 0
        # Validates batch_size and bucket_size_multiplier before any iteration.
        self._batch_indices(0)

    def _batch_indices(self, epoch):
        seed = self.seed if isinstance(self.seed, (list, tuple)) else [self.seed]
        return bucket_batches(self.lengths, self.batch_size, shuffle=self.shuffle,
                              seed=[*seed, epoch],
                              bucket_size_multiplier=self.bucket_size_multiplier,
                              drop_last=self.drop_last)

    def __len__(self) -> int:
        full, rest = divmod(len(self.sequences), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Any]:
        batches = self._batch_indices(self.epoch)
        self.epoch += 1
        for indices in batches:
            yield self._make_batch(indices)

    def _make_batch(self, indices):
        inputs, lengths = pad_sequences([self.sequences[i] for i in indices],
                                        batch_first=self.batch_first,
                                        padding_value=self.padding_value, dtype=self.dtype)
        if self.targets is None:
            targets = None
        elif self.per_step_targets:
            targets, _ = pad_sequences([self.targets[i] for i in indices],
                                       batch_first=self.batch_first,
                                       padding_value=self.target_padding_value)
        else:
            targets = self.targets[indices]
        return Batch(inputs=inputs, lengths=lengths, targets=targets, indices=indices)


def _prepare_targets(targets, count, per_step):
    """Return targets as an (N, ...) array, or as a list of N arrays when ``per_step``."""
    if targets is None:
        return None
    if per_step:
        items = [np.asarray(target) for target in targets]
        if any(item.ndim == 0 for item in items):
            raise ShapeError("BucketIterator: per-step targets must each be an (L, ...) array, "
                             "got a scalar")
    else:
        items = np.asarray(targets)
    if len(items) != count:
        raise ShapeError(f"BucketIterator: got {count} sequences but {len(items)} targets")
    return items
