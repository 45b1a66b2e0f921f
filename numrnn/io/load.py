"""``numrnn.load`` and ``numrnn.load_model``: read a safetensors file, check it all, then load.

Every check runs before a module is touched: the header (length, JSON, each
tensor's dtype, shape and byte range), the data (no NaN or inf), then the
names, shapes and dtypes against the module. Any failure is a
:class:`FormatError` naming the file and the tensor or problem, and the module
keeps its parameters; the final copy is ``Module.load_state_dict``, which
itself checks everything before it assigns anything.
"""

import math
import os
import struct

import numpy as np
import safetensors.numpy

from numrnn.errors import ArgumentTypeError, DTypeError, FormatError, ShapeError
from numrnn.io.config import build_module
from numrnn.io.save import CONFIG_KEY, FORMAT_KEY, FORMAT_VERSION
from numrnn.io.untrusted_json import brief, parse_untrusted
from numrnn.nn.module import Module
from numrnn.nn.parameter import limit_parameters
from numrnn.nn.state import state_tensors

# safetensors dtype code -> (numpy name, bytes per element); the only dtypes of
# numrnn parameters, so anything else could never be loaded into a module.
FILE_DTYPES = {"F32": ("float32", 4), "F64": ("float64", 8)}
HEADER_LENGTH_BYTES = 8
# What safetensors itself reads; refused here before the header is decoded.
MAX_HEADER_BYTES = 100_000_000
# numpy's limits on an array: dimensions, and bytes (an int64 count).
MAX_DIMS = 64
INT64_MAX = 2**63 - 1
# load_model builds a module under a limit of twice the file's tensors plus these.
LIMIT_SLACK_PARAMETERS = 16
LIMIT_SLACK_BYTES = 1 << 20


def load(path, module=None, *, strict=True):
    """Read a safetensors weight file.

    Without ``module``: returns the state dict, a dict from tensor name to
    ndarray, ready for ``module.load_state_dict``. With ``module``: loads the
    tensors into it and returns the module. ``strict=False`` allows tensors
    missing from the file or unknown to the module (shapes and dtypes are
    still checked).

    Works on files written by ``numrnn.save`` and on PyTorch state dicts saved
    with ``safetensors.torch.save_file``, whose names are the same.
    """
    tensors, _ = read_file(path)
    if module is None:
        return tensors
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"load: module must be a numrnn Module, "
                                f"got {type(module).__name__}")
    _load_into(module, tensors, strict, os.fspath(path))
    return module


def load_model(path):
    """Rebuild the module saved at ``path`` by ``numrnn.save`` and load its weights.

    The class and constructor arguments come from the file's ``numrnn.config``
    metadata; the class must be registered (numrnn's own layers are, others
    through :func:`numrnn.io.register_model`). The module comes back in
    training mode, as a freshly built one does: call ``.eval()`` before serving.
    """
    where = os.fspath(path)
    tensors, metadata = read_file(path)
    text = metadata.get(CONFIG_KEY)
    if text is None:
        raise FormatError(
            f"{where}: the file holds weights only, without '{CONFIG_KEY}' metadata (saved "
            "from a state dict, from a module without get_config(), or by another library "
            "such as PyTorch), so load_model cannot rebuild the module: build it yourself "
            "and call numrnn.load(path, module)")
    spec = parse_untrusted(text, where, f"metadata '{CONFIG_KEY}'")
    count = len(tensors)
    nbytes = sum(array.nbytes for array in tensors.values())
    # Twice the file plus a little: a config that is close to the file (a wrong
    # hidden size, a float64 dtype) still gets built and compared tensor by tensor,
    # with the names in the message, while one asking for far more is refused
    # before its parameters are allocated.
    reason = f"set from the file's {count} tensors of {nbytes} bytes"
    with limit_parameters(2 * count + LIMIT_SLACK_PARAMETERS, 2 * nbytes + LIMIT_SLACK_BYTES,
                          reason):
        module = build_module(spec, f"{where}: {CONFIG_KEY}")
    _load_into(module, tensors, True, where)
    return module


def read_file(path):
    """``(tensors, metadata)`` of a safetensors file, after checking all of it."""
    where = os.fspath(path)
    # One read: the header checks and the decoding see the same bytes, even if
    # another process rewrites the file meanwhile.
    with open(path, "rb") as file:
        data = file.read()
    metadata = _check_header(data, where)
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError and others
        raise FormatError(f"{where}: safetensors could not read the file: {exc}") from exc
    for name, array in tensors.items():
        finite = np.isfinite(array)
        if not finite.all():
            nans = int(np.isnan(array).sum())
            infs = int(array.size - finite.sum()) - nans
            raise FormatError(f"{where}: tensor {brief(name)} holds {nans} NaN and {infs} infinite "
                              "value(s); refusing to load non-finite weights")
    version = metadata.get(FORMAT_KEY, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise FormatError(f"{where}: written in numrnn file format {brief(version)}, this numrnn "
                          f"reads format {FORMAT_VERSION!r}: upgrade numrnn")
    return tensors, metadata


def _check_header(data, where):
    """Check the safetensors layout ourselves: its own errors rarely say which tensor.

    Layout: an 8-byte little-endian header length N, N bytes of JSON (tensor
    name -> dtype, shape, data_offsets; optional ``__metadata__`` of strings),
    then the tensors' bytes. Returns the metadata dict. Every value is checked
    for its type before it is used, so a header that lies about anything is a
    :class:`FormatError`, never a ``TypeError`` or a slow computation.
    """
    if not data:
        raise FormatError(f"{where}: the file is empty (0 bytes), not a safetensors file")
    if len(data) < HEADER_LENGTH_BYTES:
        raise FormatError(f"{where}: the file is {len(data)} bytes long, too short for a "
                          "safetensors header: truncated or not a safetensors file")
    (header_length,) = struct.unpack("<Q", data[:HEADER_LENGTH_BYTES])
    available = len(data) - HEADER_LENGTH_BYTES
    if header_length > available:
        raise FormatError(f"{where}: the header length field says {header_length} bytes but "
                          f"only {available} follow: truncated or not a safetensors file")
    if header_length > MAX_HEADER_BYTES:
        raise FormatError(f"{where}: the header is {header_length} bytes, more than the "
                          f"{MAX_HEADER_BYTES} safetensors reads: corrupted or not a "
                          "safetensors file")
    try:
        text = data[HEADER_LENGTH_BYTES:HEADER_LENGTH_BYTES + header_length].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{where}: the header is not valid JSON ({exc}): corrupted or not "
                          "a safetensors file") from exc
    header = parse_untrusted(text, where, "the header")
    if not isinstance(header, dict):
        raise FormatError(f"{where}: the header must be a JSON object, got "
                          f"{type(header).__name__}: corrupted or not a safetensors file")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(
            isinstance(value, str) for value in metadata.values()):
        raise FormatError(f"{where}: header '__metadata__' must map strings to strings, "
                          f"got {brief(metadata)}")

    data_bytes = available - header_length
    used = 0
    for name, entry in header.items():
        used = max(used, _check_entry(name, entry, data_bytes, where))
    if used != data_bytes:
        raise FormatError(f"{where}: {data_bytes - used} bytes after the last tensor belong to "
                          "no tensor: corrupted file")
    return metadata


def _check_entry(name, entry, data_bytes, where):
    """Check one tensor's header entry; returns the end of its byte range."""
    prefix = f"{where}: tensor {brief(name)}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise FormatError(f"{prefix}: header entry must hold dtype, shape and data_offsets, "
                          f"got {brief(entry)}")
    code = entry["dtype"]
    if not isinstance(code, str) or code not in FILE_DTYPES:
        # safetensors' own codes (I32, BF16, F8_E4M3) as they are; anything else quoted.
        shown = code if isinstance(code, str) and code.isidentifier() and len(code) <= 20 \
            else brief(code)
        raise FormatError(f"{prefix} has dtype {shown}; numrnn weights are F32 (float32) "
                          "or F64 (float64): convert the tensor before saving")
    shape, offsets = entry["shape"], entry["data_offsets"]
    if not _is_int_list(shape) or len(shape) > MAX_DIMS \
            or any(not 0 <= size <= INT64_MAX for size in shape):
        raise FormatError(f"{prefix}: shape must be a list of at most {MAX_DIMS} ints in "
                          f"0..2**63-1, got {brief(shape)}")
    if not _is_int_list(offsets) or len(offsets) != 2 or not 0 <= offsets[0] <= offsets[1]:
        raise FormatError(f"{prefix}: data_offsets must be [begin, end] with "
                          f"0 <= begin <= end, got {brief(offsets)}")
    itemsize = FILE_DTYPES[code][1]
    # numpy (and safetensors) size an array by the product of its nonzero dims, so a
    # zero in the shape does not excuse the others.
    if math.prod(size for size in shape if size) * itemsize > INT64_MAX:
        raise FormatError(f"{prefix}: shape {brief(shape)} {code} is too large for an array "
                          "(its nonzero sizes make more than 2**63-1 bytes): corrupted header")
    needed = math.prod(shape) * itemsize
    span = offsets[1] - offsets[0]
    if span != needed:
        raise FormatError(f"{prefix}: shape {tuple(shape)} {code} needs {needed} bytes but "
                          f"data_offsets {brief(offsets)} span {brief(span)}: corrupted header")
    if offsets[1] > data_bytes:
        raise FormatError(f"{prefix} ends at byte {brief(offsets[1])} of the data, but the file "
                          f"holds only {data_bytes} bytes of data: the file is truncated")
    return offsets[1]


def _is_int_list(value):
    return isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value)


def _load_into(module, tensors, strict, where):
    """Check ``tensors`` against every parameter and buffer of ``module``, then copy them in."""
    own = state_tensors(module)
    problems = []
    if strict:
        problems += [f"missing tensor '{name}' (the module expects shape {param.shape} "
                     f"{param.dtype})" for name, param in own.items() if name not in tensors]
        problems += [f"unexpected tensor '{name}' (the module has no such parameter)"
                     for name in tensors if name not in own]
    for name, param in own.items():
        array = tensors.get(name)
        if array is None:
            continue
        if array.shape != param.shape:
            problems.append(f"tensor '{name}': the module expects shape {param.shape}, "
                            f"the file has {array.shape}")
        elif array.dtype != param.dtype:
            problems.append(f"tensor '{name}': the module holds {param.dtype}, the file "
                            f"{array.dtype}: build the module with dtype={array.dtype.name}")
    if problems:
        raise FormatError(f"{where} does not match {type(module).__name__}, nothing was "
                          f"loaded ({len(problems)} problem(s)):\n  " + "\n  ".join(problems))
    try:
        module.load_state_dict(tensors, strict=strict)
    except (ShapeError, DTypeError) as exc:
        raise FormatError(f"{where}: {exc}") from exc
