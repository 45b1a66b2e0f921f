"""Validation shared by the recurrent ops and layers; runs before any kernel.

Numba does no bounds checking, so every shape, dtype and length a kernel relies
on is checked here first, and the error names the op, the argument, what was
expected and what was got.
"""

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def data_of(x):
    return x.data if isinstance(x, Tensor) else x


def check_float_dtype(op, name, x, dtype=None):
    """``x`` must be float32/float64, and ``dtype`` when given. Returns its dtype."""
    array = data_of(x)
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"{op}: {name} must be an array or Tensor, got {type(x).__name__}")
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


def check_recurrent_weights(op, weight_ih, weight_hh, bias_ih, bias_hh, gates, dtype):
    """Weights of a cell with ``gates`` gate blocks (4 for LSTM, 3 for GRU, 1 for Elman).

    ``weight_ih`` must be (gates*H, I), ``weight_hh`` (gates*H, H), each bias
    (gates*H,) or None, all of ``dtype``. H comes from ``weight_hh``'s columns.
    Returns ``(hidden_size, input_size)``.
    """
    for name, weight in (("weight_ih", weight_ih), ("weight_hh", weight_hh)):
        check_float_dtype(op, name, weight, dtype)
        check_ndim(op, name, weight, 2, f"({gates}*hidden_size, features)")
    rows, hidden = data_of(weight_hh).shape
    if hidden < 1 or rows != gates * hidden:
        raise ShapeError(f"{op}: weight_hh must have shape ({gates}*hidden_size, hidden_size) "
                         f"with hidden_size >= 1, got {(rows, hidden)}")
    ih_rows, input_size = data_of(weight_ih).shape
    if ih_rows != gates * hidden:
        raise ShapeError(f"{op}: weight_ih must have {gates * hidden} rows ({gates} x "
                         f"hidden_size {hidden} from weight_hh), got {ih_rows}")
    for name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if bias is not None:
            check_float_dtype(op, name, bias, dtype)
            check_shape(op, name, bias, (gates * hidden,))
    return hidden, input_size


def check_recurrent_input(op, x, layout, weight_ih, weight_hh, bias_ih, bias_hh, gates):
    """The input of a recurrent op and its weights; returns ``(dtype, hidden_size)``.

    ``layout`` names the input's dimensions, ``"TBI"`` for a sequence or ``"BI"``
    for one cell step; every dimension must be at least 1, and the feature size
    must match ``weight_ih``'s columns. A layer's ``input_size`` is positive, and
    so is an op's: no feature means an empty slice upstream, not a model.
    """
    dtype = check_float_dtype(op, "input", x)
    check_ndim(op, "input", x, len(layout), "(" + ", ".join(layout) + ")")
    hidden, input_size = check_recurrent_weights(op, weight_ih, weight_hh, bias_ih, bias_hh,
                                                 gates, dtype)
    shape = data_of(x).shape
    if 0 in shape[:-1]:
        raise ShapeError(f"{op}: input must have at least one step and one batch row, "
                         f"got shape {shape}")
    if shape[-1] == 0:
        raise ShapeError(f"{op}: input must have at least one feature, got shape {shape}")
    if shape[-1] != input_size:
        raise ShapeError(f"{op}: input feature size must be {input_size} (from weight_ih), "
                         f"got {shape[-1]}")
    return dtype, hidden


def check_state(op, name, state, shape, dtype):
    """A recurrent state of ``shape`` and ``dtype``; None means zeros (returned fresh)."""
    if state is None:
        return np.zeros(shape, dtype=dtype)
    check_float_dtype(op, name, state, dtype)
    check_shape(op, name, state, shape)
    return state


def check_flag(op, name, value):
    """``value`` as a bool; anything but True or False is refused, naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentError(f"{op}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(op, name, value, choices):
    """``value`` must be one of ``choices`` (strings such as a nonlinearity's name)."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(f"{op}: {name} must be one of {', '.join(map(repr, choices))}, "
                            f"got {value!r}")
    return value


def contiguous(array):
    """``array`` as C-contiguous memory: the kernels index raw memory, not strides."""
    return np.ascontiguousarray(array)


def optional_contiguous(array):
    """:func:`contiguous` for an optional argument (a missing bias stays None)."""
    return None if array is None else np.ascontiguousarray(array)
