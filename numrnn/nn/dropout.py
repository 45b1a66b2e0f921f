"""Dropout as a layer: active in training mode, the identity in evaluation mode."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from numrnn import functional as F
from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.nn import init
from numrnn.nn.module import Module

if TYPE_CHECKING:
    from typing import Any

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Seed, TensorLike

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Only while ``training`` (the default; ``eval()`` switches it off), so a
    model needs no rescaling at inference. The masks come from ``rng`` (a numpy
    Generator, an int seed or None), which the layer keeps and advances: a run
    seeded once is reproducible, and two layers never share masks by accident.

    >>> drop = Dropout(0.2, rng=0)
    """

    def __init__(self, p: float = 0.5, *, rng: Seed = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise ArgumentTypeError(f"Dropout: p must be a real number, got {type(p).__name__}")
        if not 0.0 <= p < 1.0:
            raise ArgumentError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = init.as_generator(rng)

    def forward(self, input: TensorLike) -> Tensor:
        return F.dropout(input, self.p, training=self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable); the generator's state is not saved."""
        return {"p": self.p}
