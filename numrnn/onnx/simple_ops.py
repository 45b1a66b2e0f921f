"""The simple ONNX ops a loaded graph runs around its recurrent and linear layers.

Each op is a function ``(inputs, attributes) -> outputs`` on the graph's values:
numrnn Tensors for float data (so a loaded model can be trained further: the
ops are numrnn's differentiable ones) and integer ndarrays for ids, lengths and
the shape arithmetic exporters emit (``Shape``, ``Gather``, ``Concat`` feeding a
``Reshape`` or ``ConstantOfShape``). :data:`SIMPLE_OPS` maps an op type to its
function and the attributes it accepts; anything else in a node is refused by
the loader, naming the node and the attribute.
"""

import math

import numpy as np

from numrnn import functional as F
from numrnn.autograd.tensor import Tensor
from numrnn.errors import FormatError, ShapeError

# ONNX TensorProto element types a Cast may produce.
CAST_TYPES = {1: np.float32, 11: np.float64, 6: np.int32, 7: np.int64}


def is_float(value):
    return isinstance(value, Tensor) or (isinstance(value, np.ndarray) and value.dtype.kind == "f")


def ints(value, what):
    """A constant integer input (axes, starts, a shape) as a tuple of ints."""
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.dtype.kind not in "iu":
        raise FormatError(f"{what} must be integers, got dtype {array.dtype}")
    return tuple(int(item) for item in array.reshape(-1))


def identity(inputs, attributes):
    return [inputs[0]]


def transpose(inputs, attributes):
    x = inputs[0]
    perm = attributes.get("perm")
    if is_float(x):
        return [F.transpose(x, None if perm is None else tuple(perm))]
    return [np.transpose(x, perm)]


def squeeze(inputs, attributes):
    x, axes = inputs[0], ints(inputs[1] if len(inputs) > 1 else None, "Squeeze axes")
    shape = x.shape
    axes = tuple(range(len(shape))) if axes is None else axes
    if axes and any(not -len(shape) <= axis < len(shape) or shape[axis] != 1 for axis in axes):
        raise ShapeError(f"Squeeze: axes {axes} must be of size 1 in shape {tuple(shape)}")
    kept = tuple(size for axis, size in enumerate(shape)
                 if not (size == 1 and (axis in axes or axis - len(shape) in axes)))
    return [reshape_to(x, kept)]


def unsqueeze(inputs, attributes):
    x, axes = inputs[0], ints(inputs[1], "Unsqueeze axes")
    rank = len(x.shape) + len(axes)
    positions = sorted(axis % rank for axis in axes)
    shape = list(x.shape)
    for position in positions:
        shape.insert(position, 1)
    return [reshape_to(x, tuple(shape))]


def reshape(inputs, attributes):
    x, target = inputs[0], ints(inputs[1], "Reshape shape")
    # ONNX's 0 copies the input's size at that position (allowzero=0, the default).
    shape = tuple(x.shape[axis] if size == 0 else size for axis, size in enumerate(target))
    return [reshape_to(x, shape)]


def reshape_to(x, shape):
    if is_float(x):
        return F.reshape(x, shape)
    return np.reshape(x, shape)


def concat(inputs, attributes):
    if any(is_float(value) for value in inputs):
        return [F.concatenate(list(inputs), axis=attributes["axis"])]
    return [np.concatenate(inputs, axis=attributes["axis"])]


def slice_(inputs, attributes):
    x = inputs[0]
    starts, ends = ints(inputs[1], "Slice starts"), ints(inputs[2], "Slice ends")
    axes = ints(inputs[3], "Slice axes") if len(inputs) > 3 and inputs[3] is not None \
        else tuple(range(len(starts)))
    steps = ints(inputs[4], "Slice steps") if len(inputs) > 4 and inputs[4] is not None \
        else (1,) * len(starts)
    index = [slice(None)] * len(x.shape)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise ShapeError("Slice: steps must not be 0")
        # ONNX clamps starts and ends to the axis as Python slices do.
        index[axis] = slice(start, end, step)
    return [F.getitem(x, tuple(index)) if is_float(x) else x[tuple(index)]]


def shape(inputs, attributes):
    dims = np.asarray(inputs[0].shape, dtype=np.int64)
    return [dims[attributes.get("start", 0):attributes.get("end", len(dims))]]


def gather(inputs, attributes):
    data, indices = inputs
    axis = attributes.get("axis", 0)
    if is_float(indices):
        raise FormatError("Gather: indices must be integers")
    if not is_float(data):
        return [np.take(data, indices, axis=axis)]
    size, indices = data.shape[axis], np.asarray(indices)
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ShapeError(f"Gather: indices must be in {-size}..{size - 1} along axis {axis}, "
                         f"got {int(indices.min())}..{int(indices.max())}")
    index = [slice(None)] * len(data.shape)
    index[axis] = indices % size
    return [F.getitem(data, tuple(index))]


def cast(inputs, attributes):
    target = CAST_TYPES.get(attributes["to"])
    if target is None:
        raise FormatError(f"Cast: numrnn casts to float, double, int32 or int64 (ONNX types "
                          f"{sorted(CAST_TYPES)}), got {attributes['to']}")
    x = inputs[0]
    if isinstance(x, Tensor):
        if x.dtype == target:
            return [x]
        raise FormatError(f"Cast: a float tensor of dtype {x.dtype} cannot be cast to "
                          f"{np.dtype(target)} in a numrnn graph")
    return [np.asarray(x).astype(target)]


# A Constant's value attribute -> the dtype ONNX gives it.
CONSTANT_DTYPES = {"value": None, "value_int": np.int64, "value_ints": np.int64,
                   "value_float": np.float32, "value_floats": np.float32}


def constant(inputs, attributes):
    if len(attributes) != 1:
        raise FormatError(f"Constant: exactly one value attribute, got {sorted(attributes)}")
    ((name, value),) = attributes.items()
    return [np.asarray(value, dtype=CONSTANT_DTYPES[name])]


def constant_of_shape(inputs, attributes, limit):
    dims = ints(inputs[0], "ConstantOfShape shape")
    if any(dim < 0 for dim in dims) or math.prod(dims) > limit:
        raise ShapeError(f"ConstantOfShape: shape {dims} holds more than the {limit} elements "
                         "allowed (16 times the call's inputs and the model's parameters)")
    fill = attributes.get("value", np.zeros(1, np.float32))
    return [np.full(dims, fill.reshape(-1)[0], dtype=fill.dtype)]


def binary(name, function, numpy_function):
    def run(inputs, attributes):
        a, b = inputs
        if is_float(a) or is_float(b):
            return [function(a, b)]
        return [numpy_function(a, b)]
    run.__name__ = name
    return run


def truncated_divide(a, b):
    """ONNX's integer Div, which rounds toward zero (numpy's // rounds down)."""
    a, b = np.asarray(a), np.asarray(b)
    if np.any(b == 0):
        raise ShapeError("Div: integer division by zero")
    return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(np.result_type(a, b))


def unary(function):
    return lambda inputs, attributes: [function(inputs[0])]


def matmul(inputs, attributes):
    return [F.matmul(inputs[0], inputs[1])]


# op type -> (function, {attribute: kind}).
SIMPLE_OPS = {
    "Identity": (identity, {}),
    "Dropout": (identity, {"seed": "int"}),
    "Transpose": (transpose, {"perm": "ints"}),
    "Squeeze": (squeeze, {}),
    "Unsqueeze": (unsqueeze, {}),
    "Reshape": (reshape, {"allowzero": "int"}),
    "Concat": (concat, {"axis": "int"}),
    "Slice": (slice_, {}),
    "Shape": (shape, {"start": "int", "end": "int"}),
    "Gather": (gather, {"axis": "int"}),
    "Cast": (cast, {"to": "int"}),
    "Constant": (constant, {"value": "tensor", "value_int": "int", "value_ints": "ints",
                            "value_float": "float", "value_floats": "floats"}),
    "Add": (binary("add", F.add, np.add), {}),
    "Sub": (binary("sub", F.sub, np.subtract), {}),
    "Mul": (binary("mul", F.mul, np.multiply), {}),
    "Div": (binary("div", F.div, truncated_divide), {}),
    "MatMul": (matmul, {}),
    "Relu": (unary(F.relu), {}),
    "Tanh": (unary(F.tanh), {}),
    "Sigmoid": (unary(F.sigmoid), {}),
}
