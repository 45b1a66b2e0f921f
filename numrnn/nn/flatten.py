"""Flatten: a run of axes merged into one, as ``torch.nn.Flatten`` (a conv front end's exit)."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.ops.shape import reshape
from numrnn.errors import ArgumentError, ShapeError
from numrnn.nn.module import Module

if TYPE_CHECKING:
    from typing import Any

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import TensorLike

__all__ = ["Flatten"]


class Flatten(Module):
    """Merge axes ``start_dim`` through ``end_dim`` (inclusive) of the input into one.

    Parameters
    ----------
    start_dim : int, default 1
        The first axis merged; negative counts from the end. The default keeps
        the batch axis, so (N, C, H, W) becomes (N, C * H * W).
    end_dim : int, default -1
        The last axis merged.

    Notes
    -----
    The gradient is the output's, reshaped back. A 0-D input, or axes out of
    range or in the wrong order, are refused with
    :class:`~numrnn.errors.ShapeError`.

    Examples
    --------
    >>> head = Sequential(Conv2d(3, 8, 3), Flatten(), Linear(8 * 30 * 30, 10))
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ArgumentError(f"Flatten: {name} must be an int, got {value!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, input: TensorLike) -> Tensor:
        (x,) = coerce("Flatten", input)
        ndim = x.ndim
        first = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        last = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= first < ndim and 0 <= last < ndim) or first > last:
            raise ShapeError(f"Flatten: start_dim={self.start_dim} and end_dim={self.end_dim} "
                             f"must name axes of the input in order, got a {ndim}-D input "
                             f"of shape {x.shape}")
        merged = math.prod(x.shape[first:last + 1])
        return reshape(x, x.shape[:first] + (merged,) + x.shape[last + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer."""
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}
