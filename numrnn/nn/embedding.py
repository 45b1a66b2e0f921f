"""Embedding: a trainable lookup table from token ids to vectors."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn import functional as F
from numrnn.autograd.ops.embedding import integer_array
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
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

__all__ = ["Embedding"]


class Embedding(Module):
    """Row ``i`` of ``weight`` is the vector of token ``i``; ``forward`` looks rows up.

    Parameters
    ----------
    num_embeddings : int
        Size of the vocabulary: valid ids are 0..num_embeddings-1.
    embedding_dim : int
        Length of each vector.
    padding_idx : int, optional
        The id of the padding token. Its row starts at zero and its gradient is
        always zero, so training never moves it and padded steps feed zeros into
        the next layer. Negative values count from the end, as in PyTorch.
    dtype : np.float32 (default) or np.float64, keyword-only
    rng : numpy Generator, int seed or None, keyword-only

    Notes
    -----
    ``weight`` (num_embeddings, embedding_dim) is drawn from N(0, 1), as in
    PyTorch. Input: an int array (or Tensor) of any shape S, e.g. ``(T, B)``
    token ids; output: ``S + (embedding_dim,)``, e.g. ``(T, B, D)``.

    Examples
    --------
    >>> embed = Embedding(len(vocab), 64, padding_idx=vocab.pad_id, rng=0)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, *,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        super().__init__()
        self.num_embeddings = check_positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int("Embedding", "embedding_dim", embedding_dim)
        self.padding_idx = self._check_padding_idx(padding_idx)
        self.dtype = check_module_dtype("Embedding", dtype)
        self.rng = init.as_generator(rng)
        self.weight = new_parameter("Embedding", (self.num_embeddings, self.embedding_dim),
                                    self.dtype)
        self.reset_parameters()

    def _check_padding_idx(self, padding_idx):
        if padding_idx is None:
            return None
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
            raise ArgumentTypeError(f"Embedding: padding_idx must be an int or None, "
                                    f"got {type(padding_idx).__name__}")
        rows = self.num_embeddings
        if not -rows <= padding_idx < rows:
            raise ArgumentError(f"Embedding: padding_idx must be in {-rows}..{rows - 1} "
                                f"(num_embeddings={rows}), got {padding_idx}")
        # Stored non-negative, as PyTorch does, so the config and repr have one spelling.
        return int(padding_idx) % rows

    def reset_parameters(self) -> None:
        self.weight.data[...] = self.rng.standard_normal(self.weight.shape)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input: TensorLike) -> Tensor:
        # The ids are checked against num_embeddings: the table must still have that many rows.
        check_parameters(self, (("weight", (self.num_embeddings, self.embedding_dim)),))
        indices = integer_array("Embedding", "input", input)
        if indices.size:
            low, high = int(indices.min()), int(indices.max())
            if low < 0 or high >= self.num_embeddings:
                raise ShapeError(f"Embedding: every id must be in 0..{self.num_embeddings - 1} "
                                 f"(num_embeddings), got {low if low < 0 else high}")
        return F.embedding(self.weight, indices, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        parts = [str(self.num_embeddings), str(self.embedding_dim)]
        if self.padding_idx is not None:
            parts.append(f"padding_idx={self.padding_idx}")
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer's shape."""
        return {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim,
                "padding_idx": self.padding_idx, "dtype": self.dtype.name}
