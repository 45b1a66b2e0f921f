"""Window geometry of conv2d and the 2-D pools: (height, width) options and output sizes.

PyTorch takes each 2-D option as an int (both axes) or a pair ``(height,
width)``. Along each axis a window of ``k`` taps ``d`` apart spans
``d * (k - 1) + 1`` positions and, over ``H`` positions padded with
``before + after``, fits at ``(H + before + after - span) // stride + 1`` places.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional.windows import PADDING_MODES, span

if TYPE_CHECKING:
    from typing import Any

    from numrnn.typing import Size

AXES = ("height", "width")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_pair(op: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
    """``value`` (an int, or a pair of ints, each at least ``minimum``) as a 2-tuple."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(_is_int(v) and v >= minimum for v in pair):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ArgumentError(f"{op}: {name} must be a {kind} int or a pair of them "
                            f"(height, width), got {value!r}")
    return int(pair[0]), int(pair[1])


def conv2d_padding(op: str, padding: Size | str, kernel_size: tuple[int, int],
                   stride: tuple[int, int],
                   dilation: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """``((top, bottom), (left, right))`` for a convolution's ``padding``.

    ``padding`` is an int or pair (both sides of each axis), ``'valid'`` (none)
    or ``'same'`` (output as large as the input, stride 1 only; an odd total
    puts the extra row or column after, as PyTorch does).
    """
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ArgumentError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                                f"got {padding!r}")
        if padding == "valid":
            return (0, 0), (0, 0)
        if stride != (1, 1):
            raise ArgumentError(f"{op}: padding='same' needs stride=1 (as in PyTorch), "
                                f"got stride={stride}")
        totals = [span(k, d) - 1 for k, d in zip(kernel_size, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    amounts = int_pair(op, "padding", padding, 0)
    return tuple((amount, amount) for amount in amounts)


def pool2d_padding(op, padding, kernel_size):
    """A pool's ``padding`` pair, each at most half of its kernel side, as PyTorch requires."""
    amounts = int_pair(op, "padding", padding, 0)
    for axis, amount, size in zip(AXES, amounts, kernel_size):
        if amount > size // 2:
            raise ArgumentError(f"{op}: padding must be at most half of kernel_size along "
                                f"{axis} ({size // 2}), got {amount}")
    return amounts


def output_size(op, size, kernel_size, stride, padding, dilation=(1, 1)):
    """``(H_out, W_out)`` of an input ``size`` (H, W); a window that fits nowhere is refused.

    ``padding`` is ``((top, bottom), (left, right))``.
    """
    result = []
    for axis, steps, k, s, (before, after), d in zip(AXES, size, kernel_size, stride, padding,
                                                     dilation):
        window = span(k, d)
        padded = steps + before + after
        if padded < window:
            raise ShapeError(f"{op}: input {axis} of {steps}, padded to {padded}, is smaller "
                             f"than the window of {window} along it (kernel size {k}, "
                             f"dilation {d}): no output position")
        result.append((padded - window) // s + 1)
    return tuple(result)
