"""Conv2d: a 2-D convolution layer over (N, C, H, W) images, PyTorch's names and shapes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn import functional as F
from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional.windows import positive_int
from numrnn.functional.windows2d import conv2d_padding, int_pair
from numrnn.nn import init
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import check_parameters
from numrnn.nn.rnn_base import as_tensor, check_module_dtype

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Seed, Size, TensorLike

__all__ = ["Conv2d"]


class Conv2d(Module):
    """A 2-D convolution (cross-correlation, as in PyTorch) over the last two axes.

    ``y[n, o, oy, ox] = bias[o] + sum over c in o's group, i, j of
    weight[o, c', i, j] * x[n, c, oy * sH + i * dH - pad_top, ox * sW + j * dW - pad_left]``

    Parameters
    ----------
    in_channels, out_channels : int >= 1
        Both multiples of ``groups``.
    kernel_size : int >= 1 or a pair of them (height, width)
    stride, dilation : int >= 1 or a pair, default 1
    padding : int >= 0, a pair, 'same' or 'valid', default 0
        Zeros on both sides of each axis; 'same' (stride 1 only) keeps the size.
    groups : int >= 1, default 1
        ``groups=in_channels`` makes each channel its own (depthwise) filter bank.
    bias : bool, default True
    dtype : np.float32 (default) or np.float64, keyword-only
    rng : numpy Generator, int seed or None, keyword-only
        Source of the initial weights.

    Notes
    -----
    Parameters (PyTorch's names and shapes): ``weight`` (out_channels,
    in_channels / groups, kH, kW) and ``bias`` (out_channels,), both drawn from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with ``fan_in = in_channels / groups * kH
    * kW``, which is what PyTorch's default initialization amounts to, so a
    PyTorch ``state_dict`` loads unchanged.

    Input (N, in_channels, H, W) or unbatched (in_channels, H, W); output
    (N, out_channels, H_out, W_out) with ``H_out = (H + pad_top + pad_bottom -
    dH * (kH - 1) - 1) // sH + 1`` and ``W_out`` likewise.

    Examples
    --------
    >>> conv = Conv2d(3, 16, kernel_size=3, padding=1, rng=0)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | str = 0, dilation: Size = 1, groups: int = 1, bias: bool = True, *,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        super().__init__()
        op = "Conv2d"
        self.in_channels = positive_int(op, "in_channels", in_channels)
        self.out_channels = positive_int(op, "out_channels", out_channels)
        self.kernel_size = int_pair(op, "kernel_size", kernel_size, 1)
        self.stride = int_pair(op, "stride", stride, 1)
        self.dilation = int_pair(op, "dilation", dilation, 1)
        self.groups = positive_int(op, "groups", groups)
        for name, channels in (("in_channels", self.in_channels),
                               ("out_channels", self.out_channels)):
            if channels % self.groups:
                raise ArgumentError(f"{op}: {name} must be a multiple of groups={self.groups}, "
                                    f"got {channels}")
        pads = conv2d_padding(op, padding, self.kernel_size, self.stride, self.dilation)
        # As given ('same' or 'valid'), else the (height, width) pair.
        self.padding = padding if isinstance(padding, str) else (pads[0][0], pads[1][0])
        self.dtype = check_module_dtype(op, dtype)
        self.rng = init.as_generator(rng)
        self.weight = new_parameter(op, self._weight_shape(), self.dtype)
        self.bias = new_parameter(op, (self.out_channels,), self.dtype) if bias else None
        self.reset_parameters()

    def _weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups) + self.kernel_size

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_channels // self.groups * math.prod(self.kernel_size))
        for param in self.parameters():
            init.uniform_(param, -bound, bound, self.rng)

    def forward(self, input: TensorLike) -> Tensor:
        """Convolve ``input`` (N, in_channels, H, W) or (in_channels, H, W)."""
        x = as_tensor("Conv2d", "input", input, self.dtype)
        if x.ndim in (3, 4) and x.shape[-3] != self.in_channels:
            raise ShapeError(f"Conv2d: input must have {self.in_channels} channels "
                             f"(in_channels) on axis -3, got {x.shape[-3]} in shape {x.shape}")
        check_parameters(self, (("weight", self._weight_shape()),
                                ("bias", (self.out_channels,))))
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        # PyTorch's wording, non-default options only.
        parts = [f"{self.in_channels}", f"{self.out_channels}",
                 f"kernel_size={self.kernel_size}", f"stride={self.stride}"]
        if self.padding != (0, 0):
            parts.append(f"padding={self.padding}")
        if self.dilation != (1, 1):
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer's shape."""
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": padding, "dilation": list(self.dilation), "groups": self.groups,
                "bias": self.bias is not None, "dtype": self.dtype.name}
