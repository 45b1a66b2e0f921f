"""max_pool2d, avg_pool2d and adaptive_avg_pool2d over the last two axes, each one op.

The kernels (:mod:`numrnn.kernels.pool2d`) run in parallel over the (image,
channel) planes; max pooling keeps where each maximum came from, so its
backward is a scatter of the output gradient onto those positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.ops.shape import reshape
from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional.checks import check_float_dtype, contiguous
from numrnn.functional.windows2d import int_pair, output_size, pool2d_padding
from numrnn.kernels import pool2d as kernels

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Size, TensorLike

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "max_pool2d"]


class Pool2dGeometry(NamedTuple):
    """Where each window sits: everything the kernels need besides the arrays."""

    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    out_h: int
    out_w: int


class MaxPool2d(Function):
    """``y[n, c, oy, ox] = max of x[n, c, y, x]`` over the window's positions inside
    the plane. Static: ``geometry`` (:class:`Pool2dGeometry`)."""

    @staticmethod
    def forward(ctx, x, *, geometry):
        y, argmax = kernels.max_pool_forward(contiguous(x), *geometry)
        ctx.save(argmax, x.shape[2:])
        return y

    @staticmethod
    def backward(ctx, grad):
        argmax, (height, width) = ctx.saved
        return kernels.max_pool_backward(contiguous(grad), argmax, height, width)


class AvgPool2d(Function):
    """``y[n, c, oy, ox] = sum of x[n, c, y, x]`` over the window's positions inside
    the plane, divided by ``kH * kW`` (``count_include_pad``) or by how many those are.
    Static: ``geometry`` and ``count_include_pad``."""

    @staticmethod
    def forward(ctx, x, *, geometry, count_include_pad):
        ctx.save(geometry, x.shape[2:], count_include_pad)
        return kernels.avg_pool_forward(contiguous(x), *geometry, count_include_pad)

    @staticmethod
    def backward(ctx, grad):
        g, (height, width), count_include_pad = ctx.saved
        return kernels.avg_pool_backward(contiguous(grad), g.kernel_h, g.kernel_w, g.stride_h,
                                         g.stride_w, g.pad_top, g.pad_left, height, width,
                                         count_include_pad)


class AdaptiveAvgPool2d(Function):
    """``y[n, c, oy, ox]`` = the mean of the ``(oy, ox)`` cell of an ``out_h`` x
    ``out_w`` split of the plane (cells overlap where H or W is no multiple).
    Static: ``out_size``."""

    @staticmethod
    def forward(ctx, x, *, out_size):
        ctx.save(x.shape[2:])
        return kernels.adaptive_avg_pool_forward(contiguous(x), *out_size)

    @staticmethod
    def backward(ctx, grad):
        ((height, width),) = ctx.saved
        return kernels.adaptive_avg_pool_backward(contiguous(grad), height, width)


def _batched(op, input):
    """``input`` as a float (N, C, H, W) Tensor, and whether it came unbatched (C, H, W)."""
    (x,) = coerce(op, input)
    check_float_dtype(op, "input", x)
    if x.ndim not in (3, 4):
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), "
                         f"got {x.ndim}-D with shape {x.shape}")
    if 0 in x.shape:
        raise ShapeError(f"{op}: input must not be empty, got shape {x.shape}")
    unbatched = x.ndim == 3
    return (reshape(x, (1,) + x.shape) if unbatched else x), unbatched


def _pool(op, function, input, kernel_size, stride, padding, **static):
    """Validate a pool's options and input, then run ``function`` on an (N, C, H, W) batch."""
    kernel_size = int_pair(op, "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else int_pair(op, "stride", stride, 1)
    padding = pool2d_padding(op, padding, kernel_size)
    x, unbatched = _batched(op, input)
    out_size = output_size(op, x.shape[2:], kernel_size, stride,
                           tuple((p, p) for p in padding))
    geometry = Pool2dGeometry(*kernel_size, *stride, *padding, *out_size)
    y = function.apply(x, geometry=geometry, **static)
    return reshape(y, y.shape[1:]) if unbatched else y


def max_pool2d(input: TensorLike, kernel_size: Size, stride: Size | None = None,
               padding: Size = 0) -> Tensor:
    """The maximum of each window over the last two axes, as PyTorch's ``max_pool2d``.

    Parameters
    ----------
    input : Tensor or float ndarray, shape (N, C, H, W), or (C, H, W) unbatched
    kernel_size : int >= 1 or a pair of them (height, width)
    stride : int >= 1 or a pair, default ``kernel_size``
    padding : int >= 0 or a pair, each at most half its kernel side
        Rows and columns added on both sides that never win (PyTorch pads with -inf).

    Returns
    -------
    Tensor (N, C, H_out, W_out), ``H_out = (H + 2 * pad_h - kH) // sH + 1``, ``W_out``
    likewise. The gradient of each output goes to the first position (row-major)
    holding its maximum; a NaN in a window wins it.
    """
    return _pool("max_pool2d", MaxPool2d, input, kernel_size, stride, padding)


def avg_pool2d(input: TensorLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               *, count_include_pad: bool = True) -> Tensor:
    """The mean of each window over the last two axes, as PyTorch's ``avg_pool2d``.

    Parameters
    ----------
    input : Tensor or float ndarray, shape (N, C, H, W), or (C, H, W) unbatched
    kernel_size : int >= 1 or a pair of them (height, width)
    stride : int >= 1 or a pair, default ``kernel_size``
    padding : int >= 0 or a pair, each at most half its kernel side
        Zeros added on both sides.
    count_include_pad : bool, default True, keyword-only
        Divide by ``kH * kW`` (padding counts) or by the number of the window's
        positions inside the plane. Keyword-only because PyTorch's fifth
        positional argument is ``ceil_mode``, which numrnn does not have.

    Returns
    -------
    Tensor (N, C, H_out, W_out), sizes as for :func:`max_pool2d`.
    """
    return _pool("avg_pool2d", AvgPool2d, input, kernel_size, stride, padding,
                 count_include_pad=bool(count_include_pad))


def adaptive_avg_pool2d(input: TensorLike, output_size: int | Sequence[int | None]) -> Tensor:
    """Means over an ``output_size`` grid of cells of each plane, as PyTorch's
    ``adaptive_avg_pool2d``.

    Parameters
    ----------
    input : Tensor or float ndarray, shape (N, C, H, W), or (C, H, W) unbatched
    output_size : int >= 1, or a pair of ints >= 1 or None (None keeps that side)

    Returns
    -------
    Tensor (N, C, H_out, W_out). Cell ``(oy, ox)`` covers rows ``floor(oy * H /
    H_out)`` to ``ceil((oy + 1) * H / H_out) - 1`` and the columns likewise;
    ``output_size=1`` is global average pooling.
    """
    op = "adaptive_avg_pool2d"
    x, unbatched = _batched(op, input)
    sizes: tuple[Any, ...] = tuple(output_size) if isinstance(output_size, (tuple, list)) \
        else (output_size, output_size)
    if len(sizes) == 2:
        sizes = tuple(x.shape[2 + axis] if size is None else size
                      for axis, size in enumerate(sizes))
    try:
        out_size = int_pair(op, "output_size", sizes, 1)
    except ArgumentError:
        raise ArgumentError(f"{op}: output_size must be a positive int or a pair of "
                            f"positive ints or None, got {output_size!r}") from None
    y = AdaptiveAvgPool2d.apply(x, out_size=out_size)
    return reshape(y, y.shape[1:]) if unbatched else y
