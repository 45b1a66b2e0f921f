"""Validation shared by the recurrent ops and layers; runs before any kernel.

Numba does no bounds checking, so every shape, dtype and length a kernel relies
on is checked here first, and the error names the op, the argument, what was
expected and what was got.
"""

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError, ShapeError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def data_of(x):
    return x.data if isinstance(x, Tensor) else x


def check_float_dtype(op, name, x, dtype=None):
    """``x`` must be float32/float64, and ``dtype`` when given. Returns its dtype."""
    array = data_of(x)
    if not isinstance(array, np.ndarray):
        raise DTypeError(f"{op}: {name} must be an array or Tensor, got {type(x).__name__}")
    if array.dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{op}: {name} must be float32 or float64, got {array.dtype}")
    if dtype is not None and array.dtype != dtype:
        raise DTypeError(f"{op}: {name} must have dtype {np.dtype(dtype)} like the input, "
                         f"got {array.dtype}")
    return array.dtype


def check_shape(op, name, x, expected):
    """``x`` must have exactly ``expected`` shape (a tuple of ints)."""
    shape = data_of(x).shape
    if shape != tuple(expected):
        raise ShapeError(f"{op}: {name} must have shape {tuple(expected)}, got {shape}")


def check_ndim(op, name, x, ndim, layout):
    """``x`` must have ``ndim`` dimensions; ``layout`` names them, e.g. '(T, B, I)'."""
    got = data_of(x).ndim
    if got != ndim:
        raise ShapeError(f"{op}: {name} must be {ndim}-D {layout}, got {got}-D with shape "
                         f"{data_of(x).shape}")


def check_lengths(op, lengths, steps, batch):
    """Return ``lengths`` as a contiguous int64 array, each in 1..steps, one per row.

    ``None`` means every row runs the full ``steps``.
    """
    if lengths is None:
        return np.full(batch, steps, dtype=np.int64)
    lengths = data_of(lengths)
    array = np.asarray(lengths)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ShapeError(f"{op}: lengths must be finite integers, got {array.tolist()}")
        if not np.all(array == np.round(array)):
            raise ShapeError(f"{op}: lengths must be whole numbers, got {array.tolist()}")
    elif array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: lengths must be integers, got dtype {array.dtype}")
    if array.shape != (batch,):
        raise ShapeError(f"{op}: lengths must have shape ({batch},), one per batch row, "
                         f"got {array.shape}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 1 or array.max() > steps):
        raise ShapeError(f"{op}: every length must be in 1..{steps} (the number of steps), "
                         f"got {array.tolist()}")
    return np.ascontiguousarray(array)
