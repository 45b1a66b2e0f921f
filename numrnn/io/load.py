"""``numrnn.load`` and ``numrnn.load_model``: read a safetensors file, check it all, then load.

Every check runs before a module is touched: the header (length, JSON, each
tensor's dtype, shape and byte range), the data (no NaN or inf), then the
names, shapes and dtypes against the module. Any failure is a
:class:`FormatError` naming the file and the tensor or problem, and the module
keeps its parameters; the final copy is ``Module.load_state_dict``, which
itself checks everything before it assigns anything.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, FormatError, ShapeError
from numrnn.io.config import build_module
from numrnn.io.save import CONFIG_KEY, FORMAT_KEY, FORMAT_VERSION, STATE_KEY, TRAINING_KEY
from numrnn.io.state_tree import decode_tree
from numrnn.io.untrusted_json import brief, parse_untrusted
from numrnn.nn.module import Module
from numrnn.nn.parameter import limit_parameters
from numrnn.nn.state import state_tensors

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.typing import PathLike

# safetensors dtype code -> numpy dtype: the only dtypes of numrnn parameters.
FLOAT_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
# Bytes per element of every safetensors dtype, so that a file's other tensors (a
# BatchNorm's int64 num_batches_tracked, bf16 weights) are checked and named too.
FILE_ITEMSIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
                  "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8,
                  "F64": 8}
HEADER_LENGTH_BYTES = 8
# What safetensors itself reads; refused here before the header is decoded.
MAX_HEADER_BYTES = 100_000_000
# numpy's limits on an array: dimensions, and bytes (an int64 count).
MAX_DIMS = 64
INT64_MAX = 2**63 - 1
# load_model builds a module under a limit of twice the file's tensors plus these.
LIMIT_SLACK_PARAMETERS = 16
LIMIT_SLACK_BYTES = 1 << 20


class SkippedTensorsWarning(UserWarning):
    """``numrnn.load(..., strict=False)`` left out tensors that are not float32/float64."""


def load(path: PathLike, module: Module | None = None, *, strict: bool = True,
         prefix: str | None = None) -> Any:
    """Read a safetensors weight file, or a state saved with :func:`numrnn.save`.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``numrnn.save`` or by PyTorch's
        ``safetensors.torch.save_file(module.state_dict(), path)``, whose names
        are the same.
    module : Module, optional
        Load the tensors into it and return it. Without it, return the state
        dict, a dict from tensor name to ndarray, ready for
        ``module.load_state_dict``; or, for a file saved from a state such as
        ``optimizer.state_dict()``, that state.
    strict : bool, default True
        With True, every tensor must be float32 or float64 (numrnn's parameter
        dtypes) and, with ``module``, the file and the module must hold the same
        names; anything else is a :class:`FormatError` naming the tensors.
        With False, tensors of other dtypes (a BatchNorm's int64
        ``num_batches_tracked``, bf16 or int8 weights) are left out and named
        in a :class:`SkippedTensorsWarning`, and tensors missing from the file
        or unknown to the module are allowed; shapes and dtypes of what loads
        are still checked.
    prefix : str, optional
        Keep only the tensors whose names start with ``prefix`` (a dot is added
        when it does not end in one), with the prefix removed: ``prefix="encoder"``
        turns ``encoder.weight_ih_l0`` into ``weight_ih_l0`` and ignores the rest
        of the file, to load one part of a larger model.

    Returns
    -------
    dict of str to ndarray, the module, or the saved state.
    """
    where = os.fspath(path)
    if prefix is not None and (not isinstance(prefix, str) or not prefix.strip(".")):
        raise ArgumentError(f"load: prefix must be a non-empty str such as 'encoder.', "
                            f"got {prefix!r}")
    if module is not None and not isinstance(module, Module):
        raise ArgumentTypeError(f"load: module must be a numrnn Module, "
                                f"got {type(module).__name__}")
    tensors, others, metadata = read_tensors(path)
    if STATE_KEY in metadata:
        if module is not None or prefix is not None:
            raise FormatError(f"{where} holds a saved state ({STATE_KEY!r}, e.g. an optimizer's "
                              "state_dict), not weights: read it with numrnn.load(path) alone")
        state = decode_tree(metadata[STATE_KEY], tensors, f"{STATE_KEY}.", where, STATE_KEY)
        stray = sorted(name for name in [*tensors, *others]
                       if not name.startswith(f"{STATE_KEY}."))
        if stray:
            raise FormatError(f"{where} holds a saved state and the tensors {brief(stray)} "
                              "outside it: corrupted file")
        return state
    tensors = _weights_only(tensors, metadata)
    if prefix is not None:
        tensors, others = _under_prefix(tensors, others, prefix, where)
    if others:
        _skip_or_refuse(others, strict, where)
    if module is None:
        return tensors
    _load_into(module, tensors, strict, where)
    return module


def _weights_only(tensors, metadata):
    """The weights of a ``fit`` checkpoint leave out the arrays of its training state."""
    if TRAINING_KEY not in metadata:
        return tensors
    return {name: array for name, array in tensors.items()
            if not name.startswith(f"{TRAINING_KEY}.")}


def _under_prefix(tensors, others, prefix, where):
    start = prefix if prefix.endswith(".") else prefix + "."
    kept = {name[len(start):]: array for name, array in tensors.items() if name.startswith(start)}
    kept_others = {name[len(start):]: entry for name, entry in others.items()
                   if name.startswith(start)}
    if not kept and not kept_others:
        heads = sorted({name.split(".", 1)[0] + "." for name in [*tensors, *others]
                        if "." in name})
        raise FormatError(f"{where}: no tensor name starts with {start!r}; the file's prefixes "
                          f"are {brief(heads)}")
    return kept, kept_others


def _skip_or_refuse(others, strict, where):
    listed = ", ".join(f"'{name}' {code} {tuple(shape)}" for name, (code, shape) in others.items())
    if strict:
        first = next(iter(others))
        raise FormatError(f"{where}: tensor '{first}' has dtype {others[first][0]}; numrnn "
                          f"weights are F32 (float32) or F64 (float64). Not float: {listed}. "
                          "Pass strict=False to load the float tensors and leave these out, or "
                          "convert them before saving")
    warnings.warn(f"{where}: left out {len(others)} tensor(s) that are not float32/float64 "
                  f"(numrnn has no parameters of their dtypes): {listed}",
                  SkippedTensorsWarning, stacklevel=3)


def load_model(path: PathLike) -> Module:
    """Rebuild the module saved at ``path`` by ``numrnn.save`` and load its weights.

    The class and constructor arguments come from the file's ``numrnn.config``
    metadata; the class must be registered (numrnn's own layers are, others
    through :func:`numrnn.io.register_model`). The module comes back in
    training mode, as a freshly built one does: call ``.eval()`` before serving.
    """
    return _build_model(*read_file(path), os.fspath(path))


def model_from_bytes(data: bytes, where: str = "model bytes") -> Module:
    """Rebuild the module whose file bytes :func:`numrnn.io.model_to_bytes` made.

    Every check :func:`load_model` makes on a file is made on ``data``;
    ``where`` names it in the errors.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"model_from_bytes: data must be bytes, got {type(data).__name__}")
    tensors, others, metadata = _decode(bytes(data), where)
    if others:
        _skip_or_refuse(others, True, where)
    return _build_model(tensors, metadata, where)


def _build_model(tensors, metadata, where):
    tensors = _weights_only(tensors, metadata)
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


def read_file(path: PathLike) -> tuple[dict[str, npt.NDArray[Any]], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file, after checking all of it.

    Every tensor must be float32 or float64; :func:`read_tensors` also returns
    the others.
    """
    tensors, others, metadata = read_tensors(path)
    if others:
        _skip_or_refuse(others, True, os.fspath(path))
    return tensors, metadata


def read_tensors(
        path: PathLike) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any], dict[str, str]]:
    """``(tensors, others, metadata)`` of a safetensors file, after checking all of it.

    ``tensors`` maps the names of the float32/float64 tensors to arrays;
    ``others`` maps the names of the rest to ``(dtype code, shape)``, checked
    in the header like the floats but never decoded.
    """
    # One read: the header checks and the decoding see the same bytes, even if
    # another process rewrites the file meanwhile.
    with open(path, "rb") as file:
        data = file.read()
    return _decode(data, os.fspath(path))


def _decode(data, where):
    metadata, entries, data_start = _check_header(data, where)
    tensors, others = {}, {}
    for name, entry in entries.items():
        code, shape = entry["dtype"], tuple(entry["shape"])
        if code not in FLOAT_DTYPES:
            others[name] = (code, shape)
            continue
        begin = data_start + entry["data_offsets"][0]
        array = np.frombuffer(data, dtype=FLOAT_DTYPES[code], count=math.prod(shape),
                              offset=begin).reshape(shape)
        finite = np.isfinite(array)
        if not finite.all():
            nans = int(np.isnan(array).sum())
            infs = int(array.size - finite.sum()) - nans
            raise FormatError(f"{where}: tensor {brief(name)} holds {nans} NaN and {infs} infinite "
                              "value(s); refusing to load non-finite weights")
        tensors[name] = array.astype(FLOAT_DTYPES[code].newbyteorder("="))
    version = metadata.get(FORMAT_KEY, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise FormatError(f"{where}: written in numrnn file format {brief(version)}, this numrnn "
                          f"reads format {FORMAT_VERSION!r}: upgrade numrnn")
    return tensors, others, metadata


def _check_header(data, where):
    """Check the safetensors layout ourselves: its own errors rarely say which tensor.

    Layout: an 8-byte little-endian header length N, N bytes of JSON (tensor
    name -> dtype, shape, data_offsets; optional ``__metadata__`` of strings),
    then the tensors' bytes. Returns the metadata dict, the tensor entries and
    where the data starts in ``data``. Every value is checked
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
    spans = sorted((*_check_entry(name, entry, data_bytes, where), name)
                   for name, entry in header.items())
    used = 0
    for begin, end, name in spans:
        # Tensors tile the data in order, as safetensors requires: a gap or an
        # overlap means two tensors share bytes or some bytes belong to none.
        if begin != used:
            raise FormatError(f"{where}: tensor {brief(name)} starts at byte {begin} of the data, "
                              f"where the tensors before it end at {used}: overlapping or "
                              "misplaced data_offsets, corrupted header")
        used = end
    if used != data_bytes:
        raise FormatError(f"{where}: {data_bytes - used} bytes after the last tensor belong to "
                          "no tensor: corrupted file")
    return metadata, header, HEADER_LENGTH_BYTES + header_length


def _check_entry(name, entry, data_bytes, where):
    """Check one tensor's header entry; returns its byte range ``(begin, end)``."""
    prefix = f"{where}: tensor {brief(name)}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise FormatError(f"{prefix}: header entry must hold dtype, shape and data_offsets, "
                          f"got {brief(entry)}")
    code = entry["dtype"]
    if not isinstance(code, str) or code not in FILE_ITEMSIZES:
        # A code of the right shape as it is; anything else quoted.
        shown = code if isinstance(code, str) and code.isidentifier() and len(code) <= 20 \
            else brief(code)
        raise FormatError(f"{prefix} has dtype {shown}; that is no safetensors dtype, and "
                          "numrnn weights are F32 (float32) or F64 (float64)")
    shape, offsets = entry["shape"], entry["data_offsets"]
    if not _is_int_list(shape) or len(shape) > MAX_DIMS \
            or any(not 0 <= size <= INT64_MAX for size in shape):
        raise FormatError(f"{prefix}: shape must be a list of at most {MAX_DIMS} ints in "
                          f"0..2**63-1, got {brief(shape)}")
    if not _is_int_list(offsets) or len(offsets) != 2 or not 0 <= offsets[0] <= offsets[1]:
        raise FormatError(f"{prefix}: data_offsets must be [begin, end] with "
                          f"0 <= begin <= end, got {brief(offsets)}")
    itemsize = FILE_ITEMSIZES[code]
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
    return offsets[0], offsets[1]


def _is_int_list(value):
    return isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value)


def read_training_state(path):
    """``(weights, training state)`` of a ``fit`` checkpoint, both checked as file content."""
    where = os.fspath(path)
    tensors, metadata = read_file(path)
    if TRAINING_KEY not in metadata:
        raise FormatError(f"{where} holds no training state (metadata {TRAINING_KEY!r}): it is "
                          "a weight file, not a checkpoint written by fit(checkpoint=...)")
    state = decode_tree(metadata[TRAINING_KEY], tensors, f"{TRAINING_KEY}.", where, TRAINING_KEY)
    return _weights_only(tensors, metadata), state


def check_into(module, tensors, where, strict=True):
    """Raise a :class:`FormatError` listing every way ``tensors`` does not fit ``module``'s
    parameters and buffers."""
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


def _load_into(module, tensors, strict, where):
    """Check ``tensors`` against every parameter and buffer of ``module``, then copy them in."""
    check_into(module, tensors, where, strict)
    try:
        module.load_state_dict(tensors, strict=strict)
    except (ShapeError, DTypeError) as exc:
        raise FormatError(f"{where}: {exc}") from exc
