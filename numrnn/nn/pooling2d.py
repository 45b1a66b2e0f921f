"""MaxPool2d, AvgPool2d and AdaptiveAvgPool2d over (N, C, H, W) images, as PyTorch's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn import functional as F
from numrnn.errors import ArgumentError
from numrnn.functional.windows2d import int_pair, pool2d_padding
from numrnn.nn.module import Module

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Size, TensorLike

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d"]


class _Pool2d(Module):
    """What both window pools share: kernel size, stride and padding as (height, width)."""

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0) -> None:
        super().__init__()
        op = type(self).__name__
        self.kernel_size = int_pair(op, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else int_pair(op, "stride", stride, 1)
        self.padding = pool2d_padding(op, padding, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer."""
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding)}


class MaxPool2d(_Pool2d):
    """The maximum of each ``kernel_size`` window, every ``stride`` rows and columns.

    Parameters
    ----------
    kernel_size : int >= 1 or a pair of them (height, width)
    stride : int >= 1 or a pair, default ``kernel_size``
    padding : int >= 0 or a pair, each at most half its kernel side, default 0
        Rows and columns on both sides that never win (PyTorch pads with -inf).

    Notes
    -----
    Input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out) with ``H_out =
    (H + 2 * pad_h - kH) // sH + 1`` and ``W_out`` likewise. Not supported:
    PyTorch's ``dilation``, ``return_indices`` and ``ceil_mode``.

    Examples
    --------
    >>> pool = MaxPool2d(2)
    """

    def forward(self, input: TensorLike) -> Tensor:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """The mean of each ``kernel_size`` window, every ``stride`` rows and columns.

    Parameters
    ----------
    kernel_size : int >= 1 or a pair of them (height, width)
    stride : int >= 1 or a pair, default ``kernel_size``
    padding : int >= 0 or a pair, each at most half its kernel side, default 0
        Zeros on both sides.
    count_include_pad : bool, default True, keyword-only
        Divide by ``kH * kW``, or by the number of the window's positions inside
        the image. Keyword-only: PyTorch's fourth positional argument is
        ``ceil_mode``, which numrnn does not have (nor ``divisor_override``).

    Notes
    -----
    Input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out), sizes as for
    :class:`MaxPool2d`.

    Examples
    --------
    >>> pool = AvgPool2d(3, stride=1, padding=1)
    """

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, *,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, input: TensorLike) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding,
                            count_include_pad=self.count_include_pad)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.count_include_pad else text + ", count_include_pad=False"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "count_include_pad": self.count_include_pad}


class AdaptiveAvgPool2d(Module):
    """Means over an ``output_size`` grid of cells of each image, whatever its size.

    Parameters
    ----------
    output_size : int >= 1, or a pair of ints >= 1 or None (None keeps that side)

    Notes
    -----
    Input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out). Cell ``(oy,
    ox)`` covers rows ``floor(oy * H / H_out)`` to ``ceil((oy + 1) * H / H_out) -
    1`` and the columns likewise, as in PyTorch; ``AdaptiveAvgPool2d(1)`` is
    global average pooling.

    Examples
    --------
    >>> pool = AdaptiveAvgPool2d((4, 4))
    """

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        super().__init__()
        sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) \
            else (output_size, output_size)
        known = tuple(1 if size is None else size for size in sizes)
        try:
            int_pair("AdaptiveAvgPool2d", "output_size", known, 1)
        except ArgumentError:
            raise ArgumentError(f"AdaptiveAvgPool2d: output_size must be a positive int or a "
                                f"pair of positive ints or None, got {output_size!r}") from None
        self.output_size = sizes

    def forward(self, input: TensorLike) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer."""
        return {"output_size": list(self.output_size)}
