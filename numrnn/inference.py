"""``numrnn.predict``: a model over many variable-length sequences, in batches of similar length.

The batching plan is one pure function, :func:`plan_batches`, shared with
:func:`numrnn.distributed.predict`: both run the same batches through the same
weights, so a cluster's results equal this single process's bit for bit
(numrnn's kernels give the same bits for any thread count).

The plan reads the input one pool of ``batch_size * bucket_size_multiplier``
sequences at a time (so a generator is never held whole), sorts each pool by
length, longest first (ties in input order), and cuts it into batches.
"""

from __future__ import annotations

import itertools
import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.tensor import Tensor
from numrnn.data.padding import pad_sequences
from numrnn.errors import ArgumentError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any

    import numpy.typing as npt

    from numrnn.nn.module import Module
    from numrnn.typing import IntArray

__all__ = ["check_batching", "plan_batch_indices", "plan_batches", "predict", "run_batch"]


def plan_batches(
        sequences: Iterable[npt.ArrayLike], batch_size: int, bucket_size_multiplier: int = 50,
) -> Iterator[tuple[IntArray, list[npt.NDArray[Any]]]]:
    """Yield ``(indices, sequences)`` batches of similar length, pool by pool.

    Parameters
    ----------
    sequences : iterable of array_like
        Each of shape ``(L_i, *F)`` with ``L_i >= 1``; a list or a generator.
    batch_size : int
    bucket_size_multiplier : int, default 50
        Pool size in batches: sequences are only grouped with others of the
        same pool, so a larger pool wastes less on padding and holds more in memory.

    Yields
    ------
    indices : ndarray of int64
        Positions of the batch's sequences in the input, longest first.
    batch : list of ndarray
        Those sequences.
    """
    # Checked now, not at the first batch: the generator below starts late.
    check_batching(batch_size, bucket_size_multiplier)
    return _batches(iter(sequences), batch_size * bucket_size_multiplier, batch_size)


def check_batching(batch_size: int, bucket_size_multiplier: int) -> None:
    """Refuse a batch size or pool multiplier that is not a positive int."""
    _check_positive("batch_size", batch_size)
    _check_positive("bucket_size_multiplier", bucket_size_multiplier)


def plan_batch_indices(lengths: npt.ArrayLike, batch_size: int,
                       bucket_size_multiplier: int = 50) -> Iterator[IntArray]:
    """Yield the index arrays of :func:`plan_batches`'s batches from the sequences' lengths alone.

    For inputs that are not on this machine (a ``dask.bag``): the same pools,
    order and cuts as :func:`plan_batches` over sequences of these lengths.
    """
    check_batching(batch_size, bucket_size_multiplier)
    return _index_batches(np.asarray(lengths, dtype=np.int64),
                          batch_size * bucket_size_multiplier, batch_size)


def _index_batches(lengths, pool_size, batch_size):
    for start in range(0, len(lengths), pool_size):
        for chosen in _pool_batches(lengths[start:start + pool_size], batch_size):
            yield chosen + start


def _pool_batches(lengths, batch_size):
    """One pool's batches: its positions, longest first (ties in input order), cut in batches."""
    order = np.argsort(-lengths, kind="stable").astype(np.int64)
    for first in range(0, len(order), batch_size):
        yield order[first:first + batch_size]


def sequence_length(array, index):
    """``len(array)``, refusing a scalar or an empty sequence, which no batch can hold."""
    if array.ndim == 0 or len(array) == 0:
        got = "a scalar" if array.ndim == 0 else f"shape {array.shape}"
        raise ShapeError(f"predict: sequence {index} must have shape (L, *features) with "
                         f"L >= 1, got {got}")
    return len(array)


def _batches(iterator, pool_size, batch_size):
    start = 0
    while True:
        pool = [np.asarray(item) for item in itertools.islice(iterator, pool_size)]
        if not pool:
            return
        lengths = np.array([sequence_length(array, start + offset)
                            for offset, array in enumerate(pool)], dtype=np.int64)
        for chosen in _pool_batches(lengths, batch_size):
            yield chosen + start, [pool[i] for i in chosen]
        start += len(pool)


def run_batch(model: Module, batch: Sequence[npt.ArrayLike], *, per_step: bool = False,
              batch_first: bool = False, padding_value: float = 0,
              dtype: npt.DTypeLike | None = None) -> list[npt.NDArray[Any]]:
    """The model's outputs for one batch of sequences, one array per sequence, in batch order.

    The model is called as ``model(inputs, lengths=lengths)`` on the padded
    batch, under ``no_grad``; it returns a Tensor, or a tuple whose first item
    is one (as ``nn.LSTM`` does). With ``per_step=False`` the output is one row
    per sequence, ``(B, ...)``; with ``per_step=True`` it is one row per step,
    ``(T, B, ...)`` (``(B, T, ...)`` with ``batch_first``), and sequence ``i``
    gets its first ``L_i`` steps.
    """
    inputs, lengths = pad_sequences(batch, batch_first=batch_first,
                                    padding_value=padding_value, dtype=dtype)
    with no_grad():
        output = model(inputs, lengths=lengths)
    if isinstance(output, tuple) and output:
        output = output[0]
    if not isinstance(output, Tensor):
        raise ArgumentError(f"predict: the model must return a Tensor or a tuple starting "
                            f"with one, got {type(output).__name__}")
    data = output.data
    batch_axis = 0 if batch_first or not per_step else 1
    if data.ndim <= batch_axis or data.shape[batch_axis] != len(batch):
        layout = "(B, ...)" if not per_step else ("(B, T, ...)" if batch_first else "(T, B, ...)")
        raise ShapeError(f"predict: with per_step={per_step} the model's output must be "
                         f"{layout} with B = {len(batch)} sequences, got shape {data.shape}")
    if not per_step:
        return [data[row].copy() for row in range(len(batch))]
    if batch_first:
        return [data[row, :length].copy() for row, length in enumerate(lengths)]
    return [data[:length, row].copy() for row, length in enumerate(lengths)]


def predict(model: Module, sequences: Iterable[npt.ArrayLike], batch_size: int = 64, *,
            per_step: bool = False, batch_first: bool = False, padding_value: float = 0,
            dtype: npt.DTypeLike | None = None,
            bucket_size_multiplier: int = 50) -> list[npt.NDArray[Any]]:
    """Run ``model`` over every sequence, in length-bucketed batches; outputs in input order.

    Parameters
    ----------
    model : Module
        Put in eval mode (and left there). Called as ``model(inputs,
        lengths=lengths)`` on each padded batch (see :func:`run_batch`).
    sequences : iterable of array_like
        ``N`` sequences, the i-th of shape ``(L_i, *F)``: a list or a generator.
    batch_size : int, default 64
    per_step : bool, default False
        The model's output has a time axis: return each sequence's first
        ``L_i`` steps of it.
    batch_first : bool, default False
        Pad the inputs ``(B, T, *F)`` instead of ``(T, B, *F)``.
    padding_value : scalar, default 0
    dtype : numpy dtype, optional
        dtype of the padded inputs; defaults to that of the sequences.
    bucket_size_multiplier : int, default 50
        As for :func:`plan_batches`.

    Returns
    -------
    list of ndarray
        One output per sequence, in input order: ``(*G)`` per sequence, or
        ``(L_i, *G)`` with ``per_step``.
    """
    model.eval()
    results: dict[int, npt.NDArray[Any]] = {}
    for indices, batch in plan_batches(sequences, batch_size, bucket_size_multiplier):
        outputs = run_batch(model, batch, per_step=per_step, batch_first=batch_first,
                            padding_value=padding_value, dtype=dtype)
        results.update(zip(indices.tolist(), outputs))
    return [results[index] for index in range(len(results))]


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ArgumentError(f"predict: {name} must be a positive int, got {value!r}")
