"""Attention over a padded memory (encoder states): dot, general and additive scores.

One decoder query per batch row looks at the ``S`` states of its own source::

    dot       score(q, k_s) = q . k_s                           (Luong et al., 2015)
    general   score(q, k_s) = q . (W k_s),   W: (Hq, Hk)        (Luong et al., 2015)
    additive  score(q, k_s) = v . tanh(W_q q + W_k k_s + b)     (Bahdanau et al., 2015)

    weights = softmax over s of the scores, padded positions excluded
    context = sum_s weights_s * value_s

Layouts
-------
``query`` is ``(B, Hq)``. The memory (``keys`` and ``values``) is time-major
``(S, B, H)`` like a recurrent layer's output, or ``(B, S, H)`` with
``batch_first=True``; a ``mask`` has the memory's layout without the feature
axis, ``(S, B)`` or ``(B, S)``, True at real positions. Give ``mask`` or
``lengths`` ``(B,)``, or neither (every position counts). Every row needs at
least one real position. Results are always batch-major: ``context`` ``(B, Hv)``
and ``weights`` ``(B, S)``.

Masking is exact. Padded keys and values are replaced by zeros before use and
padded scores by ``-inf`` before the softmax (with ``where``, whose backward
sends nothing to what it replaced), so a padded position gets a weight of
exactly 0.0, whatever it holds (NaN included), and receives a zero gradient.
Subtracting a large constant instead would leave weights of about e^-30 that
leak into the context and into every gradient. At least one real position per
row keeps the softmax's maximum finite, so ``exp(-inf - max)`` is an exact 0.

Everything is built from primitive tape ops, so gradients come for free. A
fused Numba kernel was not worth it: see ``docs/seq2seq.md`` for the profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.ops.arithmetic import add, matmul
from numrnn.autograd.ops.elementwise import tanh
from numrnn.autograd.ops.indexing import where
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.ops.shape import reshape, transpose
from numrnn.autograd.ops.softmax import softmax
from numrnn.errors import ArgumentError, DTypeError, ShapeError
from numrnn.functional.checks import check_lengths, data_of

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Axis, TensorLike, TensorOrArray

__all__ = ["additive_attention", "dot_attention", "general_attention", "masked_softmax"]


def masked_softmax(scores: TensorOrArray, mask: TensorLike, axis: Axis = -1) -> Tensor:
    """Softmax along ``axis`` in which positions where ``mask`` is False get weight 0.0 exactly.

    ``mask`` is a boolean array broadcastable to ``scores``, with at least one
    True along ``axis`` for every slice (otherwise the weights are undefined
    and a ShapeError is raised). ``mask=None`` is a plain softmax.
    """
    (scores,) = coerce("masked_softmax", scores)
    if mask is None:
        return softmax(scores, axis=axis)
    mask = np.asarray(data_of(mask))
    if mask.dtype != np.bool_:
        raise DTypeError(f"masked_softmax: mask must be a boolean array, got dtype {mask.dtype}")
    try:
        full = np.broadcast_to(mask, scores.shape)
    except ValueError:
        raise ShapeError(f"masked_softmax: mask {mask.shape} does not broadcast to scores "
                         f"{scores.shape}") from None
    if not full.any(axis=axis).all():
        raise ShapeError("masked_softmax: every row needs at least one unmasked position")
    return softmax(where(mask, scores, -np.inf), axis=axis)


# -- the memory ----------------------------------------------------------------------
def prepare_memory(
        op: str, keys: Any, values: Any = None, mask: Any = None, lengths: Any = None,
        batch_first: bool = False) -> tuple[Tensor, Tensor, npt.NDArray[np.bool_] | None]:
    """Validate a memory and bring it to batch-major form with padding zeroed.

    Returns ``(keys, values, mask)``: Tensors ``(B, S, Hk)`` and ``(B, S, Hv)``
    (``values`` is ``keys`` when not given) and a bool array ``(B, S)``. Done
    once per source batch; a decoder then attends with it at every step.
    """
    (keys,) = coerce(op, keys)
    if keys.ndim != 3:
        layout = "(B, S, Hk)" if batch_first else "(S, B, Hk)"
        raise ShapeError(f"{op}: keys must be 3-D {layout}, got shape {keys.shape}")
    shared = values is None
    if not shared:
        values, _ = coerce(op, values, keys)
        if values.ndim != 3 or values.shape[:2] != keys.shape[:2]:
            raise ShapeError(f"{op}: values must have the keys' first two dimensions "
                             f"{keys.shape[:2]}, got shape {values.shape}")
        if values.dtype != keys.dtype:
            raise DTypeError(f"{op}: values must have the keys' dtype {keys.dtype}, "
                             f"got {values.dtype}")
    if not batch_first:
        keys = transpose(keys, (1, 0, 2))
        values = None if shared else transpose(values, (1, 0, 2))
    batch, steps = keys.shape[:2]
    if 0 in (batch, steps):
        raise ShapeError(f"{op}: the memory needs at least one row and one position, "
                         f"got {batch} rows of {steps}")
    mask = _memory_mask(op, mask, lengths, batch, steps, batch_first)
    if mask is not None:
        keys = where(mask[:, :, None], keys, 0.0)
        if not shared:
            values = where(mask[:, :, None], values, 0.0)
    values = keys if shared else values
    return keys, values, mask


def _memory_mask(op, mask, lengths, batch, steps, batch_first):
    if mask is not None and lengths is not None:
        raise ArgumentError(f"{op}: pass mask or lengths, not both")
    if lengths is not None:
        lengths = check_lengths(op, lengths, steps, batch)
        return np.arange(steps)[None, :] < lengths[:, None]
    if mask is None:
        return None
    mask = np.asarray(data_of(mask))
    if mask.dtype != np.bool_:
        raise DTypeError(f"{op}: mask must be a boolean array, got dtype {mask.dtype}")
    expected = (batch, steps) if batch_first else (steps, batch)
    if mask.shape != expected:
        layout = "(B, S)" if batch_first else "(S, B)"
        raise ShapeError(f"{op}: mask must have shape {expected} {layout}, got {mask.shape}")
    mask = mask if batch_first else mask.T
    if not mask.any(axis=1).all():
        raise ShapeError(f"{op}: every batch row needs at least one unmasked position")
    return np.ascontiguousarray(mask)


def check_query(op, query, keys, size=None):
    """``query`` as a (B, Hq) Tensor matching the batch-major ``keys``."""
    query, _ = coerce(op, query, keys)
    if query.dtype != keys.dtype:
        raise DTypeError(f"{op}: query must have the keys' dtype {keys.dtype}, got {query.dtype}")
    expected = (keys.shape[0], keys.shape[2] if size is None else size)
    if query.shape != expected:
        raise ShapeError(f"{op}: query must have shape {expected} (B, Hq), got {query.shape}")
    return query


# -- scores: (B, S) from a (B, H) query and batch-major (B, S, H) keys ---------------
def dot_scores(query, keys):
    """``scores[b, s] = query[b] . keys[b, s]`` as one batched matmul."""
    batch, steps, size = keys.shape
    column = reshape(query, (batch, size, 1))
    return reshape(matmul(keys, column), (batch, steps))


def general_scores(query, keys, weight):
    """``q . (W k_s) = (q W) . k_s``: projecting the query costs one (B, Hq) x (Hq, Hk)
    product per step instead of projecting all S keys."""
    return dot_scores(matmul(query, weight), keys)


def project_keys(keys, key_weight, bias=None):
    """``W_k k_s (+ b)`` for every position: (B, S, A), computed once per memory."""
    batch, steps, size = keys.shape
    rows = reshape(keys, (batch * steps, size))
    projected = matmul(rows, transpose(key_weight))
    if bias is not None:
        projected = add(projected, bias)
    return reshape(projected, (batch, steps, key_weight.shape[0]))


def additive_scores(query, projected_keys, query_weight, v):
    """``v . tanh(W_q q + projected_keys_s)`` with ``projected_keys`` from :func:`project_keys`."""
    batch, steps, attention_size = projected_keys.shape
    projected_query = reshape(matmul(query, transpose(query_weight)), (batch, 1, attention_size))
    energy = tanh(add(projected_keys, projected_query))
    return reshape(matmul(energy, reshape(v, (attention_size, 1))), (batch, steps))


def attend(scores, values, mask):
    """Masked softmax of ``scores`` (B, S), then the weighted sum of ``values`` (B, S, Hv)."""
    weights = masked_softmax(scores, mask)
    batch, steps, size = values.shape
    context = matmul(reshape(weights, (batch, 1, steps)), values)
    return reshape(context, (batch, size)), weights


# -- one-shot functional forms ---------------------------------------------------------
def _check_parameter(op, name, weight, shape, dtype):
    (weight,) = coerce(op, weight)
    if weight.dtype != dtype:
        raise DTypeError(f"{op}: {name} must have the keys' dtype {dtype}, got {weight.dtype}")
    if weight.shape != shape:
        raise ShapeError(f"{op}: {name} must have shape {shape}, got {weight.shape}")
    return weight


def dot_attention(query: TensorLike, keys: TensorLike, values: TensorLike | None = None,
                  mask: TensorLike | None = None, lengths: npt.ArrayLike | None = None,
                  batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Luong's dot attention; returns ``(context (B, Hv), weights (B, S))``.

    ``query`` (B, H) and ``keys`` (S, B, H) must share H. See the module
    docstring for layouts and masking.
    """
    op = "dot_attention"
    keys, values, mask = prepare_memory(op, keys, values, mask, lengths, batch_first)
    query = check_query(op, query, keys)
    return attend(dot_scores(query, keys), values, mask)


def general_attention(query: TensorLike, keys: TensorOrArray, weight: TensorOrArray,
                      values: TensorLike | None = None, mask: TensorLike | None = None,
                      lengths: npt.ArrayLike | None = None,
                      batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Luong's general (bilinear) attention ``q . (W k)``, ``weight`` of shape (Hq, Hk).

    Returns ``(context (B, Hv), weights (B, S))``.
    """
    op = "general_attention"
    keys, values, mask = prepare_memory(op, keys, values, mask, lengths, batch_first)
    (weight,) = coerce(op, weight)
    if weight.ndim != 2:
        raise ShapeError(f"{op}: weight must be 2-D (Hq, Hk), got shape {weight.shape}")
    query_size = weight.shape[0]
    weight = _check_parameter(op, "weight", weight, (query_size, keys.shape[2]), keys.dtype)
    query = check_query(op, query, keys, size=query_size)
    return attend(general_scores(query, keys, weight), values, mask)


def additive_attention(query: TensorLike, keys: TensorOrArray, query_weight: TensorOrArray,
                       key_weight: TensorOrArray, v: TensorLike, bias: TensorLike | None = None,
                       values: TensorLike | None = None, mask: TensorLike | None = None,
                       lengths: npt.ArrayLike | None = None,
                       batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Bahdanau's additive attention ``v . tanh(W_q q + W_k k + b)``.

    Parameters: ``query_weight`` (A, Hq), ``key_weight`` (A, Hk), ``v`` (A,),
    ``bias`` (A,) or None, for an attention size A. Returns
    ``(context (B, Hv), weights (B, S))``.
    """
    op = "additive_attention"
    keys, values, mask = prepare_memory(op, keys, values, mask, lengths, batch_first)
    (key_weight,) = coerce(op, key_weight)
    if key_weight.ndim != 2:
        raise ShapeError(f"{op}: key_weight must be 2-D (A, Hk), got shape {key_weight.shape}")
    attention_size = key_weight.shape[0]
    key_weight = _check_parameter(op, "key_weight", key_weight,
                                  (attention_size, keys.shape[2]), keys.dtype)
    (query_weight,) = coerce(op, query_weight)
    if query_weight.ndim != 2:
        raise ShapeError(f"{op}: query_weight must be 2-D (A, Hq), got shape "
                         f"{query_weight.shape}")
    query_size = query_weight.shape[1]
    query_weight = _check_parameter(op, "query_weight", query_weight,
                                    (attention_size, query_size), keys.dtype)
    v = _check_parameter(op, "v", v, (attention_size,), keys.dtype)
    if bias is not None:
        bias = _check_parameter(op, "bias", bias, (attention_size,), keys.dtype)
    query = check_query(op, query, keys, size=query_size)
    projected = project_keys(keys, key_weight, bias)
    return attend(additive_scores(query, projected, query_weight, v), values, mask)
