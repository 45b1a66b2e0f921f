"""A module's state: which tensors ``state_dict`` holds, loading them back, what a buffer
may be, and dtype conversion (``Module.to``).

The state of a module is its parameters and persistent buffers, named with dots
as in PyTorch (``encoder.weight``, ``layers.0.bias``, ``norm.running_mean``),
each module's parameters before its buffers and both before its children's.
:class:`~numrnn.nn.Module` delegates here so that ``numrnn.io`` checks a file
against exactly the tensors ``load_state_dict`` would fill.
"""

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.nn.parameter import Parameter

# The dtypes modules hold, and numrnn.io.save.WEIGHT_DTYPES: what weight files hold.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# PyTorch's device types, as a ported ``.to(...)`` line names them.
_DEVICE_TYPES = frozenset({"cpu", "cuda", "mps", "xpu", "hip", "meta", "xla", "hpu", "ipu",
                           "mtia", "vulkan"})


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


def checked_buffer(owner, name, value, persistent):
    """``value`` as a buffer Tensor (None stays None), or refused before it is stored.

    A persistent buffer must be float32 or float64, what weight files hold.
    """
    if value is None:
        return None
    if isinstance(value, Parameter):
        raise ArgumentTypeError(f"{owner}: buffer '{name}' must be a Tensor or ndarray, not a "
                                "Parameter; assign a Parameter as an attribute to train it")
    if isinstance(value, np.ndarray):
        value = Tensor(value)
    if not isinstance(value, Tensor):
        raise ArgumentTypeError(f"{owner}: buffer '{name}' must be a Tensor, an ndarray or "
                                f"None, got {type(value).__name__}")
    # Refused here rather than at numrnn.save, which would otherwise be the first to notice.
    if persistent and value.data.dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{owner}: persistent buffer '{name}' has dtype {value.data.dtype}; "
                         "weight files (numrnn.save) hold float32 or float64 only, and a "
                         "persistent buffer goes into the state dict they are written from. "
                         "Convert it to a float dtype, or register it with persistent=False "
                         "to keep it out of the state dict")
    return value


def dtype_of_to(where, args, device, dtype):
    """The dtype ``Module.to(*args, device=, dtype=)`` converts to, or None for ``to("cpu")``.

    Takes PyTorch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``
    and the keywords. A string positional argument naming a PyTorch device type
    (``"cuda:0"``) is the device, anything else the dtype. The device must be
    ``"cpu"``: numrnn runs nowhere else.
    """
    if len(args) > 2:
        raise ArgumentTypeError(f"{where}: expected at most a device and a dtype, "
                                f"got {len(args)} positional arguments")
    for arg in args:
        if isinstance(arg, str) and arg.split(":")[0] in _DEVICE_TYPES:
            if device is not None:
                raise ArgumentError(f"{where}: the device is given twice ({device!r}, {arg!r})")
            device = arg
        else:
            if dtype is not None:
                raise ArgumentError(f"{where}: the dtype is given twice ({dtype!r}, {arg!r})")
            dtype = arg
    if device is None and dtype is None:
        raise ArgumentError(f"{where}: expected a device, a dtype or both, got neither")
    if device is not None and device != "cpu":
        raise ArgumentError(f"{where}: numrnn runs on CPUs only; got device {device!r} "
                            "(leave the call out, or use 'cpu')")
    return None if dtype is None else module_dtype(where, dtype)


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
