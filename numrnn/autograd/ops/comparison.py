"""Elementwise comparisons (``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``): bool Tensors.

A comparison has no gradient, so its result records nothing and never
requires one. Operands broadcast as in NumPy; float32 against float64 is
allowed here, since comparing loses no precision that a gradient could need.
"""

import numbers

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ShapeError

_COMPARISONS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def compare(symbol, x, other):
    """``x <symbol> other`` elementwise as a bool Tensor; NotImplemented for other kinds.

    ``other`` may be a Tensor, an ndarray, a number or a nested list of numbers.
    Returning NotImplemented lets Python fall back as it does for any type
    (``tensor == None`` is False, ``tensor < "a"`` a TypeError).
    """
    if isinstance(other, Tensor):
        other = other.data
    elif not isinstance(other, (np.ndarray, np.generic, numbers.Number, list, tuple)):
        return NotImplemented
    else:
        other = np.asarray(other)
    try:
        np.broadcast_shapes(x.data.shape, other.shape)
    except ValueError:
        raise ShapeError(f"comparison {symbol}: shapes {x.data.shape} and {other.shape} are "
                         "not broadcast-compatible") from None
    return Tensor(np.asarray(_COMPARISONS[symbol](x.data, other)))
