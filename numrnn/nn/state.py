"""A module's state: which tensors ``state_dict`` holds, loading them back, dtype conversion.

The state of a module is its parameters and persistent buffers, named with dots
as in PyTorch (``encoder.weight``, ``layers.0.bias``, ``norm.running_mean``),
each module's parameters before its buffers and both before its children's.
:class:`~numrnn.nn.Module` delegates here so that ``numrnn.io`` checks a file
against exactly the tensors ``load_state_dict`` would fill.
"""

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, DTypeError, ShapeError

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def state_tensors(module):
    """Dotted name to the Tensor (Parameter or buffer) behind each ``state_dict`` entry.

    A Parameter shared by several sub-modules appears once, under its first name.
    """
    tensors, seen = {}, set()
    for owner_name, owner in module.named_modules():
        prefix = f"{owner_name}." if owner_name else ""
        for name, param in owner._parameters.items():
            if id(param) not in seen:
                seen.add(id(param))
                tensors[prefix + name] = param
        for name, buffer in owner._buffers.items():
            if buffer is not None and name not in owner._non_persistent_buffers:
                tensors[prefix + name] = buffer
    return tensors


def load_checked_state(module, state_dict, strict):
    """Check ``state_dict`` against ``module``'s state, then copy it in; (missing, unexpected).

    See :meth:`numrnn.nn.Module.load_state_dict` for the rules.
    """
    own = state_tensors(module)
    missing = [name for name in own if name not in state_dict]
    unexpected = [name for name in state_dict if name not in own]
    problems, dtype_only = [], True
    if strict:
        problems += [f"missing key '{name}' (expected shape {own[name].shape}, "
                     f"{own[name].dtype})" for name in missing]
        problems += [f"unexpected key '{name}'" for name in unexpected]
        dtype_only = not problems
    arrays = {}
    for name, target in own.items():
        if name not in state_dict:
            continue
        value = state_dict[name]
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array.shape != target.shape:
            problems.append(f"'{name}': expected shape {target.shape}, got {array.shape}")
            dtype_only = False
        elif array.dtype.kind != target.dtype.kind \
                or array.dtype.itemsize != target.dtype.itemsize:
            problems.append(f"'{name}': expected dtype {target.dtype}, got {array.dtype}")
        else:
            arrays[name] = array
    if problems:
        error = DTypeError if dtype_only else ShapeError
        raise error(
            f"{type(module).__name__}.load_state_dict: {len(problems)} problem(s), "
            "nothing was loaded:\n  " + "\n  ".join(problems)
        )
    for name, array in arrays.items():
        # A fresh contiguous copy: the caller's array is never aliased.
        own[name].data = np.array(array, dtype=own[name].dtype)
    return missing, unexpected


def module_dtype(where, dtype):
    """``dtype`` (a float dtype or its name) as np.float32 or np.float64, else refused."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise ArgumentError(f"{where}: expected a dtype, float32 or float64, "
                            f"got {dtype!r}") from None
    if resolved not in FLOAT_DTYPES:
        raise DTypeError(f"{where}: modules hold float32 or float64, got {resolved}")
    return resolved


def convert_dtype(module, dtype):
    """Every parameter (and its gradient) and floating buffer of ``module`` as ``dtype``.

    Also sets the ``dtype`` attribute of each sub-module that has one, which
    the layers check their input and weights against.
    """
    for owner in module.modules():
        for param in owner._parameters.values():
            param.data = param.data.astype(dtype, copy=False)
            if param.grad is not None:
                param.grad = param.grad.astype(dtype, copy=False)
        for buffer in owner._buffers.values():
            if buffer is not None and buffer.dtype.kind == "f":
                buffer.data = buffer.data.astype(dtype, copy=False)
        if isinstance(owner.__dict__.get("dtype"), np.dtype):
            owner.dtype = dtype
