"""``numrnn.onnx.load``: build a numrnn model from an ONNX file, checking all of it first.

The whole graph is checked before any layer is built: the opset, every
initializer's shape against its bytes (:mod:`numrnn.onnx.read`), every node's op,
domain, attributes and inputs (defined before use), and each recurrent node's
weights against its ``hidden_size``. Layers are then built under a parameter
limit set from the file's own weights (:func:`numrnn.nn.parameter.limit_parameters`),
so no declared size can make numrnn allocate more than the file warrants.
Anything refused is a :class:`FormatError` naming the file, the node and what in it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentTypeError, FormatError
from numrnn.nn.embedding import Embedding
from numrnn.nn.linear import Linear
from numrnn.nn.parameter import limit_parameters
from numrnn.onnx.graph_module import OnnxGraph
from numrnn.onnx.read import describe, node_attributes, read_model, tensor_array
from numrnn.onnx.recurrent_node import ATTRIBUTES as RECURRENT_ATTRIBUTES
from numrnn.onnx.recurrent_node import recurrent_layer
from numrnn.onnx.simple_ops import SIMPLE_OPS

if TYPE_CHECKING:
    from numrnn.typing import PathLike

__all__ = ["load"]

# Squeeze, Unsqueeze and Slice take their axes as inputs from opset 13 on.
MIN_OPSET = 13
MAX_OPSET = 22
INPUT_TYPES = {1: np.dtype("<f4"), 11: np.dtype("<f8"), 6: np.dtype("<i4"), 7: np.dtype("<i8")}
LIMIT_SLACK_PARAMETERS = 16
LIMIT_SLACK_BYTES = 1 << 20
GEMM_ATTRIBUTES = {"alpha": "float", "beta": "float", "transA": "int", "transB": "int"}


def load(path: PathLike) -> OnnxGraph:
    """The model in the ONNX file at ``path``, as a numrnn :class:`OnnxGraph` module.

    Recurrent nodes (``RNN``, ``LSTM``, ``GRU``: any direction, ``layout`` 0 or 1,
    ``sequence_lens``, initial states; the GRU with ``linear_before_reset`` 1 or 0; the
    LSTM with peepholes ``P``)
    become numrnn layers holding their weights, ``Gemm`` and ``MatMul`` (with a
    following bias ``Add``) with weight initializers become ``Linear``, ``Gather``
    from a float table ``Embedding``; the simple nodes around them
    (:data:`numrnn.onnx.simple_ops.SIMPLE_OPS`, and ``ConstantOfShape``) run as
    numrnn ops. Call the result with the graph's inputs, positionally or by name.

    Raises
    ------
    FormatError
        For a malformed file, or a node or attribute numrnn cannot run (``clip``,
        ``input_forget``, other activations),
        naming the node and the attribute, before any layer is built.

    >>> model = numrnn.onnx.load("lstm.onnx")
    >>> output, h_n, c_n = model(x)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"numrnn.onnx.load: path must be a str or os.PathLike, "
                                f"got {type(path).__name__}")
    where = os.fspath(path)
    model = read_model(path)
    _check_opset(model, where)
    graph = model.graph
    constants = {}
    for index, initializer in enumerate(graph.initializer):
        name = initializer.name
        if name in constants:
            raise FormatError(f"{where}: initializer '{name[:80]}' is defined twice")
        constants[name] = tensor_array(initializer, where, f"initializer {index} "
                                                           f"'{name[:80]}'")
        if constants[name].dtype.kind == "f" and not np.isfinite(constants[name]).all():
            raise FormatError(f"{where}: initializer {index} '{name[:80]}' holds NaN or "
                              "infinite values")
    inputs = [_graph_input(value, where) for value in graph.input if value.name not in constants]
    plan = _Plan(graph, constants, {name for name, _, _ in inputs}, where)
    float_weights = [array for array in constants.values() if array.dtype.kind == "f"]
    count, nbytes = len(float_weights), sum(array.nbytes for array in float_weights)
    with limit_parameters(2 * count + LIMIT_SLACK_PARAMETERS, 2 * nbytes + LIMIT_SLACK_BYTES,
                          f"set from the file's {count} float tensors of {nbytes} bytes"):
        steps, modules = plan.build()
    outputs = [value.name for value in graph.output]
    for name in outputs:
        if name not in plan.defined:
            raise FormatError(f"{where}: graph output '{name[:80]}' is computed by no node")
    return OnnxGraph(inputs, outputs, plan.constants, steps, modules)


def _check_opset(model, where):
    versions = {entry.domain: entry.version for entry in model.opset_import}
    version = versions.get("", versions.get("ai.onnx"))
    if version is None or not MIN_OPSET <= version <= MAX_OPSET:
        raise FormatError(f"{where}: numrnn reads ONNX opsets {MIN_OPSET} to {MAX_OPSET} of the "
                          f"default domain, got {version}")


def _graph_input(value, where):
    tensor_type = value.type.tensor_type
    dtype = INPUT_TYPES.get(tensor_type.elem_type)
    if dtype is None:
        raise FormatError(f"{where}: graph input '{value.name[:80]}' has element type "
                          f"{tensor_type.elem_type}; numrnn takes float, double, int32 or int64")
    rank = len(tensor_type.shape.dim) if tensor_type.HasField("shape") else None
    return value.name, dtype, rank


class _Plan:
    """The checked nodes of a graph, turned into the steps and layers of an OnnxGraph."""

    def __init__(self, graph, constants, input_names, where):
        self.where = where
        self.constants = constants
        self.defined = set(constants) | input_names
        self.nodes = []
        consumers = {}
        for node in graph.node:
            self._check_node(node)
            attributes = node_attributes(node, self._allowed(node), where)
            self.nodes.append((node, attributes))
            for name in node.input:
                consumers[name] = consumers.get(name, 0) + 1
        self.consumers = consumers
        self.graph_outputs = {value.name for value in graph.output}

    def _refuse(self, node, message):
        raise FormatError(f"{self.where}: node {describe(node)}: {message}")

    def _check_node(self, node):
        if node.domain not in ("", "ai.onnx"):
            self._refuse(node, f"domain '{node.domain[:40]}' is not ONNX's default domain")
        if node.op_type not in SIMPLE_OPS and node.op_type not in (
                "RNN", "LSTM", "GRU", "Gemm", "ConstantOfShape"):
            self._refuse(node, f"op '{node.op_type[:40]}' is not supported by numrnn.onnx.load")
        for name in node.input:
            if name and name not in self.defined:
                self._refuse(node, f"input '{name[:80]}' is not defined before the node")
        for name in node.output:
            if name in self.defined:
                self._refuse(node, f"output '{name[:80]}' is defined twice")
            if name:
                self.defined.add(name)
        if node.op_type == "Dropout" and len(node.output) > 1 and node.output[1]:
            self._refuse(node, "the mask output of Dropout is not supported")

    def _allowed(self, node):
        if node.op_type in ("RNN", "LSTM", "GRU"):
            return RECURRENT_ATTRIBUTES
        if node.op_type == "Gemm":
            return GEMM_ATTRIBUTES
        if node.op_type == "ConstantOfShape":
            return {"value": "tensor"}
        return SIMPLE_OPS[node.op_type][1]

    def build(self):
        steps, modules = [], {}
        folded = set()
        for index, (node, attributes) in enumerate(self.nodes):
            if index in folded:
                continue
            op, child = node.op_type, f"{node.op_type.lower()}_{index}"
            if op in ("RNN", "LSTM", "GRU"):
                layer, settings = recurrent_layer(node, attributes, self.constants, self.where)
                modules[child] = layer
                steps.append(("recurrent", list(node.input), list(node.output), settings, child))
            elif op == "Constant":
                self.constants[node.output[0]] = SIMPLE_OPS[op][0]([], attributes)[0]
            elif op == "Gemm":
                modules[child] = self._gemm(node, attributes)
                steps.append(("module", [node.input[0]], list(node.output), {}, child))
            elif op == "MatMul" and self._weight(node.input[1], 2) is not None:
                bias_index = self._bias_add(index)
                outputs = list(node.output)
                bias = None
                if bias_index is not None:
                    folded.add(bias_index)
                    add = self.nodes[bias_index][0]
                    bias = self.constants[_other(add, node.output[0])]
                    outputs = list(add.output)
                modules[child] = _linear(self.constants[node.input[1]].T, bias)
                steps.append(("module", [node.input[0]], outputs, {}, child))
            elif op == "Gather" and self._weight(node.input[0], 2) is not None \
                    and attributes.get("axis", 0) == 0:
                table = self.constants[node.input[0]]
                modules[child] = Embedding(table.shape[0], table.shape[1], dtype=table.dtype,
                                           rng=0)
                modules[child].weight.data[...] = table
                steps.append(("module", [node.input[1]], list(node.output), {}, child))
            else:
                self._check_simple(node, attributes)
                steps.append((op, list(node.input), list(node.output), attributes, None))
        return steps, modules

    def _weight(self, name, ndim):
        array = self.constants.get(name)
        if array is None or array.dtype.kind != "f" or array.ndim != ndim or 0 in array.shape:
            return None
        return array

    def _bias_add(self, index):
        """The index of the Add that adds a bias vector to MatMul ``index``'s output, or None."""
        output = self.nodes[index][0].output[0]
        if self.consumers.get(output) != 1 or output in self.graph_outputs:
            return None
        columns = self.constants[self.nodes[index][0].input[1]].shape[1]
        for later, (node, _) in enumerate(self.nodes[index + 1:], start=index + 1):
            if output in node.input:
                bias = self.constants.get(_other(node, output))
                if node.op_type == "Add" and bias is not None and bias.shape == (columns,) \
                        and bias.dtype == self.constants[self.nodes[index][0].input[1]].dtype:
                    return later
                return None
        return None

    def _gemm(self, node, attributes):
        if attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0 \
                or attributes.get("transA", 0) != 0:
            self._refuse(node, "attributes 'alpha', 'beta' and 'transA' must keep their "
                               f"defaults (1, 1, 0), got {attributes}")
        weight = self._weight(node.input[1], 2)
        if weight is None:
            self._refuse(node, "input 'B' must be a 2-D float initializer")
        weight = weight if attributes.get("transB", 0) else weight.T
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self.constants.get(node.input[2])
            if bias is None or bias.reshape(-1).shape != (weight.shape[0],) \
                    or bias.dtype != weight.dtype:
                self._refuse(node, f"input 'C' must be an initializer of {weight.shape[0]} "
                                   f"{weight.dtype} values")
            bias = bias.reshape(-1)
        return _linear(weight, bias)

    def _check_simple(self, node, attributes):
        if node.op_type == "Reshape" and attributes.get("allowzero", 0) != 0:
            self._refuse(node, "attribute 'allowzero'=1 is not supported")
        if node.op_type == "Constant" and len(attributes) != 1:
            self._refuse(node, "a Constant needs exactly one value attribute")


def _other(node, name):
    """The input of a two-input node that is not ``name``."""
    first, second = (list(node.input) + ["", ""])[:2]
    return second if first == name else first


def _linear(weight, bias):
    """A Linear holding ``weight`` (out, in) and ``bias`` (out,) or None."""
    layer = Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype,
                   rng=0)
    layer.weight.data[...] = weight
    if bias is not None:
        layer.bias.data[...] = bias
    return layer
