"""``numrnn.save``: weights (and a module's config) as a safetensors file, written atomically.

Tensor names are the module's ``state_dict()`` names, which are PyTorch's
(``weight_ih_l0``, ``encoder.weight_hh_l1_reverse``), so the file is an
ordinary safetensors file that ``safetensors.torch.load_file`` reads into a
``torch.nn`` state dict. The string metadata carries:

- ``numrnn.format``: the layout version of what numrnn writes (``"1"``);
- ``numrnn.version``: the numrnn that wrote the file;
- ``numrnn.config``: the module's class and constructor arguments as JSON, when
  it defines ``get_config()`` (see :mod:`numrnn.io.config`).
"""

import contextlib
import os
import uuid
from collections.abc import Mapping

import numpy as np
import safetensors.numpy

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentTypeError, FormatError
from numrnn.io.config import dumps_spec, module_spec
from numrnn.nn.module import Module

FORMAT_VERSION = "1"
FORMAT_KEY = "numrnn.format"
VERSION_KEY = "numrnn.version"
CONFIG_KEY = "numrnn.config"
RESERVED_PREFIX = "numrnn."
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def save(module_or_state_dict, path, metadata=None):
    """Write a Module's parameters, or a dict of arrays, to ``path`` as safetensors.

    Parameters
    ----------
    module_or_state_dict : Module or dict of str to ndarray / Tensor
        A Module is saved with its config when it has ``get_config()``, so
        :func:`numrnn.load_model` can rebuild it; otherwise weights only.
    path : str or os.PathLike
        Written through a temporary file in the same directory and renamed
        into place, so ``path`` holds either the old file or the complete new
        one, never a partial write.
    metadata : dict of str to str, optional
        Extra string metadata stored in the header (keys starting with
        ``numrnn.`` are reserved).

    Refuses, with :class:`FormatError`, anything :func:`numrnn.load` would
    refuse to read back: dtypes other than float32/float64, NaN or inf values,
    non-string metadata.
    """
    if isinstance(module_or_state_dict, Module):
        tensors = module_or_state_dict.state_dict()
        spec = module_spec(module_or_state_dict)
    elif isinstance(module_or_state_dict, Mapping):
        tensors = dict(module_or_state_dict)
        spec = None
    else:
        raise ArgumentTypeError(f"save: expected a Module or a dict of arrays, "
                                f"got {type(module_or_state_dict).__name__}")
    header = {FORMAT_KEY: FORMAT_VERSION, VERSION_KEY: _numrnn_version()}
    header.update(_check_metadata(metadata))
    if spec is not None:
        header[CONFIG_KEY] = dumps_spec(spec)
    data = safetensors.numpy.save(_checked_arrays(tensors), metadata=header)
    _write_atomically(os.fspath(path), data)


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
