"""Attention as a layer: a decoder query looks at a padded memory of encoder states.

The equations, layouts and the exact masking are those of
:mod:`numrnn.functional.attention`. The layer adds parameters and splits the
work in two, because a decoder attends to the same memory at every step:

- :meth:`Attention.prepare` validates the memory once per source batch, puts it
  batch-major, zeroes the padding and, for additive attention, projects the
  keys (``W_k k + b``, the expensive part) once;
- :meth:`Attention.attend` then costs one small product per step.

``attention(query, keys, mask=None, lengths=None)`` does both at once.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np

from numrnn.autograd.ops.indexing import getitem
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.functional import attention as A
from numrnn.nn import init
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import check_parameters
from numrnn.nn.rnn_base import check_module_dtype, check_positive_int

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Seed, TensorLike

__all__ = ["Attention", "AttentionMemory"]

METHODS = ("dot", "general", "additive")


class AttentionMemory(NamedTuple):
    """A prepared memory: batch-major ``keys`` (B, S, Hk), ``values`` (B, S, Hv),
    ``projected_keys`` (B, S, A) for additive attention (else None) and ``mask``
    (B, S) bool or None. Padded positions of the Tensors hold zeros."""

    keys: Tensor
    values: Tensor
    projected_keys: Tensor | None
    mask: npt.NDArray[np.bool_] | None

    @property
    def batch_size(self) -> int:
        return self.keys.shape[0]

    @property
    def steps(self) -> int:
        return self.keys.shape[1]

    def select(self, rows: npt.ArrayLike) -> AttentionMemory:
        """The memory of batch rows ``rows`` (an int array; repeats allowed), e.g. one copy
        per beam. Differentiable: gradients of repeated rows add up."""
        rows = np.asarray(rows, dtype=np.int64)
        keys = getitem(self.keys, rows)
        values = keys if self.values is self.keys else getitem(self.values, rows)
        projected = None if self.projected_keys is None else getitem(self.projected_keys, rows)
        mask = None if self.mask is None else self.mask[rows]
        return AttentionMemory(keys, values, projected, mask)


class Attention(Module):
    """Dot, general (Luong) or additive (Bahdanau) attention with exact padding masks.

    Parameters
    ----------
    query_size : int
        Hq, the size of a query (a decoder hidden state).
    key_size : int
        Hk, the size of a memory position (``2 * H`` for a bidirectional encoder).
    method : {'dot', 'general', 'additive'}, default 'general'
        'dot' needs ``query_size == key_size`` and has no parameters; 'general'
        has ``weight`` (Hq, Hk); 'additive' has ``query_weight`` (A, Hq),
        ``key_weight`` (A, Hk), ``bias`` (A,) and ``v`` (A,).
    attention_size : int, optional
        A, additive only; defaults to ``query_size``.
    batch_first : bool, default False
        The memory is ``(B, S, H)`` instead of ``(S, B, H)`` (the query is
        always ``(B, Hq)``).
    dtype, rng : keyword-only, as in the other layers.

    Notes
    -----
    Calling ``attention(query, keys, mask=None, lengths=None, values=None)``
    returns ``(context (B, Hv), weights (B, S))``; ``values`` default to the keys.

    Examples
    --------
    >>> attention = Attention(128, 256, method="additive", rng=0)
    >>> memory = attention.prepare(encoder_output, lengths=src_lengths)  # once
    >>> context, weights = attention.attend(decoder_h, memory)           # every step
    """

    def __init__(self, query_size: int, key_size: int, method: str = "general",
                 attention_size: int | None = None, batch_first: bool = False, *,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        super().__init__()
        self.query_size = check_positive_int("Attention", "query_size", query_size)
        self.key_size = check_positive_int("Attention", "key_size", key_size)
        if method not in METHODS:
            raise ArgumentError(f"Attention: method must be one of {METHODS}, got {method!r}")
        self.method = method
        if method == "dot" and self.query_size != self.key_size:
            raise ArgumentError(f"Attention: method='dot' needs query_size == key_size, got "
                                f"{self.query_size} and {self.key_size}; use 'general' or "
                                "'additive' for different sizes")
        if attention_size is not None and method != "additive":
            raise ArgumentError(f"Attention: attention_size applies to method='additive' only, "
                                f"got attention_size={attention_size} with method={method!r}")
        if attention_size is not None and not isinstance(attention_size, numbers.Integral):
            raise ArgumentTypeError(f"Attention: attention_size must be an int or None, "
                                    f"got {attention_size!r}")
        self.attention_size = None if method != "additive" else check_positive_int(
            "Attention", "attention_size",
            self.query_size if attention_size is None else attention_size)
        self.batch_first = bool(batch_first)
        self.dtype = check_module_dtype("Attention", dtype)
        self.rng = init.as_generator(rng)
        if method == "general":
            self.weight = new_parameter("Attention", (self.query_size, self.key_size), self.dtype)
        elif method == "additive":
            size = cast(int, self.attention_size)  # an int whenever method is "additive"
            self.query_weight = new_parameter("Attention", (size, self.query_size), self.dtype)
            self.key_weight = new_parameter("Attention", (size, self.key_size), self.dtype)
            self.bias = new_parameter("Attention", (size,), self.dtype)
            self.v = new_parameter("Attention", (size,), self.dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) per parameter, as ``Linear`` does."""
        if self.method == "general":
            # q . (W k): scaled for the key size so that initial scores stay O(1).
            bound = 1.0 / math.sqrt(self.key_size)
            init.uniform_(self.weight, -bound, bound, self.rng)
        elif self.method == "additive":
            for param, fan_in in ((self.query_weight, self.query_size),
                                  (self.key_weight, self.key_size),
                                  (self.bias, self.key_size),
                                  (self.v, cast(int, self.attention_size))):
                bound = 1.0 / math.sqrt(fan_in)
                init.uniform_(param, -bound, bound, self.rng)

    def _specs(self):
        """Names and declared shapes of the parameters (:mod:`numrnn.nn.parameter_checks`)."""
        if self.method == "general":
            return (("weight", (self.query_size, self.key_size)),)
        if self.method == "additive":
            size = self.attention_size
            return (("query_weight", (size, self.query_size)),
                    ("key_weight", (size, self.key_size)), ("bias", (size,)), ("v", (size,)))
        return ()

    # -- the two halves of a call -------------------------------------------------------
    def prepare(self, keys: TensorLike, mask: TensorLike | None = None,
                lengths: npt.ArrayLike | None = None,
                values: TensorLike | None = None) -> AttentionMemory:
        """Validate and preprocess a memory once; returns an :class:`AttentionMemory`."""
        keys, values, mask = A.prepare_memory("Attention", keys, values, mask, lengths,
                                              self.batch_first)
        if keys.dtype != self.dtype:
            raise DTypeError(f"Attention: keys must have dtype {self.dtype} (the module's), "
                             f"got {keys.dtype}")
        if keys.shape[2] != self.key_size:
            raise ShapeError(f"Attention: key feature size must be {self.key_size} (key_size), "
                             f"got {keys.shape[2]}")
        check_parameters(self, self._specs())
        projected = None
        if self.method == "additive":
            projected = A.project_keys(keys, self.key_weight, self.bias)
        return AttentionMemory(keys, values, projected, mask)

    def attend(self, query: TensorLike, memory: AttentionMemory) -> tuple[Tensor, Tensor]:
        """``(context (B, Hv), weights (B, S))`` for a ``(B, Hq)`` query and a prepared memory."""
        query = A.check_query("Attention", query, memory.keys, size=self.query_size)
        check_parameters(self, self._specs())
        if self.method == "dot":
            scores = A.dot_scores(query, memory.keys)
        elif self.method == "general":
            scores = A.general_scores(query, memory.keys, self.weight)
        else:
            scores = A.additive_scores(query, memory.projected_keys, self.query_weight, self.v)
        return A.attend(scores, memory.values, memory.mask)

    def forward(self, query: TensorLike, keys: TensorLike, mask: TensorLike | None = None,
                lengths: npt.ArrayLike | None = None,
                values: TensorLike | None = None) -> tuple[Tensor, Tensor]:
        return self.attend(query, self.prepare(keys, mask=mask, lengths=lengths, values=values))

    def extra_repr(self) -> str:
        parts = [str(self.query_size), str(self.key_size), f"method={self.method!r}"]
        if self.method == "additive" and self.attention_size != self.query_size:
            parts.append(f"attention_size={self.attention_size}")
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON values, so ``numrnn.load_model`` can rebuild the layer."""
        return {"query_size": self.query_size, "key_size": self.key_size,
                "method": self.method, "attention_size": self.attention_size,
                "batch_first": self.batch_first, "dtype": self.dtype.name}
