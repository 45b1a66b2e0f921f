"""A module's parameters checked against the shapes and dtype it declared, before use.

A parameter's array can be replaced (``layer.weight_ih_l0.data = ...``) or
substituted (:func:`numrnn.nn.functional_call`) between calls, and the Numba
kernels do no bounds checking: a packed or raw array of the wrong shape would be
read past its end or with the wrong strides, silently. So every path that
computes with a module's parameters (the layers taped or not, the cells, the
:class:`~numrnn.nn.Streamer`, :func:`numrnn.diagnostics.hidden_gradient_norms`)
checks them here first, each time, and a wrong one is refused with its name,
what the module declared and what was found::

    LSTM: weight_hh_l0 must be a float32 array of shape (16, 4), got float32 array
    of shape (16, 5)

A spec is ``((parameter name, shape), ...)``; the dtype is the module's ``dtype``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentTypeError, DTypeError, ShapeError
from numrnn.functional.cell_kinds import parameter_name

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.nn.module import Module

# Read once: a global and an attribute lookup per weight are felt in small calls.
_ndarray = np.ndarray


def check_parameters(module: Module, specs: Any,
                     arrays: bool = True) -> list[npt.NDArray[Any] | None]:
    """The arrays of ``module``'s parameters named in ``specs``, each checked, as stored.

    A parameter the module does not have (a layer without biases) gives None.
    Raises :class:`~numrnn.errors.ShapeError` for an array of the module's dtype
    but the wrong shape, :class:`~numrnn.errors.DTypeError` for an array of
    another dtype, :class:`~numrnn.errors.ArgumentTypeError` for data that is not
    an ndarray at all. With ``arrays=False`` the parameters themselves come
    back (:func:`checked_parameters`).
    """
    # One loop for both, called directly: at small sizes these checks are a
    # noticeable part of a layer's call (LSTM(8, 16), B = 1: ~0.9 µs of ~15), and
    # a second pass to take the arrays, or one more call level, cost ~0.1-0.3 µs.
    registry = module._parameters
    dtype = module.dtype
    checked: list[Any] = []
    for name, shape in specs:
        weight = registry.get(name)
        if weight is None:
            checked.append(None)
            continue
        array = weight.data
        if not isinstance(array, _ndarray) or array.shape != shape or array.dtype != dtype:
            _refuse(module, name, shape, array)
        checked.append(array if arrays else weight)
    return checked


def checked_parameters(module, specs):
    """:func:`check_parameters`, returning the parameters themselves (or None), not their
    arrays: what a tape op takes, so that their gradients reach them."""
    return check_parameters(module, specs, arrays=False)


def recurrent_specs(module, width, layer=None, reverse=False):
    """The spec of one recurrent cell's weights in kernel order, as its cell kind lays
    them out (:meth:`~numrnn.functional.cell_kinds.CellKind.parameters`), named as in
    a cell, or as in ``layer`` of a layer
    (:func:`~numrnn.functional.cell_kinds.parameter_name`)."""
    kind = module.kind
    return tuple((parameter_name(name, layer, reverse), shape) for name, shape
                 in kind.parameters(width, module.hidden_size, kind.options_of(module)))


def layer_specs(module: Module, layer: int, direction: int) -> Any:
    """The spec of one layer and direction of an ``RNNBase``, made once and kept on it."""
    key = (layer, direction)
    specs = module._weight_specs.get(key)
    if specs is None:
        specs = recurrent_specs(module, module._layer_width(layer), layer, reverse=direction == 1)
        module._weight_specs[key] = specs
    return specs


def cell_specs(cell: Module) -> Any:
    """The spec of an ``RNNCell``, ``LSTMCell`` or ``GRUCell``, made once and kept on it."""
    if cell._weight_specs is None:
        cell._weight_specs = recurrent_specs(cell, cell.input_size)
    return cell._weight_specs


def _refuse(module, name, shape, array):
    if isinstance(array, np.ndarray):
        got = f"{array.dtype} array of shape {array.shape}"
        error = ShapeError if array.dtype == module.dtype else DTypeError
    else:
        got, error = type(array).__name__, ArgumentTypeError
    raise error(f"{type(module).__name__}: {name} must be a {module.dtype} array of shape "
                f"{shape}, got {got}")
