"""Helpers every op module shares: operand coercion, broadcast reduction, axis names."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError


def float_dtype_of(*operands):
    """The floating dtype carried by the Tensor (or float array) operands, if any."""
    for x in operands:
        data = x.data if isinstance(x, Tensor) else x
        if isinstance(data, np.ndarray) and data.dtype.kind == "f":
            return data.dtype
    return None


def coerce(name: str, *operands: Any) -> list[Tensor | np.ndarray]:
    """Turn Python numbers and non-float arrays into arrays of the tensors' dtype.

    Python scalars adopt the tensor's dtype (``x * 2`` stays float32); a float
    array of the other precision is refused rather than silently cast.
    """
    dtype = float_dtype_of(*operands) or np.dtype(np.float64)
    result: list[Tensor | np.ndarray] = []
    for x in operands:
        if isinstance(x, Tensor):
            if x.dtype.kind != "f":
                x = Tensor(x.data.astype(dtype))
            result.append(x)
        elif isinstance(x, (numbers.Number, np.generic)):
            result.append(np.asarray(x, dtype=dtype))
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            if x.dtype != dtype:
                raise DTypeError(f"{name}: operands must share dtype {dtype}, got {x.dtype}")
            result.append(x)
        else:
            result.append(np.asarray(x, dtype=dtype))
    return result


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def check_broadcastable(name, a, b):
    """Raise ShapeError naming both shapes when NumPy could not broadcast them."""
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(
            f"{name}: shapes {a.shape} and {b.shape} are not broadcast-compatible"
        ) from None


def axis_or_dim(name, axis, dim):
    """The axis given as NumPy's ``axis`` or PyTorch's ``dim`` (None if neither).

    Both at once is an :class:`ArgumentError`, as it is for ``Tensor.max``.
    """
    if axis is not None and dim is not None:
        raise ArgumentError(f"{name}: give dim (PyTorch's name) or axis (NumPy's), not both "
                            f"(got dim={dim!r}, axis={axis!r})")
    return axis if dim is None else dim


def keepdims_or_keepdim(name, keepdims, keepdim):
    """``keepdims`` or PyTorch's ``keepdim`` (False if neither); both is refused."""
    if keepdims is not None and keepdim is not None:
        raise ArgumentError(f"{name}: give keepdim (PyTorch's name) or keepdims (NumPy's), "
                            f"not both (got keepdim={keepdim!r}, keepdims={keepdims!r})")
    given = keepdims if keepdim is None else keepdim
    return False if given is None else given


def normalize_axis(name: str, axis: int, ndim: int) -> int:
    """One axis (negative counts from the end) as an index in ``range(ndim)``."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (numbers.Integral)):
        raise ArgumentTypeError(f"{name}: axis must be an integer, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ShapeError(
            f"{name}: axis {axis} is out of range for a tensor with {ndim} dimension(s)"
        )
    return int(axis) % ndim


def normalize_axes(name, axis, ndim):
    """``None`` (all axes), an int or a tuple of ints as a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(name, a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"{name}: axis {tuple(axis)} names the same dimension twice")
        return tuple(sorted(axes))
    return (normalize_axis(name, axis, ndim),)
