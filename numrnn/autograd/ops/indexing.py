"""Picking entries: ``x[index]`` (getitem) and ``where(condition, a, b)``.

``getitem`` accepts everything NumPy indexing does: ints, slices, ``None``,
``Ellipsis``, integer arrays and boolean masks, alone or in a tuple. Its
backward scatters the gradient back; an entry picked twice (``x[[0, 0]]``)
receives both gradients, which is why advanced indices go through
``np.add.at`` rather than a plain assignment that would keep only the last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce, unbroadcast
from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError, IndexOutOfRangeError, ShapeError
from numrnn.kernels.reused_memory import ReusedMemory

if TYPE_CHECKING:
    from typing import Any

    from numrnn.typing import TensorLike, TensorOrArray


# The memory of getitem's scattered gradients, reused from call to call: reading the
# last step of a (T, B, H) recurrent output scatters its gradient into a (T, B, H)
# array of zeros every training step, and fresh memory that size is faulted in,
# page by page, each time (about 400 pages at T = 100, B = H = 64, float32).
_GRADIENTS = ReusedMemory()


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, *, index, basic):
        ctx.save(x.shape, index, basic)
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, grad):
        shape, index, basic = ctx.saved
        (grad_x,) = _GRADIENTS.arrays((shape,), grad.dtype, True)
        if basic:
            # Basic indexing never selects an entry twice, so assignment is exact.
            grad_x[index] = grad
        else:
            np.add.at(grad_x, index, grad)
        return grad_x


class Where(Function):
    @staticmethod
    def forward(ctx, a, b, *, condition):
        ctx.save(condition, a.shape, b.shape)
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        condition, a_shape, b_shape = ctx.saved
        zero = grad.dtype.type(0)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(np.where(condition, grad, zero), a_shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(np.where(condition, zero, grad), b_shape)
        return grad_a, grad_b


def _index_part(part):
    """One component of an index with Tensors unwrapped and arrays copied.

    The copy keeps a caller who reuses (and overwrites) an index array from
    changing where the gradient goes.
    """
    if isinstance(part, Tensor):
        part = part.data
    if isinstance(part, (list, np.ndarray)):
        return np.array(part), False
    is_basic = part is None or part is Ellipsis or isinstance(part, (int, np.integer, slice))
    return part, is_basic and not isinstance(part, (bool, np.bool_))


def getitem(x: TensorOrArray, index: Any) -> Tensor:
    """``x[index]`` with NumPy semantics; repeated integer indices accumulate gradient."""
    (x,) = coerce("getitem", x)
    parts = index if isinstance(index, tuple) else (index,)
    unwrapped = [_index_part(part) for part in parts]
    basic = all(is_basic for _, is_basic in unwrapped)
    index = tuple(part for part, _ in unwrapped)
    try:
        return GetItem.apply(x, index=index, basic=basic)
    except IndexError as error:
        raise IndexOutOfRangeError(
            f"getitem: cannot index a tensor of shape {x.shape}: {error}"
        ) from None


def where(condition: TensorOrArray, a: TensorLike, b: TensorLike) -> Tensor:
    """``a`` where ``condition`` is True, else ``b``; all three broadcast together.

    ``condition`` is a boolean array (or boolean Tensor) and is not differentiated.
    """
    condition = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if condition.dtype != np.bool_:
        raise DTypeError(f"where: condition must be a boolean array, got dtype {condition.dtype}")
    a, b = coerce("where", a, b)
    try:
        np.broadcast_shapes(condition.shape, a.shape, b.shape)
    except ValueError:
        raise ShapeError(
            f"where: condition {condition.shape}, a {a.shape} and b {b.shape} are not "
            "broadcast-compatible"
        ) from None
    return Where.apply(a, b, condition=condition.copy())
