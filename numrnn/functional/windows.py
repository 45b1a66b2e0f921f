"""Sliding-window geometry shared by conv1d and the 1-D pools: options, sizes, lengths.

A window of ``kernel_size`` taps ``dilation`` apart spans
``dilation * (kernel_size - 1) + 1`` positions. Over a sequence of ``L`` steps
padded with ``pad_left`` and ``pad_right`` positions, it fits at
``L_out = (L + pad_left + pad_right - span) // stride + 1`` places (PyTorch's
formula). The same formula maps a row's valid length to the number of its
valid outputs: :func:`output_lengths`, which is how ``lengths`` travel through a
convolutional front end into a recurrent layer.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, DTypeError, ShapeError

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.typing import IntArray, Size

__all__ = ["output_lengths"]

PADDING_MODES = ("same", "valid")


def _single(value):
    """An int, or the one int of a 1-element tuple or list (PyTorch accepts both)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return value[0]
    return value


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(op: str, name: str, value: Any) -> int:
    """``value`` (an int >= 1, or a 1-tuple of one) as an int."""
    value = _single(value)
    if not _is_int(value) or value < 1:
        raise ArgumentError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def non_negative_int(op, name, value):
    """``value`` (an int >= 0, or a 1-tuple of one) as an int."""
    value = _single(value)
    if not _is_int(value) or value < 0:
        raise ArgumentError(f"{op}: {name} must be a non-negative int, got {value!r}")
    return int(value)


def span(kernel_size, dilation=1):
    """How many positions a window covers from its first tap to its last."""
    return dilation * (kernel_size - 1) + 1


def conv_padding(op: str, padding: Size | str, kernel_size: int, stride: int, dilation: int,
                 causal: bool) -> tuple[int, int]:
    """``(pad_left, pad_right)`` for a convolution's ``padding`` and ``causal`` options.

    ``padding`` is an int (both sides), ``'valid'`` (none) or ``'same'`` (output
    as long as the input, stride 1 only; an odd total puts the extra position
    on the right, as PyTorch does). ``causal=True`` pads
    ``dilation * (kernel_size - 1)`` positions on the left only, so output ``t``
    sees inputs up to ``t * stride`` and never later ones; it takes no
    ``padding`` besides.
    """
    total = span(kernel_size, dilation) - 1
    if causal:
        if _single(padding) not in (0, "valid"):
            raise ArgumentError(f"{op}: causal=True pads {total} position(s) on the left "
                                f"by itself and takes no padding, got padding={padding!r}")
        return total, 0
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ArgumentError(f"{op}: padding must be an int, 'same' or 'valid', "
                                f"got {padding!r}")
        if padding == "valid":
            return 0, 0
        if stride != 1:
            raise ArgumentError(f"{op}: padding='same' needs stride=1 (as in PyTorch), "
                                f"got stride={stride}")
        return total // 2, total - total // 2
    amount = _single(padding)
    if not _is_int(amount) or amount < 0:
        raise ArgumentError(f"{op}: padding must be a non-negative int, 'same' or 'valid', "
                            f"got {padding!r}")
    return int(amount), int(amount)


def pool_padding(op: str, padding: Size, kernel_size: int) -> int:
    """A pool's ``padding``: an int from 0 to ``kernel_size // 2``, as PyTorch requires."""
    amount = non_negative_int(op, "padding", padding)
    if amount > kernel_size // 2:
        raise ArgumentError(f"{op}: padding must be at most half of kernel_size "
                            f"({kernel_size // 2}), got {amount}")
    return amount


def output_steps(op, steps, window, stride, pad_left, pad_right):
    """L_out for an input of ``steps`` positions; a window that fits nowhere is refused."""
    padded = steps + pad_left + pad_right
    if padded < window:
        raise ShapeError(f"{op}: input of {steps} step(s), padded to {padded}, is shorter "
                         f"than the window of {window} position(s), got no output step")
    return (padded - window) // stride + 1


def output_lengths(lengths: npt.ArrayLike, kernel_size: Size, stride: Size = 1,
                   padding: tuple[int, int] = (0, 0), dilation: Size = 1, *,
                   op: str = "output_lengths") -> IntArray:
    """The valid output length of each row, given the valid input lengths.

    Parameters
    ----------
    lengths : (B,) integers >= 1 (array, list or Tensor)
        Valid steps of each input row.
    kernel_size, stride, dilation : int
    padding : (pad_left, pad_right)
        Positions of padding added on each side.

    Returns
    -------
    ndarray (B,) of int64: ``(lengths + pad_left + pad_right - span) // stride + 1``
    with ``span = dilation * (kernel_size - 1) + 1``. Output ``t < out_lengths[b]``
    of row ``b`` is computed from the row's valid inputs and the zero (or, for
    max pooling, -inf) padding only: exactly what the unpadded sequence gives.

    Raises :class:`~numrnn.errors.ShapeError` for a row too short to give any
    output, or lengths that are not positive whole numbers.

    >>> output_lengths([10, 7], kernel_size=3, stride=2, padding=(1, 1))
    array([5, 4])
    """
    array = lengths.data if isinstance(lengths, Tensor) else np.asarray(lengths)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: lengths must be integers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ShapeError(f"{op}: lengths must be 1-D (B,), one per batch row, "
                         f"got shape {array.shape}")
    array = array.astype(np.int64)
    if array.size and array.min() < 1:
        raise ShapeError(f"{op}: every length must be at least 1, got {array.tolist()}")
    window = span(kernel_size, dilation)
    pad_left, pad_right = padding
    padded = array + pad_left + pad_right
    too_short = np.flatnonzero(padded < window)
    if too_short.size:
        row = int(too_short[0])
        raise ShapeError(f"{op}: row {row} has {int(array[row])} valid step(s), padded to "
                         f"{int(padded[row])}, shorter than the window of {window} "
                         f"position(s): it would have no output step")
    return (padded - window) // stride + 1
