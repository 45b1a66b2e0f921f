"""MaxPool1d and AvgPool1d: window pooling over (B, C, L) sequences, as PyTorch's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn import functional as F
from numrnn.functional.windows import pool_padding, positive_int
from numrnn.nn.module import Module

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import IntArray, Size, TensorLike

__all__ = ["AvgPool1d", "MaxPool1d"]


class _Pool1d(Module):
    """What both pools share: window options, ``lengths`` and their ``output_lengths``."""

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0) -> None:
        super().__init__()
        op = type(self).__name__
        self.kernel_size = positive_int(op, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else positive_int(op, "stride", stride)
        self.padding = pool_padding(op, padding, self.kernel_size)

    def output_lengths(self, lengths: npt.ArrayLike) -> IntArray:
        """The valid output length of each row for valid input ``lengths`` ((B,) ints >= 1).

        Returns an int64 array: ``(lengths + 2 * padding - kernel_size) // stride
        + 1``. A row too short to give any output is refused with
        :class:`~numrnn.errors.ShapeError`.
        """
        return F.output_lengths(lengths, self.kernel_size, self.stride,
                                (self.padding, self.padding), op=type(self).__name__)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this layer."""
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}


class MaxPool1d(_Pool1d):
    """The maximum of each window of ``kernel_size`` steps, every ``stride`` steps.

    Parameters
    ----------
    kernel_size : int >= 1
    stride : int >= 1, default ``kernel_size``
    padding : int in ``0 .. kernel_size // 2``, default 0
        Positions on both sides that never win (PyTorch pads with -inf).

    Notes
    -----
    Input (B, C, L) or (C, L); output (B, C, L_out) with ``L_out = (L + 2 *
    padding - kernel_size) // stride + 1``. ``forward(input, lengths=...)``
    treats positions past each row's length as padding;
    :meth:`output_lengths` gives the output's valid lengths. Not supported:
    PyTorch's ``dilation``, ``return_indices`` and ``ceil_mode``.

    Examples
    --------
    >>> pool = MaxPool1d(2)
    """

    def forward(self, input: TensorLike, lengths: npt.ArrayLike | None = None) -> Tensor:
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, lengths=lengths)


class AvgPool1d(_Pool1d):
    """The mean of each window of ``kernel_size`` steps, every ``stride`` steps.

    Parameters
    ----------
    kernel_size : int >= 1
    stride : int >= 1, default ``kernel_size``
    padding : int in ``0 .. kernel_size // 2``, default 0
        Zeros on both sides.
    count_include_pad : bool, default True, keyword-only
        Divide by ``kernel_size``, or by the number of the window's positions
        inside the row. Keyword-only: PyTorch's fourth positional argument is
        ``ceil_mode``, which numrnn does not have.

    Notes
    -----
    Input (B, C, L) or (C, L); output (B, C, L_out) with ``L_out = (L + 2 *
    padding - kernel_size) // stride + 1``. ``forward(input, lengths=...)`` and
    :meth:`output_lengths` as for :class:`MaxPool1d`.

    Examples
    --------
    >>> pool = AvgPool1d(3, stride=1, padding=1)
    """

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, *,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, input: TensorLike, lengths: npt.ArrayLike | None = None) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding,
                            count_include_pad=self.count_include_pad, lengths=lengths)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.count_include_pad else text + ", count_include_pad=False"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "count_include_pad": self.count_include_pad}
