"""Where the extremes are: argmax/argmin, and max/min along an axis with their indices.

The indices are int64 Tensors that record nothing: an index has no gradient.
The values of :func:`max_with_indices` / :func:`min_with_indices` are the
entries at those indices, and their gradient goes to those entries alone (the
first one of a tie), as ``torch.max(x, dim)`` does; :func:`~numrnn.autograd.ops.max`
(``amax``), which reduces several axes at once, shares it among the tied ones.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import axis_or_dim, keepdims_or_keepdim, normalize_axis
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentTypeError, ShapeError

if TYPE_CHECKING:
    from numrnn.typing import Axis, TensorLike

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
"""``(values, indices)`` of a max or min along an axis, as PyTorch's."""
ValuesIndices.__doc__ = "``(values, indices)`` of a max or min along an axis, as PyTorch's."


class TakeAlongAxis(Function):
    """``x``'s entries at ``indices`` (kept-dims shape) along ``axis``; exact gradient."""

    @staticmethod
    def forward(ctx, x, *, indices, axis, keepdims):
        ctx.save(x.shape, indices, axis, keepdims)
        picked = np.take_along_axis(x, indices, axis=axis)
        return picked if keepdims else np.squeeze(picked, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        shape, indices, axis, keepdims = ctx.saved
        grad_x = np.zeros(shape, dtype=grad.dtype)
        np.put_along_axis(grad_x, indices, grad if keepdims else np.expand_dims(grad, axis),
                          axis=axis)
        return grad_x


def _operand(name, x):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, np.generic, int, float, list, tuple)) \
            and not isinstance(x, bool):
        return Tensor(np.asarray(x))
    raise ArgumentTypeError(f"{name}: expected a Tensor or an array, got {type(x).__name__}")


def _checked_axis(name, x, axis):
    """``axis`` normalized, or None; a size-0 axis (nothing to pick) is refused."""
    if isinstance(axis, (tuple, list)):
        raise ArgumentTypeError(f"{name}: axis must be one int or None, got {axis!r}")
    if axis is not None:
        axis = normalize_axis(name, axis, x.ndim)
    if (x.size == 0) if axis is None else (x.shape[axis] == 0):
        where = "an empty tensor" if axis is None else f"axis {axis} of size 0"
        raise ShapeError(f"{name}: cannot pick from {where} (tensor shape {x.shape})")
    return axis


def _check_keepdims(name, keepdims):
    if not isinstance(keepdims, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name}: keepdims must be True or False, got {keepdims!r}")
    return bool(keepdims)


def _arg_extreme(name, pick, x, axis, keepdims, dim, keepdim):
    axis = axis_or_dim(name, axis, dim)
    keepdims = keepdims_or_keepdim(name, keepdims, keepdim)
    x = _operand(name, x)
    axis = _checked_axis(name, x, axis)
    keepdims = _check_keepdims(name, keepdims)
    indices = pick(x.data, axis=axis, keepdims=keepdims)
    return Tensor(np.asarray(indices, dtype=np.int64))


def argmax(x: TensorLike, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the largest entry along ``axis`` (None: of the flattened tensor), int64.

    The first index wins a tie; a NaN counts as the largest. Not differentiable.
    ``dim``/``keepdim`` are PyTorch's names for ``axis``/``keepdims``
    (``torch.argmax(x, dim=1)``); one of each pair may be given.
    """
    return _arg_extreme("argmax", np.argmax, x, axis, keepdims, dim, keepdim)


def argmin(x: TensorLike, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the smallest entry along ``axis`` (None: of the flattened tensor), int64.

    Takes PyTorch's ``dim``/``keepdim`` as :func:`argmax` does.
    """
    return _arg_extreme("argmin", np.argmin, x, axis, keepdims, dim, keepdim)


def _extreme_with_indices(name, pick, x, axis, keepdims):
    x = _operand(name, x)
    if axis is None or isinstance(axis, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name}: axis must be an int, got {axis!r}")
    axis = _checked_axis(name, x, axis)
    keepdims = _check_keepdims(name, keepdims)
    kept = np.asarray(pick(x.data, axis=axis, keepdims=True), dtype=np.int64)
    values = TakeAlongAxis.apply(x, indices=kept, axis=axis, keepdims=keepdims)
    indices = Tensor(kept if keepdims else np.squeeze(kept, axis=axis))
    return ValuesIndices(values, indices)


def max_with_indices(x: TensorLike, axis: Axis, keepdims: bool = False) -> ValuesIndices:
    """``(values, indices)`` of the largest entries along one ``axis``: ``torch.max(x, dim)``.

    Parameters
    ----------
    x : Tensor
    axis : int
        Negative counts from the end.
    keepdims : bool, default False
        Keep ``axis`` as a dimension of size 1 in both results.

    Returns
    -------
    ValuesIndices
        ``values`` (differentiable; the gradient reaches the first maximum of
        each row only) and ``indices`` (int64, no gradient).
    """
    return _extreme_with_indices("max", np.argmax, x, axis, keepdims)


def min_with_indices(x: TensorLike, axis: Axis, keepdims: bool = False) -> ValuesIndices:
    """``(values, indices)`` of the smallest entries along one ``axis``: ``torch.min(x, dim)``.

    As :func:`max_with_indices`, for the minimum.
    """
    return _extreme_with_indices("min", np.argmin, x, axis, keepdims)
