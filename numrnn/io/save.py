"""``numrnn.save``: weights (and a module's config) as a safetensors file, written atomically.

Tensor names are the module's ``state_dict()`` names, which are PyTorch's
(``weight_ih_l0``, ``encoder.weight_hh_l1_reverse``), so the file is an
ordinary safetensors file that ``safetensors.torch.load_file`` reads into a
``torch.nn`` state dict. The string metadata carries:

- ``numrnn.format``: the layout version of what numrnn writes (``"1"``);
- ``numrnn.version``: the numrnn that wrote the file;
- ``numrnn.config``: the module's class and constructor arguments as JSON, when
  it defines ``get_config()`` (see :mod:`numrnn.io.config`);
- ``numrnn.state``: a saved state (``optimizer.state_dict()``, a scheduler's,
  or any dict of them) as tagged JSON, its arrays in tensors named
  ``numrnn.state.<n>`` (see :mod:`numrnn.io.state_tree`);
- ``numrnn.training``: the training state of a ``fit`` checkpoint, alongside
  the model's weights, its arrays in tensors named ``numrnn.training.<n>``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import safetensors.numpy

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentTypeError, FormatError
from numrnn.io.config import dumps_spec, module_spec
from numrnn.io.state_tree import encode_tree
from numrnn.nn.module import Module

if TYPE_CHECKING:
    from numrnn.typing import PathLike, TensorLike

FORMAT_VERSION = "1"
"""The weight-file layout ``save`` writes, stored in the file's metadata under ``numrnn.format``."""
FORMAT_KEY = "numrnn.format"
VERSION_KEY = "numrnn.version"
CONFIG_KEY = "numrnn.config"
STATE_KEY = "numrnn.state"
TRAINING_KEY = "numrnn.training"
RESERVED_PREFIX = "numrnn."
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def save(module_or_state_dict: Module | Mapping[str, TensorLike], path: PathLike,
         metadata: Mapping[str, str] | None = None) -> None:
    """Write a Module's parameters, a dict of arrays, or a saved state to ``path`` as safetensors.

    Parameters
    ----------
    module_or_state_dict : Module, dict of str to ndarray / Tensor, or dict
        A Module is saved with its config when it has ``get_config()``, so
        :func:`numrnn.load_model` can rebuild it; otherwise weights only. A
        dict whose values are all arrays is a weight file, as a Module's. Any
        other dict is a saved state, such as ``optimizer.state_dict()``, a
        scheduler's, or ``{"optimizer": ..., "scheduler": ..., "epoch": 3}``:
        dicts (str or int keys), lists, tuples, numbers, strings, None and
        float32/float64 arrays, nested; :func:`numrnn.load` gives it back.
    path : str or os.PathLike
        Written through a temporary file in the same directory and renamed
        into place, so ``path`` holds either the old file or the complete new
        one, never a partial write.
    metadata : dict of str to str, optional
        Extra string metadata stored in the header (keys starting with
        ``numrnn.`` are reserved).

    Raises
    ------
    FormatError
        For anything :func:`numrnn.load` would refuse to read back: weight
        dtypes other than float32/float64, NaN or inf in an array, objects
        other than the ones above in a state, non-string metadata.
    """
    if isinstance(module_or_state_dict, Module):
        write_file(path, module_or_state_dict.state_dict(), metadata,
                   spec=module_spec(module_or_state_dict))
    elif isinstance(module_or_state_dict, Mapping):
        tensors = dict(module_or_state_dict)
        if all(isinstance(value, (np.ndarray, Tensor)) for value in tensors.values()):
            write_file(path, tensors, metadata)
        else:
            write_file(path, {}, metadata, state=(STATE_KEY, tensors))
    else:
        raise ArgumentTypeError(f"save: expected a Module or a dict of arrays, "
                                f"got {type(module_or_state_dict).__name__}")


def model_to_bytes(module: Module, metadata: Mapping[str, str] | None = None) -> bytes:
    """A Module with ``get_config()`` as the bytes of the file :func:`save` would write.

    :func:`numrnn.io.model_from_bytes` rebuilds it, as :func:`numrnn.load_model`
    does from a file: a model travels to another process (a Dask worker) as
    data, with no pickled code.

    Raises
    ------
    FormatError
        When ``module`` has no ``get_config()`` (it could not be rebuilt), or
        for anything :func:`save` refuses.
    """
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"model_to_bytes: expected a Module, got {type(module).__name__}")
    if not callable(getattr(module, "get_config", None)):
        raise FormatError(f"model_to_bytes: {type(module).__name__} defines no get_config(), so "
                          "it could not be rebuilt from bytes; add get_config() and "
                          "register it with numrnn.io.register_model (see docs/io.md)")
    return encode_file(module.state_dict(), metadata, spec=module_spec(module))


def write_file(path, tensors, metadata=None, *, spec=None, state=None):
    """Write weights ``tensors``, plus a module ``spec`` and a ``(key, tree)`` state, atomically.

    The tree is stored under the metadata ``key`` with its arrays in tensors
    named ``key + ".<n>"``, so a weight name must not start with that.
    """
    _write_atomically(os.fspath(path), encode_file(tensors, metadata, spec=spec, state=state))


def encode_file(tensors, metadata=None, *, spec=None, state=None):
    """The bytes of the safetensors file :func:`write_file` writes, checked the same way."""
    header = {FORMAT_KEY: FORMAT_VERSION, VERSION_KEY: _numrnn_version()}
    header.update(_check_metadata(metadata))
    if spec is not None:
        header[CONFIG_KEY] = dumps_spec(spec)
    arrays = _checked_arrays(tensors)
    if state is not None:
        key, tree = state
        clashing = [name for name in arrays if name.startswith(f"{key}.")]
        if clashing:
            raise FormatError(f"save: tensor name(s) {clashing[:4]} start with '{key}.', "
                              "which numrnn keeps for the arrays of a saved state")
        header[key], state_arrays = encode_tree(tree, f"{key}.")
        arrays.update(state_arrays)
    return safetensors.numpy.save(arrays, metadata=header)


def _numrnn_version():
    # Imported here: numrnn/__init__.py imports this module while it is loading.
    import numrnn

    return numrnn.__version__


def _check_metadata(metadata):
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise FormatError(f"save: metadata must be a dict of str to str, "
                          f"got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise FormatError(f"save: metadata must map str to str (safetensors stores "
                              f"strings only), got {key!r}: {value!r}")
        if key.startswith(RESERVED_PREFIX):
            raise FormatError(f"save: metadata key {key!r} is reserved: numrnn writes the "
                              f"'{RESERVED_PREFIX}*' keys itself")
    return dict(metadata)


def _checked_arrays(tensors):
    """Contiguous little-endian float arrays, each checked; safetensors needs them dense."""
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise FormatError(f"save: tensor names must be non-empty strings, got {name!r}")
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array.dtype not in WEIGHT_DTYPES:
            raise FormatError(f"save: tensor '{name}' has dtype {array.dtype}; numrnn weight "
                              "files hold float32 or float64 tensors")
        if not np.isfinite(array).all():
            raise FormatError(f"save: tensor '{name}' holds NaN or infinite values; "
                              "numrnn.load would refuse the file")
        arrays[name] = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return arrays


def _write_atomically(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    # Mode 0o666 lets the umask decide, as for a plain open(); mkstemp would force 0o600.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            # On disk before the rename: after a crash the new name never points
            # at a file whose blocks were not written yet.
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    # Makes the rename itself durable on POSIX; Windows cannot open a directory,
    # and the file is complete either way, so failure here is not an error.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
