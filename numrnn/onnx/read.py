"""Reading an untrusted ONNX file: the protobuf, its tensors and its attributes, all checked.

An ONNX file is protobuf data: parsing it runs nothing from the file. What the
file declares is still refused before it is believed: every tensor's declared
shape must agree with the bytes it carries (checked before the bytes are
decoded, so a small file cannot ask for a large allocation), external data
(tensors stored in other files, which the file would name by path) is refused,
and only the element types numrnn computes with are read.
"""

import math
import os

import numpy as np

from numrnn.errors import FormatError
from numrnn.onnx.graph import require_onnx

# TensorProto element types read, with their numpy dtypes and protobuf fields.
TENSOR_TYPES = {1: (np.dtype("<f4"), "float_data"), 11: (np.dtype("<f8"), "double_data"),
                6: (np.dtype("<i4"), "int32_data"), 7: (np.dtype("<i8"), "int64_data")}
# Protobuf's own limit on one message; ONNX models past it use external data.
MAX_FILE_BYTES = 2**31 - 1
MAX_DIMS = 64


def read_model(path):
    """The ``ModelProto`` in ``path``, parsed from one read of the file."""
    onnx = require_onnx()
    where = os.fspath(path)
    size = os.path.getsize(where)
    if size > MAX_FILE_BYTES:
        raise FormatError(f"{where}: {size} bytes, more than one protobuf message holds "
                          f"({MAX_FILE_BYTES}); ONNX files that large keep external data, "
                          "which numrnn does not read")
    with open(where, "rb") as file:
        data = file.read()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as error:  # protobuf raises its own DecodeError, not a built-in
        raise FormatError(f"{where}: not an ONNX model (protobuf could not parse it: "
                          f"{error})") from None
    if not model.HasField("graph"):
        raise FormatError(f"{where}: the ONNX model has no graph")
    return model


def tensor_array(tensor, where, what):
    """The ndarray of a ``TensorProto``, after its shape is checked against its data."""
    if tensor.data_location == 1 or len(tensor.external_data):
        raise FormatError(f"{where}: {what} keeps its data in an external file, which numrnn "
                          "does not read: save the model with its tensors inside")
    if tensor.data_type not in TENSOR_TYPES:
        raise FormatError(f"{where}: {what} has ONNX element type {tensor.data_type}; numrnn "
                          "reads float (1), double (11), int32 (6) and int64 (7)")
    dtype, field = TENSOR_TYPES[tensor.data_type]
    dims = tuple(tensor.dims)
    if len(dims) > MAX_DIMS or any(dim < 0 for dim in dims):
        raise FormatError(f"{where}: {what} declares the shape {dims[:MAX_DIMS]}")
    count = math.prod(dims)
    if tensor.HasField("raw_data"):
        stored = len(tensor.raw_data)
        if stored != count * dtype.itemsize:
            raise FormatError(f"{where}: {what} declares shape {dims} ({count * dtype.itemsize} "
                              f"bytes of {dtype.name}) but holds {stored} bytes")
        return np.frombuffer(tensor.raw_data, dtype=dtype).reshape(dims).copy()
    values = getattr(tensor, field)
    if len(values) != count:
        raise FormatError(f"{where}: {what} declares shape {dims} ({count} values) but holds "
                          f"{len(values)}")
    return np.asarray(values, dtype=dtype).reshape(dims)


def node_attributes(node, allowed, where):
    """``{name: value}`` of a node's attributes, each one of ``allowed`` (a name -> kind map).

    Kinds: "int", "float", "string", "ints", "floats", "strings", "tensor". Anything else,
    or an attribute of the wrong kind, is refused, naming the node and attribute.
    """
    kinds = {1: "float", 2: "int", 3: "string", 4: "tensor", 6: "floats", 7: "ints",
             8: "strings"}
    values = {}
    for attribute in node.attribute:
        if attribute.name not in allowed:
            raise FormatError(f"{where}: node {describe(node)} has the attribute "
                              f"'{attribute.name}', which numrnn does not support "
                              f"(supported: {sorted(allowed) or 'none'})")
        kind = kinds.get(attribute.type)
        if kind != allowed[attribute.name]:
            raise FormatError(f"{where}: node {describe(node)}: attribute '{attribute.name}' "
                              f"must be of kind {allowed[attribute.name]}, got "
                              f"{kind or attribute.type}")
        if kind == "float":
            values[attribute.name] = float(attribute.f)
        elif kind == "int":
            values[attribute.name] = int(attribute.i)
        elif kind == "string":
            values[attribute.name] = attribute.s.decode("utf-8", "replace")
        elif kind == "ints":
            values[attribute.name] = [int(value) for value in attribute.ints]
        elif kind == "floats":
            values[attribute.name] = [float(value) for value in attribute.floats]
        elif kind == "strings":
            values[attribute.name] = [value.decode("utf-8", "replace")
                                      for value in attribute.strings]
        else:
            values[attribute.name] = tensor_array(
                attribute.t, where, f"attribute '{attribute.name}' of node {describe(node)}")
    return values


def describe(node):
    """A node as a message names it: its name (cut short) and op."""
    name = node.name[:80] or "(unnamed)"
    return f"'{name}' ({node.op_type[:40]})"
