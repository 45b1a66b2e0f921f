"""Conv1d: a 1-D convolution layer over (B, C, L) sequences, PyTorch's names and shapes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn import functional as F
from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional.windows import conv_padding, positive_int
from numrnn.nn import init
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import check_parameters
from numrnn.nn.rnn_base import as_tensor, check_module_dtype

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import IntArray, Seed, Size, TensorLike

__all__ = ["Conv1d"]


class Conv1d(Module):
    """A 1-D convolution (cross-correlation, as in PyTorch) over the last axis.

    ``y[b, o, t] = bias[o] + sum over c in o's group, k of
    weight[o, c', k] * x[b, c, t * stride + k * dilation - pad_left]``

    Parameters
    ----------
    in_channels, out_channels : int >= 1
        Both multiples of ``groups``.
    kernel_size : int >= 1
    stride, dilation : int >= 1, default 1
    padding : int >= 0, 'same' or 'valid', default 0
        Zeros on both sides; 'same' (stride 1 only) keeps the length.
    groups : int >= 1, default 1
        ``groups=in_channels`` makes each channel its own (depthwise) filter bank.
    bias : bool, default True
    causal : bool, default False, keyword-only
        Pad ``dilation * (kernel_size - 1)`` positions on the left only: output
        ``t`` sees inputs up to ``t * stride``, never later ones (a WaveNet/TCN
        style layer). Takes no ``padding``.
    dtype : np.float32 (default) or np.float64, keyword-only
    rng : numpy Generator, int seed or None, keyword-only
        Source of the initial weights.

    Notes
    -----
    Parameters (PyTorch's names and shapes): ``weight`` (out_channels,
    in_channels / groups, kernel_size) and ``bias`` (out_channels,), both drawn
    from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with ``fan_in = in_channels / groups
    * kernel_size``, which is what PyTorch's default initialization amounts to.

    Input (B, in_channels, L) or unbatched (in_channels, L); output
    (B, out_channels, L_out) with ``L_out = (L + pad_left + pad_right -
    dilation * (kernel_size - 1) - 1) // stride + 1``. ``forward(input,
    lengths=...)`` takes the valid steps of each row of a padded batch, and
    :meth:`output_lengths` gives the output's, to hand on to the next layer
    (another Conv1d, a pool, an LSTM)::

        features = conv(x, lengths=lengths)             # x (B, C, L)
        lengths = conv.output_lengths(lengths)

    Examples
    --------
    >>> conv = Conv1d(64, 128, kernel_size=5, padding=2, rng=0)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | str = 0, dilation: Size = 1, groups: int = 1, bias: bool = True, *,
                 causal: bool = False, dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        super().__init__()
        op = "Conv1d"
        self.in_channels = positive_int(op, "in_channels", in_channels)
        self.out_channels = positive_int(op, "out_channels", out_channels)
        self.kernel_size = positive_int(op, "kernel_size", kernel_size)
        self.stride = positive_int(op, "stride", stride)
        self.dilation = positive_int(op, "dilation", dilation)
        self.groups = positive_int(op, "groups", groups)
        for name, channels in (("in_channels", self.in_channels),
                               ("out_channels", self.out_channels)):
            if channels % self.groups:
                raise ArgumentError(f"{op}: {name} must be a multiple of groups={self.groups}, "
                                    f"got {channels}")
        self.causal = bool(causal)
        self._pad = conv_padding(op, padding, self.kernel_size, self.stride, self.dilation,
                                 self.causal)
        # As given ('same', 'valid' or an int); causal padding is the causal flag's.
        self.padding = 0 if self.causal else padding if isinstance(padding, str) \
            else self._pad[0]
        self.dtype = check_module_dtype(op, dtype)
        self.rng = init.as_generator(rng)
        self.weight = new_parameter(op, self._weight_shape(), self.dtype)
        self.bias = new_parameter(op, (self.out_channels,), self.dtype) if bias else None
        self.reset_parameters()

    def _weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups, self.kernel_size)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_channels // self.groups * self.kernel_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound, self.rng)

    def forward(self, input: TensorLike, lengths: npt.ArrayLike | None = None) -> Tensor:
        """Convolve ``input`` (B, in_channels, L); ``lengths`` as in :func:`~numrnn.functional.
        conv1d` (valid steps per row, for a padded batch)."""
        x = as_tensor("Conv1d", "input", input, self.dtype)
        if x.ndim in (2, 3) and x.shape[-2] != self.in_channels:
            raise ShapeError(f"Conv1d: input must have {self.in_channels} channels "
                             f"(in_channels) on axis -2, got {x.shape[-2]} in shape {x.shape}")
        check_parameters(self, (("weight", self._weight_shape()),
                                ("bias", (self.out_channels,))))
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, causal=self.causal, lengths=lengths)

    def output_lengths(self, lengths: npt.ArrayLike) -> IntArray:
        """The valid output length of each row for valid input ``lengths`` ((B,) ints >= 1).

        Returns an int64 array: ``(lengths + pad_left + pad_right - dilation *
        (kernel_size - 1) - 1) // stride + 1``. A row too short to give any
        output is refused with :class:`~numrnn.errors.ShapeError`.
        """
        return F.output_lengths(lengths, self.kernel_size, self.stride, self._pad,
                                self.dilation, op="Conv1d")

    def extra_repr(self) -> str:
        # PyTorch's wording (sizes as 1-tuples), non-default options only.
        parts = [f"{self.in_channels}", f"{self.out_channels}",
                 f"kernel_size=({self.kernel_size},)", f"stride=({self.stride},)"]
        if self.causal:
            parts.append("causal=True")
        elif self.padding != 0:
            padding = self.padding if isinstance(self.padding, str) else f"({self.padding},)"
            parts.append(f"padding={padding}")
        if self.dilation != 1:
            parts.append(f"dilation=({self.dilation},)")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer's shape."""
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding, "dilation": self.dilation, "groups": self.groups,
                "bias": self.bias is not None, "causal": self.causal,
                "dtype": self.dtype.name}
