"""Padding variable-length sequences into one array, and the masks that undo it.

Layouts follow the recurrent layers: time-major ``(T, B, ...)`` by default,
``(B, T, ...)`` with ``batch_first=True``. ``T`` is the longest sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError, DTypeError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import numpy.typing as npt

    from numrnn.typing import IntArray


def pad_sequences(sequences: Sequence[npt.ArrayLike], batch_first: bool = False,
                  padding_value: float = 0,
                  dtype: npt.DTypeLike | None = None) -> tuple[npt.NDArray[Any], IntArray]:
    """Stack sequences of different lengths into one array, padding the short ones.

    Parameters
    ----------
    sequences : sequence of array_like
        ``B`` sequences, the i-th of shape ``(L_i, *F)``; the feature shape
        ``F`` must be the same for all (token ids have ``F = ()``).
    batch_first : bool, default False
        Return ``(B, T, *F)`` instead of ``(T, B, *F)``.
    padding_value : scalar, default 0
        Written after the end of each shorter sequence.
    dtype : numpy dtype, optional
        Defaults to the common dtype of the sequences.

    Returns
    -------
    padded : ndarray, shape (T, B, *F) or (B, T, *F)
        ``T = max(L_i)``.
    lengths : ndarray of int64, shape (B,)
        ``L_i``, what :func:`lengths_to_mask` and the recurrent layers take.
    """
    arrays = [np.asarray(sequence) for sequence in sequences]
    if not arrays:
        raise ArgumentError("pad_sequences: got no sequences; need at least one")
    for position, array in enumerate(arrays):
        if array.ndim == 0:
            raise ShapeError(f"pad_sequences: sequence {position} is a scalar; each sequence "
                             "needs a time axis first, shape (L, *features)")
        if array.shape[1:] != arrays[0].shape[1:]:
            raise ShapeError(f"pad_sequences: every sequence must have feature shape "
                             f"{arrays[0].shape[1:]} like sequence 0, sequence {position} has "
                             f"{array.shape[1:]}")
    dtype = np.result_type(*arrays) if dtype is None else np.dtype(dtype)
    lengths = np.array([len(array) for array in arrays], dtype=np.int64)
    steps = int(lengths.max())
    padded = np.full((len(arrays), steps, *arrays[0].shape[1:]), padding_value, dtype=dtype)
    for row, array in enumerate(arrays):
        padded[row, : len(array)] = array
    if not batch_first:
        padded = np.ascontiguousarray(np.swapaxes(padded, 0, 1))
    return padded, lengths


def unpad_sequences(padded: npt.ArrayLike, lengths: npt.NDArray[Any],
                    batch_first: bool = False) -> list[npt.NDArray[Any]]:
    """Split a padded array back into its sequences: the inverse of :func:`pad_sequences`.

    Parameters
    ----------
    padded : ndarray, shape (T, B, *F) or (B, T, *F)
    lengths : array_like of int, shape (B,)
    batch_first : bool, default False

    Returns
    -------
    list of ndarray
        ``B`` copies, the i-th of shape ``(lengths[i], *F)``.
    """
    padded = np.asarray(padded)
    if padded.ndim < 2:
        raise ShapeError(f"unpad_sequences: padded must be at least 2-D (T, B, ...), "
                         f"got shape {padded.shape}")
    by_row = padded if batch_first else np.swapaxes(padded, 0, 1)
    lengths = _check_lengths("unpad_sequences", lengths, max_len=by_row.shape[1])
    if len(lengths) != by_row.shape[0]:
        raise ShapeError(f"unpad_sequences: lengths has {len(lengths)} entries, padded holds "
                         f"{by_row.shape[0]} sequences")
    return [by_row[row, :length].copy() for row, length in enumerate(lengths)]


def lengths_to_mask(lengths: npt.NDArray[Any], max_len: int | None = None,
                    batch_first: bool = False) -> npt.NDArray[np.bool_]:
    """Boolean mask that is True on real steps and False on padding.

    Parameters
    ----------
    lengths : array_like of int, shape (B,)
    max_len : int, optional
        ``T``; defaults to ``max(lengths)``.
    batch_first : bool, default False

    Returns
    -------
    mask : ndarray of bool, shape (T, B) or (B, T)
        ``mask[t, b] = t < lengths[b]``.
    """
    lengths = _check_lengths("lengths_to_mask", lengths, max_len)
    if max_len is None:
        max_len = int(lengths.max()) if lengths.size else 0
    mask = np.arange(max_len)[:, None] < lengths[None, :]
    return np.ascontiguousarray(mask.T) if batch_first else mask


def _check_lengths(op, lengths, max_len=None):
    array = np.asarray(lengths)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: lengths must be integers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ShapeError(f"{op}: lengths must be 1-D (B,), got shape {array.shape}")
    if array.size and array.min() < 0:
        raise ShapeError(f"{op}: lengths must be >= 0, got {array.tolist()}")
    if max_len is not None:
        if max_len < 0:
            raise ArgumentError(f"{op}: max_len must be >= 0, got {max_len}")
        if array.size and array.max() > max_len:
            raise ShapeError(f"{op}: a length of {int(array.max())} does not fit in "
                             f"{max_len} steps")
    return array.astype(np.int64)
