"""Embedding lookup: rows of a weight table picked by integer indices.

The forward is a row gather and the backward its adjoint, a scatter-add, both
Numba kernels in :mod:`numrnn.kernels.embedding`. Indices are data, not
something to differentiate, so they travel as a static argument.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.kernels.embedding import gather_rows, scatter_add_rows

if TYPE_CHECKING:
    from numrnn.typing import TensorLike

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def integer_array(op, name, values):
    """``values`` (array, Tensor or nested lists of ints) as an int64 ndarray.

    Floating, boolean and other non-integer dtypes are refused rather than
    rounded: a float index is almost always a bug upstream.
    """
    array = values.data if isinstance(values, Tensor) else np.asarray(values)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {name} must be an integer array, got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise ShapeError(f"{op}: {name} must fit in int64, got a maximum of {array.max()}")
    return array.astype(np.int64, copy=False)


class Embedding(Function):
    """``out[..., :] = weight[indices[...], :]``; gradient rows at ``padding_idx`` are zero."""

    @staticmethod
    def forward(ctx, weight, *, indices, padding_idx):
        flat = np.ascontiguousarray(indices.reshape(-1))
        rows = gather_rows(np.ascontiguousarray(weight), flat)
        ctx.save(flat, weight.shape[0], padding_idx)
        return rows.reshape(indices.shape + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad):
        flat, num_rows, padding_idx = ctx.saved
        grad_rows = np.ascontiguousarray(grad.reshape(flat.shape[0], -1))
        grad_weight = scatter_add_rows(grad_rows, flat, num_rows)
        if padding_idx is not None:
            # The padding row stands for "no token": training must never move it.
            grad_weight[padding_idx] = 0
        return grad_weight


def embedding(weight: TensorLike, indices: TensorLike, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight``: the functional form of ``nn.Embedding``.

    Parameters
    ----------
    weight : Tensor or ndarray, shape (V, D), float32 or float64
        The embedding table, one row of D features per index.
    indices : int array or Tensor, any shape S
        Row numbers, each in ``0 .. V - 1``; not differentiated.
    padding_idx : int, optional
        A row whose gradient is always zero (its forward value is returned as
        stored). Negative values count from the end, as in PyTorch.

    Returns
    -------
    Tensor of shape ``S + (D,)`` and the dtype of ``weight``. A row named
    several times receives the sum of its gradients.

    Raises ShapeError for a table that is not 2-D or an index outside
    ``0 .. V - 1`` (checked before the kernel runs: Numba does not), and
    DTypeError for a non-float table or non-integer indices.
    """
    table = weight.data if isinstance(weight, Tensor) else weight
    if not isinstance(table, np.ndarray) or table.dtype not in _FLOAT_DTYPES:
        got = table.dtype if isinstance(table, np.ndarray) else type(weight).__name__
        raise DTypeError(f"embedding: weight must be a float32 or float64 array, got {got}")
    if table.ndim != 2:
        raise ShapeError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
            f"{table.shape}"
        )
    num_rows = table.shape[0]
    index_array = integer_array("embedding", "indices", indices)
    if index_array.size:
        low, high = int(index_array.min()), int(index_array.max())
        if low < 0 or high >= num_rows:
            bad = low if low < 0 else high
            raise ShapeError(
                f"embedding: every index must be in 0..{num_rows - 1} (weight has "
                f"{num_rows} rows), got {bad}"
            )
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
            raise ArgumentTypeError(
                f"embedding: padding_idx must be an int or None, got {type(padding_idx).__name__}"
            )
        if not -num_rows <= padding_idx < num_rows:
            raise ArgumentError(
                f"embedding: padding_idx must be in {-num_rows}..{num_rows - 1}, got {padding_idx}"
            )
        padding_idx = int(padding_idx) % num_rows
    return Embedding.apply(weight, indices=index_array, padding_idx=padding_idx)
