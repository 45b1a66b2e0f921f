"""Ops that move entries around without changing them: reshape (and squeeze,
unsqueeze), transpose, concatenate, stack, split.

Their backwards move the gradient back the same way, so each is exact.
``split`` is the one multi-output op here: it returns a tuple of Tensors and
its backward receives one gradient per piece (zeros for pieces nobody used).
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import axis_or_dim, coerce, normalize_axis
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Axis, TensorLike, TensorOrArray


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.save(x.shape)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        (shape,) = ctx.saved
        return grad.reshape(shape)


class Transpose(Function):
    @staticmethod
    def forward(ctx, x, *, axes):
        ctx.save(axes)
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, grad):
        (axes,) = ctx.saved
        return np.transpose(grad, np.argsort(axes))


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *pieces, axis):
        offsets = list(itertools.accumulate(p.shape[axis] for p in pieces[:-1]))
        ctx.save(offsets, axis)
        return np.concatenate(pieces, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        offsets, axis = ctx.saved
        parts = np.split(grad, offsets, axis=axis)
        return tuple(
            part if needed else None for part, needed in zip(parts, ctx.needs_input_grad)
        )


class Stack(Function):
    @staticmethod
    def forward(ctx, *pieces, axis):
        ctx.save(axis)
        return np.stack(pieces, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        (axis,) = ctx.saved
        parts = np.moveaxis(grad, axis, 0)
        return tuple(
            part if needed else None for part, needed in zip(parts, ctx.needs_input_grad)
        )


class Split(Function):
    """Pieces ``x[bounds[i][0]:bounds[i][1]]`` along ``axis``.

    With explicit indices NumPy allows pieces that are empty or even overlap
    (``[3, 1]`` gives ``[:3]``, ``[3:1]``, ``[1:]``), so the backward adds each
    piece's gradient into its slice instead of concatenating them.
    """

    @staticmethod
    def forward(ctx, x, *, bounds, axis):
        ctx.save(x.shape, bounds, axis)
        moved = np.moveaxis(x, axis, 0)
        return tuple(np.moveaxis(moved[start:stop], 0, axis) for start, stop in bounds)

    @staticmethod
    def backward(ctx, *grads):
        shape, bounds, axis = ctx.saved
        grad_x = np.zeros(shape, dtype=grads[0].dtype)
        moved = np.moveaxis(grad_x, axis, 0)
        for (start, stop), grad in zip(bounds, grads):
            moved[start:stop] += np.moveaxis(grad, axis, 0)
        return grad_x


def _int_tuple(name: str, what: str, values: object) -> tuple[int, ...]:
    if isinstance(values, numbers.Integral):
        values = (values,)
    if isinstance(values, np.ndarray) and values.ndim == 1:
        values = tuple(values)
    if not isinstance(values, (tuple, list)) or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, (bool, np.bool_)) for n in values
    ):
        raise ArgumentTypeError(
            f"{name}: {what} must be an int or a sequence of ints, got {values!r}"
        )
    return tuple(int(n) for n in values)


def reshape(x: TensorOrArray, shape: Sequence[int]) -> Tensor:
    """The same entries in row-major order, arranged as ``shape`` (one entry may be -1)."""
    (x,) = coerce("reshape", x)
    shape = _int_tuple("reshape", "shape", shape)
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in shape):
        raise ShapeError(
            f"reshape: shape may hold non-negative sizes and at most one -1, got {shape}"
        )
    known = math.prod(n for n in shape if n != -1)
    if unknown and known and x.size % known == 0:
        shape = shape[: unknown[0]] + (x.size // known,) + shape[unknown[0] + 1 :]
    if -1 in shape or math.prod(shape) != x.size:
        raise ShapeError(
            f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
            f"into shape {shape}"
        )
    return Reshape.apply(x, shape=shape)


def unsqueeze(x: TensorOrArray, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """A new axis of size 1 at position ``axis`` (-1: last), as ``torch.unsqueeze``.

    ``dim`` is PyTorch's name for ``axis``; one of the two must be given.
    """
    axis = axis_or_dim("unsqueeze", axis, dim)
    if axis is None:
        raise ArgumentError("unsqueeze: needs the position of the new axis (dim or axis), "
                            "got neither")
    (x,) = coerce("unsqueeze", x)
    axis = normalize_axis("unsqueeze", axis, x.ndim + 1)
    return Reshape.apply(x, shape=x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x: TensorOrArray, axis: Axis = None, *, dim: Axis = None) -> Tensor:
    """Drop axes of size 1: all of them (``axis=None``), or those named in ``axis``.

    As ``torch.squeeze``, a named axis whose size is not 1 is left as it is;
    ``dim`` is PyTorch's name for ``axis``.
    """
    axis = axis_or_dim("squeeze", axis, dim)
    (x,) = coerce("squeeze", x)
    if axis is None:
        named: Iterable[int] = range(x.ndim)
    elif isinstance(axis, (tuple, list)):
        named = [normalize_axis("squeeze", a, x.ndim) for a in axis]
    else:
        named = [normalize_axis("squeeze", axis, x.ndim)]
    dropped = {a for a in named if x.shape[a] == 1}
    shape = tuple(size for a, size in enumerate(x.shape) if a not in dropped)
    return Reshape.apply(x, shape=shape)


def transpose(x: TensorOrArray, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes: ``axes[i]`` of the input becomes axis ``i``; None reverses them."""
    (x,) = coerce("transpose", x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    elif not isinstance(axes, (tuple, list)):
        raise ArgumentTypeError(f"transpose: axes must be a tuple of ints or None, got {axes!r}")
    else:
        if len(axes) != x.ndim:
            raise ShapeError(
                f"transpose: axes must list all {x.ndim} dimensions of a tensor of shape "
                f"{x.shape}, got {tuple(axes)}"
            )
        normalized = tuple(normalize_axis("transpose", a, x.ndim) for a in axes)
        if len(set(normalized)) != len(normalized):
            raise ShapeError(
                f"transpose: axes must be a permutation of 0..{x.ndim - 1}, got {tuple(axes)}"
            )
        axes = normalized
    return Transpose.apply(x, axes=axes)


def permute(x: TensorOrArray, axes: Sequence[int]) -> Tensor:
    """``transpose`` with explicit axes, under PyTorch's name."""
    if axes is None:
        raise ArgumentError("permute: axes must be given explicitly (use transpose to reverse)")
    return transpose(x, axes)


def _as_operands(name, tensors):
    if not isinstance(tensors, (tuple, list)) or not tensors:
        raise ArgumentError(
            f"{name}: expected a non-empty list or tuple of tensors, got {tensors!r}"
        )
    return coerce(name, *tensors)


def concatenate(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join tensors end to end along an existing ``axis``; other sizes must match."""
    pieces = _as_operands("concatenate", tensors)
    first = pieces[0]
    if first.ndim == 0:
        raise ShapeError("concatenate: 0-dimensional tensors cannot be concatenated")
    axis = normalize_axis("concatenate", axis, first.ndim)
    for index, piece in enumerate(pieces[1:], start=1):
        other_axes_match = piece.ndim == first.ndim and all(
            piece.shape[d] == first.shape[d] for d in range(first.ndim) if d != axis
        )
        if not other_axes_match:
            raise ShapeError(
                f"concatenate: tensor {index} has shape {piece.shape} but tensor 0 has "
                f"shape {first.shape}; all sizes except along axis {axis} must match"
            )
    return Concatenate.apply(*pieces, axis=axis)


def stack(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new ``axis``."""
    pieces = _as_operands("stack", tensors)
    first = pieces[0]
    axis = normalize_axis("stack", axis, first.ndim + 1)
    for index, piece in enumerate(pieces[1:], start=1):
        if piece.shape != first.shape:
            raise ShapeError(
                f"stack: all tensors must have the same shape, got {first.shape} for tensor 0 "
                f"and {piece.shape} for tensor {index}"
            )
    return Stack.apply(*pieces, axis=axis)


def split(x: TensorOrArray, indices_or_sections: int | Sequence[int],
          axis: int = 0) -> list[Tensor]:
    """Cut ``x`` along ``axis`` into a tuple of tensors, as :func:`numpy.split`.

    An int ``n`` gives ``n`` equal pieces (the size must divide evenly); a
    sequence of indices gives the pieces between consecutive cut points.
    """
    (x,) = coerce("split", x)
    if x.ndim == 0:
        raise ShapeError("split: a 0-dimensional tensor cannot be split")
    axis = normalize_axis("split", axis, x.ndim)
    size = x.shape[axis]
    if isinstance(indices_or_sections, numbers.Integral):
        sections = int(indices_or_sections)
        if sections < 1 or size % sections:
            raise ShapeError(
                f"split: axis {axis} of size {size} cannot be cut into {sections} equal "
                f"sections (tensor shape {x.shape})"
            )
        step = size // sections
        bounds = tuple((i * step, (i + 1) * step) for i in range(sections))
    else:
        cuts = _int_tuple("split", "indices_or_sections", indices_or_sections)
        points = (0, *cuts, size)
        bounds = tuple(slice(start, stop).indices(size)[:2]
                       for start, stop in zip(points, points[1:]))
    return Split.apply(x, bounds=bounds, axis=axis)
