"""max_pool1d and avg_pool1d over the last axis, each one op on a Numba kernel pair.

The kernels (:mod:`numrnn.kernels.pool1d`) run in parallel over the (batch
row, channel) lines; max pooling keeps where each maximum came from, so its
backward is a scatter of the output gradient onto those positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.ops.shape import reshape
from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional.checks import check_float_dtype, check_lengths, contiguous
from numrnn.functional.windows import (
    output_lengths,
    output_steps,
    pool_padding,
    positive_int,
)
from numrnn.kernels.pool1d import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Size, TensorLike

__all__ = ["avg_pool1d", "max_pool1d"]


class PoolGeometry(NamedTuple):
    """Where each window sits: everything the kernels need besides the arrays."""

    kernel_size: int
    stride: int
    padding: int
    steps: int
    out_steps: int


class MaxPool1d(Function):
    """``y[b, c, t] = max of x[b, c, p]`` over the window's positions inside the row.

    Static: ``geometry`` (:class:`PoolGeometry`), ``lengths`` and
    ``out_lengths`` ((B,) int64).
    """

    @staticmethod
    def forward(ctx, x, *, geometry, lengths, out_lengths):
        g = geometry
        y, argmax = max_pool_forward(contiguous(x), lengths, g.kernel_size, g.stride,
                                     g.padding, g.out_steps, out_lengths)
        ctx.save(argmax, g.steps)
        return y

    @staticmethod
    def backward(ctx, grad):
        argmax, steps = ctx.saved
        return max_pool_backward(contiguous(grad), argmax, steps)


class AvgPool1d(Function):
    """``y[b, c, t] = sum of x[b, c, p]`` over the window's positions inside the row,
    divided by K (``count_include_pad``) or by how many positions that is.

    Static: ``geometry``, ``lengths``, ``out_lengths`` and ``count_include_pad``.
    """

    @staticmethod
    def forward(ctx, x, *, geometry, lengths, out_lengths, count_include_pad):
        g = geometry
        ctx.save(g, lengths, out_lengths, count_include_pad)
        return avg_pool_forward(contiguous(x), lengths, g.kernel_size, g.stride, g.padding,
                                g.out_steps, out_lengths, count_include_pad)

    @staticmethod
    def backward(ctx, grad):
        g, lengths, out_lengths, count_include_pad = ctx.saved
        return avg_pool_backward(contiguous(grad), lengths, g.kernel_size, g.stride, g.padding,
                                 g.steps, out_lengths, count_include_pad)


def _pool(op, function, input, kernel_size, stride, padding, lengths, **static):
    """Validate a pool's options and input, then run ``function`` on a (B, C, L) batch."""
    kernel_size = positive_int(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else positive_int(op, "stride", stride)
    padding = pool_padding(op, padding, kernel_size)
    (x,) = coerce(op, input)
    check_float_dtype(op, "input", x)
    if x.ndim not in (2, 3):
        raise ShapeError(f"{op}: input must be 3-D (B, C, L) or 2-D (C, L), "
                         f"got {x.ndim}-D with shape {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        if lengths is not None:
            raise ArgumentError(f"{op}: lengths needs a batched (B, C, L) input, "
                                f"got an unbatched one of shape {x.shape}")
        x = reshape(x, (1,) + x.shape)
    batch, _, steps = x.shape
    if steps == 0:
        raise ShapeError(f"{op}: input must have at least one step, got shape {x.shape}")
    out_steps = output_steps(op, steps, kernel_size, stride, padding, padding)
    lengths = check_lengths(op, lengths, steps, batch)
    out_lengths = output_lengths(lengths, kernel_size, stride, (padding, padding), op=op)
    geometry = PoolGeometry(kernel_size, stride, padding, steps, out_steps)
    y = function.apply(x, geometry=geometry, lengths=lengths, out_lengths=out_lengths, **static)
    return reshape(y, y.shape[1:]) if unbatched else y


def max_pool1d(input: TensorLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               *, lengths: npt.ArrayLike | None = None) -> Tensor:
    """The maximum of each window over the last axis, as PyTorch's ``max_pool1d``.

    Parameters
    ----------
    input : Tensor or float ndarray, shape (B, C, L), or (C, L) unbatched
    kernel_size : int >= 1
    stride : int >= 1, default ``kernel_size``
    padding : int in ``0 .. kernel_size // 2``
        Positions added on both sides that never win (PyTorch pads with -inf).
    lengths : (B,) integers in 1..L, optional, keyword-only
        Valid steps of each row: positions past a row's length never win, so
        its valid outputs equal those of its unpadded sequence; outputs past its
        output length (:func:`~numrnn.functional.windows.output_lengths`) are zero.

    Returns
    -------
    Tensor (B, C, L_out), ``L_out = (L + 2 * padding - kernel_size) // stride + 1``.
    The gradient of each output goes to the first position holding its maximum.
    """
    return _pool("max_pool1d", MaxPool1d, input, kernel_size, stride, padding, lengths)


def avg_pool1d(input: TensorLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               *, count_include_pad: bool = True, lengths: npt.ArrayLike | None = None) -> Tensor:
    """The mean of each window over the last axis, as PyTorch's ``avg_pool1d``.

    Parameters
    ----------
    input : Tensor or float ndarray, shape (B, C, L), or (C, L) unbatched
    kernel_size : int >= 1
    stride : int >= 1, default ``kernel_size``
    padding : int in ``0 .. kernel_size // 2``
        Zeros added on both sides.
    count_include_pad : bool, default True, keyword-only
        Divide by ``kernel_size`` (padding counts) or by the number of the
        window's positions inside the row. Keyword-only because PyTorch's fifth
        positional argument is ``ceil_mode``, which numrnn does not have.
    lengths : (B,) integers in 1..L, optional, keyword-only
        As for :func:`max_pool1d`; positions past a row's length are padding.

    Returns
    -------
    Tensor (B, C, L_out), ``L_out = (L + 2 * padding - kernel_size) // stride + 1``.
    """
    return _pool("avg_pool1d", AvgPool1d, input, kernel_size, stride, padding, lengths,
                 count_include_pad=bool(count_include_pad))
