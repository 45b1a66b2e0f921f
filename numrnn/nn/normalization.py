"""LayerNorm: normalize each step's features to zero mean and unit variance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn import functional as F
from numrnn.errors import ShapeError
from numrnn.functional.layer_norm import checked_eps, normalized_shape_tuple
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import check_parameters
from numrnn.nn.rnn_base import as_tensor, check_module_dtype

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Size, TensorLike

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dimensions (Ba et al., 2016).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with the mean and the
    biased variance taken over the last ``len(normalized_shape)`` dimensions of
    each input, so every step of a ``(T, B, H)`` or ``(B, T, H)`` sequence is
    normalized on its own: nothing mixes across time or batch, and padded steps
    cannot leak into valid ones.

    Parameters
    ----------
    normalized_shape : int or tuple of ints
    eps : float, default 1e-5
    elementwise_affine : bool, default True
        Learn ``weight`` (ones at first) and ``bias`` (zeros), of shape
        ``normalized_shape``; without it there are no parameters.
    bias : bool, default True
        With ``elementwise_affine``, whether ``bias`` exists (PyTorch >= 2.1).
    dtype : np.float32 (default) or np.float64, keyword-only

    Examples
    --------
    >>> norm = LayerNorm(256)
    """

    def __init__(self, normalized_shape: Size, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_tuple("LayerNorm", normalized_shape)
        self.eps = checked_eps("LayerNorm", eps)
        self.elementwise_affine = bool(elementwise_affine)
        self._with_bias = bool(bias)
        self.dtype = check_module_dtype("LayerNorm", dtype)
        self.weight = self.bias = None
        if self.elementwise_affine:
            self.weight = new_parameter("LayerNorm", self.normalized_shape, self.dtype)
            if self._with_bias:
                self.bias = new_parameter("LayerNorm", self.normalized_shape, self.dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, input: TensorLike) -> Tensor:
        x = as_tensor("LayerNorm", "input", input, self.dtype)
        shape = self.normalized_shape
        if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
            raise ShapeError(f"LayerNorm: input must end with {shape} (normalized_shape), "
                             f"got shape {x.shape}")
        check_parameters(self, (("weight", shape), ("bias", shape)))
        return F.layer_norm(x, shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        shape = self.normalized_shape
        # Exactly PyTorch's (2.1+) wording, bias included, plus the dtype when not float32.
        parts = [f"{shape}", f"eps={self.eps}", f"elementwise_affine={self.elementwise_affine}",
                 f"bias={self.bias is not None}"]
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer's shape."""
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine,
                "bias": self._with_bias,
                "dtype": self.dtype.name}
