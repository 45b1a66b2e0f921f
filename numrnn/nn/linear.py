"""Linear: the affine map ``y = x W^T + b`` over the last dimension."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.ops.affine import affine
from numrnn.errors import ArgumentError, ShapeError
from numrnn.nn import init
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import check_parameters
from numrnn.nn.rnn_base import as_tensor, check_module_dtype

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Seed, TensorLike

__all__ = ["Linear"]


def _check_size(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ArgumentError(f"{op}: {name} must be a non-negative int, got {value!r}")
    return int(value)


class Linear(Module):
    """``y = x @ weight.T + bias``, applied to the last dimension of any input.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
        Without it there is no ``bias`` parameter (as in PyTorch).
    dtype : np.float32 (default) or np.float64, keyword-only
    rng : numpy Generator, int seed or None, keyword-only
        Source of the initial weights.

    Notes
    -----
    Parameters (PyTorch's names and shapes): ``weight`` (out_features,
    in_features) and ``bias`` (out_features,), both drawn from
    U(-1/sqrt(in_features), 1/sqrt(in_features)), which is what PyTorch's
    ``kaiming_uniform_(a=sqrt(5))`` default amounts to.

    Input ``(..., in_features)``, output ``(..., out_features)``: a time-major
    ``(T, B, H)`` or batch-first ``(B, T, H)`` sequence goes through as it is,
    one GEMM over every step at once.

    Examples
    --------
    >>> head = Linear(128, 10, rng=0)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        super().__init__()
        self.in_features = _check_size("Linear", "in_features", in_features)
        self.out_features = _check_size("Linear", "out_features", out_features)
        self.dtype = check_module_dtype("Linear", dtype)
        self.rng = init.as_generator(rng)
        self.weight = new_parameter("Linear", (self.out_features, self.in_features), self.dtype)
        self.bias = new_parameter("Linear", (self.out_features,), self.dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # With no inputs there is no fan-in to scale by; PyTorch leaves zeros then.
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        for param in self.parameters():
            init.uniform_(param, -bound, bound, self.rng)

    def forward(self, input: TensorLike) -> Tensor:
        x = as_tensor("Linear", "input", input, self.dtype)
        if x.ndim == 0:
            raise ShapeError(f"Linear: input must have at least 1 dimension (..., "
                             f"{self.in_features}), got a scalar")
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"Linear: input feature size must be {self.in_features} "
                             f"(in_features), got {x.shape[-1]}")
        check_parameters(self, (("weight", (self.out_features, self.in_features)),
                                ("bias", (self.out_features,))))
        # One (N, in) @ (in, out) GEMM for every leading position at once; a batched
        # matmul over (T, B, in) would do T small GEMMs, and its weight gradient
        # would be summed from T partial products. One op, not five primitives: the
        # same bits for a fifth of the tape's calls.
        return affine(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        parts = [f"in_features={self.in_features}", f"out_features={self.out_features}",
                 f"bias={self.bias is not None}"]
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer's shape."""
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": self.dtype.name}
