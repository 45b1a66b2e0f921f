"""conv1d: a 1-D convolution (cross-correlation, as in PyTorch) as one op.

The input is unfolded into one row per output position (a Numba kernel, in
parallel over the batch) and multiplied by the weight with one GEMM per group
(:func:`numrnn.kernels.gemm.matmul`); the backward is two more GEMMs per group
and the kernel that folds the rows' gradients back. GEMMs rather than direct
loops, measured on one thread in float32 at B=32, C_in=64, C_out=128, K=5,
L=200 (December 2026, Zen 5): a direct Numba loop over (b, o, c, k, t) took
193 ms (2.7 GFLOP/s), unfold + GEMM 11 ms (48 GFLOP/s), the unfolding being one
pass over K copies of the input. The unfolded input is rebuilt in the backward
instead of being kept, so a long sequence holds K times less memory between
the passes. See :mod:`numrnn.kernels.conv1d` for the layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.ops.shape import reshape
from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional.checks import (
    check_float_dtype,
    check_lengths,
    check_ndim,
    check_shape,
    contiguous,
    data_of,
)
from numrnn.functional.windows import (
    conv_padding,
    output_lengths,
    output_steps,
    positive_int,
    span,
)
from numrnn.kernels.conv1d import channels_first_to_rows, fold, rows_to_channels_first, unfold
from numrnn.kernels.gemm import matmul

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Size, TensorLike

__all__ = ["conv1d"]


class ConvGeometry(NamedTuple):
    """Where each window sits: everything the kernels need besides the arrays."""

    kernel_size: int
    stride: int
    dilation: int
    pad_left: int
    groups: int
    steps: int
    out_steps: int


def _unfold(x, lengths, geometry):
    g = geometry
    return unfold(x, lengths, g.kernel_size, g.stride, g.dilation, g.pad_left, g.out_steps)


def _group_slices(size, groups):
    width = size // groups
    return [slice(group * width, (group + 1) * width) for group in range(groups)]


class Conv1d(Function):
    """``y[b, o, t] = bias[o] + sum over c in o's group, k of
    weight[o, c', k] * x[b, c, t * stride + k * dilation - pad_left]``.

    ``c'`` is ``c``'s index inside its group. Inputs: ``x`` (B, C_in, L),
    ``weight`` (C_out, C_in / groups, K), ``bias`` (C_out,) or None. Static:
    ``geometry`` (:class:`ConvGeometry`), ``lengths`` and ``out_lengths`` ((B,)
    int64): inputs past ``lengths[b]`` read as padding, outputs past
    ``out_lengths[b]`` are zero.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, *, geometry, lengths, out_lengths):
        x = contiguous(x)
        matrix = contiguous(weight).reshape(weight.shape[0], -1)
        cols = _unfold(x, lengths, geometry)
        rows = np.empty((cols.shape[0], matrix.shape[0]), dtype=x.dtype)
        in_groups = _group_slices(cols.shape[1], geometry.groups)
        out_groups = _group_slices(matrix.shape[0], geometry.groups)
        for cols_of, rows_of in zip(in_groups, out_groups):
            rows[:, rows_of] = matmul(cols[:, cols_of], matrix[rows_of].T)
        shift = np.zeros(matrix.shape[0], dtype=x.dtype) if bias is None else contiguous(bias)
        ctx.save(x, matrix, geometry, lengths, out_lengths)
        return rows_to_channels_first(rows, shift, out_lengths, geometry.out_steps)

    @staticmethod
    def backward(ctx, grad):
        x, matrix, geometry, lengths, out_lengths = ctx.saved
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad
        grad_rows = channels_first_to_rows(contiguous(grad), out_lengths)
        in_groups = _group_slices(matrix.shape[1] * geometry.groups, geometry.groups)
        out_groups = _group_slices(matrix.shape[0], geometry.groups)
        grad_x = grad_weight = grad_bias = None
        if needs_x:
            grad_cols = np.empty((grad_rows.shape[0], matrix.shape[1] * geometry.groups),
                                 dtype=grad.dtype)
            for cols_of, rows_of in zip(in_groups, out_groups):
                grad_cols[:, cols_of] = matmul(grad_rows[:, rows_of], matrix[rows_of])
            g = geometry
            grad_x = fold(grad_cols, lengths, x.shape[1], g.steps, g.kernel_size, g.stride,
                          g.dilation, g.pad_left, g.out_steps)
        if needs_weight:
            cols = _unfold(x, lengths, geometry)
            grad_matrix = np.empty_like(matrix)
            for cols_of, rows_of in zip(in_groups, out_groups):
                grad_matrix[rows_of] = matmul(grad_rows[:, rows_of].T, cols[:, cols_of])
            grad_weight = grad_matrix.reshape(matrix.shape[0], -1, geometry.kernel_size)
        if needs_bias:
            grad_bias = grad_rows.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def conv1d(input: TensorLike, weight: TensorLike, bias: TensorLike | None = None, stride: Size = 1,
           padding: Size | str = 0, dilation: Size = 1, groups: int = 1, *, causal: bool = False,
           lengths: npt.ArrayLike | None = None) -> Tensor:
    """A 1-D convolution over the last axis, as PyTorch's ``conv1d`` (cross-correlation).

    Parameters
    ----------
    input : Tensor or float ndarray, shape (B, C_in, L), or (C_in, L) unbatched
    weight : Tensor or ndarray, shape (C_out, C_in / groups, K), dtype of ``input``
    bias : Tensor or ndarray, shape (C_out,), optional
    stride, dilation : int >= 1
    padding : int >= 0, 'same' or 'valid'
        Zeros added on both sides; 'same' (stride 1 only) keeps the length,
        with an odd total's extra position on the right, as PyTorch does.
    groups : int >= 1
        Split the channels into this many independent convolutions; C_in and
        C_out must both be multiples of it (``groups=C_in`` is depthwise).
    causal : bool, keyword-only
        Pad ``dilation * (K - 1)`` positions on the left only, so output ``t``
        depends on inputs up to ``t * stride`` and no later ones. Takes no
        ``padding``.
    lengths : (B,) integers in 1..L, optional, keyword-only
        Valid steps of each row of a padded batch. Inputs at or past a row's
        length read as the zero padding, so the row's valid outputs equal those
        of its unpadded sequence; outputs past its output length (see
        :func:`~numrnn.functional.windows.output_lengths`, or a module's
        ``output_lengths``) are zero. Batched input only.

    Returns
    -------
    Tensor (B, C_out, L_out) (or (C_out, L_out)), ``L_out = (L + pad_left +
    pad_right - dilation * (K - 1) - 1) // stride + 1``.

    >>> y = conv1d(x, w, b, padding=1)                 # x (8, 16, 100), w (32, 16, 3)
    """
    op = "conv1d"
    stride = positive_int(op, "stride", stride)
    dilation = positive_int(op, "dilation", dilation)
    groups = positive_int(op, "groups", groups)
    (x,) = coerce(op, input)
    dtype = check_float_dtype(op, "input", x)
    check_float_dtype(op, "weight", weight, dtype)
    check_ndim(op, "weight", weight, 3, "(C_out, C_in / groups, K)")
    out_channels, group_channels, kernel_size = data_of(weight).shape
    if kernel_size < 1 or group_channels < 1:
        raise ShapeError(f"{op}: weight must have at least one input channel and one tap, "
                         f"got shape {data_of(weight).shape}")
    if out_channels % groups:
        raise ShapeError(f"{op}: weight's {out_channels} output channels must be a multiple "
                         f"of groups={groups}")
    if bias is not None:
        check_float_dtype(op, "bias", bias, dtype)
        check_shape(op, "bias", bias, (out_channels,))
    pad_left, pad_right = conv_padding(op, padding, kernel_size, stride, dilation, bool(causal))
    if x.ndim not in (2, 3):
        raise ShapeError(f"{op}: input must be 3-D (B, C_in, L) or 2-D (C_in, L), "
                         f"got {x.ndim}-D with shape {x.shape}")
    unbatched = x.ndim == 2
    if unbatched:
        if lengths is not None:
            raise ArgumentError(f"{op}: lengths needs a batched (B, C_in, L) input, "
                                f"got an unbatched one of shape {x.shape}")
        x = reshape(x, (1,) + x.shape)
    batch, channels, steps = x.shape
    if channels != group_channels * groups:
        raise ShapeError(f"{op}: input must have {group_channels * groups} channels "
                         f"(weight's {group_channels} per group x groups={groups}), "
                         f"got {channels}")
    if steps == 0:
        raise ShapeError(f"{op}: input must have at least one step, got shape {x.shape}")
    window = span(kernel_size, dilation)
    out_steps = output_steps(op, steps, window, stride, pad_left, pad_right)
    lengths = check_lengths(op, lengths, steps, batch)
    out_lengths = output_lengths(lengths, kernel_size, stride, (pad_left, pad_right), dilation,
                                 op=op)
    geometry = ConvGeometry(kernel_size, stride, dilation, pad_left, groups, steps, out_steps)
    y = Conv1d.apply(x, weight, bias, geometry=geometry, lengths=lengths,
                     out_lengths=out_lengths)
    return reshape(y, y.shape[1:]) if unbatched else y
