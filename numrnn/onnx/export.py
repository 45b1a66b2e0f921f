"""``numrnn.onnx.export``: write a numrnn model as an ONNX graph, checked by ``onnx.checker``.

What exports: a recurrent layer (``nn.RNN`` with tanh or ReLU, ``nn.LSTM`` with or
without peepholes, ``nn.GRU``; stacked, bidirectional, ``batch_first``), an ``nn.Linear``, an
``nn.Embedding``, an ``nn.Dropout``, and an ``nn.Sequential`` of these in which a
recurrent layer, if any, is the last child (numrnn's Sequential hands the layer's
``(output, state)`` pair on, so nothing can follow it). Each recurrent layer
becomes one ONNX ``RNN``/``LSTM``/``GRU`` node per stacked layer, with numrnn's
gate blocks reordered to ONNX's through the cell table. Dropout is left out, as
in evaluation mode.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.functional.cell_kinds import PARAMETERS
from numrnn.nn.container import Sequential
from numrnn.nn.dropout import Dropout
from numrnn.nn.embedding import Embedding
from numrnn.nn.linear import Linear
from numrnn.nn.module import Module
from numrnn.nn.parameter_checks import checked_parameters
from numrnn.nn.recurrent import GRU, LSTM, RNN
from numrnn.onnx.graph import FLOAT_TYPES, OPSET, onnx_cell_of, peephole_permutation, require_onnx

if TYPE_CHECKING:
    from numrnn.typing import PathLike

__all__ = ["export"]

RECURRENT_LAYERS = (RNN, LSTM, GRU)
EXPORTABLE = RECURRENT_LAYERS + (Linear, Embedding, Dropout, Sequential)
# IR version 8 goes with opset 17 and is read by every ONNX Runtime since 1.13.
IR_VERSION = 8
INT64 = 7
INT32 = 6


def export(module: Module, path: PathLike, *, initial_states: bool = False,
           lengths: bool = False) -> None:
    """Write ``module`` to ``path`` as an ONNX model (opset 17), evaluation-mode semantics.

    Parameters
    ----------
    module : Module
        A recurrent layer, ``Linear``, ``Embedding``, ``Dropout``, or a
        ``Sequential`` of them whose recurrent layer, if any, is its last child.
    path : str or os.PathLike
    initial_states : bool, default False
        Give the graph inputs ``h_0`` (and ``c_0`` for an LSTM), shaped
        ``(num_layers * num_directions, batch, hidden_size)`` as the layer takes
        them. Without them the states start at zero.
    lengths : bool, default False
        Give the graph an int64 input ``lengths`` (batch,): the valid steps of each
        row, passed to ONNX as ``sequence_lens``. Outputs past a row's length are
        zero and ``h_n`` holds its state at its last valid step, as in numrnn.

    Notes
    -----
    The graph's float input is ``input``, ``(time, batch, features)`` or, with
    ``batch_first``, ``(batch, time, features)``; token ids for a leading
    ``Embedding`` are int64 of the same leading axes. Batch and time are dynamic.
    Outputs: ``output``, then ``h_n`` (and ``c_n``) when the model ends in a
    recurrent layer.

    Raises
    ------
    ArgumentError
        For a module ONNX cannot express, naming it and why; for
        ``initial_states`` or ``lengths`` without a recurrent layer.

    Examples
    --------
    >>> numrnn.onnx.export(nn.LSTM(8, 16, num_layers=2, bidirectional=True), "lstm.onnx",
    ...                    lengths=True)
    """
    onnx = require_onnx()
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"numrnn.onnx.export: path must be a str or os.PathLike, "
                                f"got {type(path).__name__}")
    children = _children(module)
    recurrent = children[-1] if isinstance(children[-1], RECURRENT_LAYERS) else None
    if recurrent is None and (initial_states or lengths):
        raise ArgumentError("numrnn.onnx.export: initial_states and lengths need a model "
                            f"ending in a recurrent layer, got {type(module).__name__}")
    dtype = _common_dtype(children)
    builder = _GraphBuilder(onnx, FLOAT_TYPES[dtype.name])
    ids_input = isinstance(children[0], Embedding)
    feature_axes = ["batch", "time"] if recurrent is not None and recurrent.batch_first \
        else ["time", "batch"]
    if ids_input:
        builder.add_input("input", INT64, feature_axes)
    else:
        builder.add_input("input", builder.float_type, feature_axes + [_in_features(children[0])])
    value = "input"
    for index, child in enumerate(children[:-1] if recurrent is not None else children):
        value = _emit_feedforward(builder, child, value, f"m{index}")
    if recurrent is None:
        builder.add_output(value, "output", builder.float_type,
                           feature_axes + [_out_features(children)])
    else:
        _emit_recurrent(builder, recurrent, value, f"m{len(children) - 1}",
                        initial_states, lengths)
    model = builder.model()
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.fspath(path))


def _children(module):
    """The modules to export in order, each checked against what ONNX can express."""
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"numrnn.onnx.export: module must be a Module, "
                                f"got {type(module).__name__}")
    children = list(module) if type(module) is Sequential else [module]
    if not children:
        raise ArgumentError("numrnn.onnx.export: the Sequential is empty; there is nothing "
                            "to export")
    for position, child in enumerate(children):
        if type(child) not in EXPORTABLE or type(child) is Sequential:
            raise ArgumentError(
                f"numrnn.onnx.export: cannot export {type(child).__name__}: ONNX export "
                "covers RNN, LSTM, GRU, Linear, Embedding, Dropout and a Sequential of them, "
                "whose computation maps onto standard ONNX ops")
        if isinstance(child, RECURRENT_LAYERS):
            if position != len(children) - 1:
                raise ArgumentError(
                    f"numrnn.onnx.export: the {child.mode} at position {position} of the "
                    "Sequential is not its last child: Sequential hands the layer's "
                    "(output, state) pair to the next child, which numrnn cannot run")
            if onnx_cell_of(child.kind, child.kind.options_of(child)) is None:
                raise ArgumentError(
                    f"numrnn.onnx.export: cannot export {child.mode} with options "
                    f"{child.kind.options_of(child)}: no ONNX op computes that cell")
        if isinstance(child, Embedding) and position != 0:
            raise ArgumentError(f"numrnn.onnx.export: the Embedding at position {position} "
                                "must be first: it takes token ids, not features")
    return children


def _common_dtype(children):
    dtypes = {child.dtype for child in children if not isinstance(child, Dropout)}
    if not dtypes:
        raise ArgumentError("numrnn.onnx.export: a model of Dropout alone has no dtype; "
                            "there is nothing to export")
    if len(dtypes) > 1:
        raise ArgumentError(f"numrnn.onnx.export: every layer must have one dtype, got "
                            f"{sorted(dtype.name for dtype in dtypes)}")
    return dtypes.pop()


def _in_features(module):
    if isinstance(module, Linear):
        return module.in_features
    if isinstance(module, RECURRENT_LAYERS):
        return module.input_size
    return "features"


def _out_features(children):
    """The feature size of a feed-forward chain's output (Dropout keeps its input's)."""
    for module in reversed(children):
        if isinstance(module, Linear):
            return module.out_features
        if isinstance(module, Embedding):
            return module.embedding_dim
    return "features"


def _emit_feedforward(builder, module, value, prefix):
    """Add ``module``'s nodes reading ``value``; returns the name of their output."""
    if isinstance(module, Dropout):
        return value
    if isinstance(module, Embedding):
        (weight,) = checked_parameters(
            module, (("weight", (module.num_embeddings, module.embedding_dim)),))
        table = builder.add_initializer(f"{prefix}.weight", weight.data)
        return builder.add_node("Gather", [table, value], axis=0)
    checked_parameters(module, (("weight", (module.out_features, module.in_features)),
                                ("bias", (module.out_features,))))
    weight_t = builder.add_initializer(f"{prefix}.weight_t",
                                       np.ascontiguousarray(module.weight.data.T))
    value = builder.add_node("MatMul", [value, weight_t])
    if module.bias is not None:
        bias = builder.add_initializer(f"{prefix}.bias", module.bias.data)
        value = builder.add_node("Add", [value, bias])
    return value


def _onnx_weights(layer, layer_index):
    """ONNX's W (D, G*H, in), R (D, G*H, H) and B (D, 2*G*H) or None, gate blocks reordered."""
    kind, hidden = layer.kind, layer.hidden_size
    permutation = kind.gate_permutation("onnx")
    stacks = {name: [] for name in PARAMETERS}
    for direction in range(layer.num_directions):
        for name, tensor in zip(PARAMETERS, layer._weights(layer_index, direction)):
            if tensor is None:
                continue
            blocks = tensor.data.reshape((kind.gate_count, hidden) + tensor.shape[1:])
            stacks[name].append(blocks[permutation].reshape(tensor.shape))
    weight_ih, weight_hh = np.stack(stacks["weight_ih"]), np.stack(stacks["weight_hh"])
    if not layer.bias:
        return weight_ih, weight_hh, None
    return weight_ih, weight_hh, np.concatenate([np.stack(stacks["bias_ih"]),
                                                 np.stack(stacks["bias_hh"])], axis=1)


def _onnx_peepholes(layer, layer_index):
    """ONNX's P (D, 3H): each direction's ``weight_peephole``, blocks in ONNX's order."""
    hidden, permutation = layer.hidden_size, peephole_permutation(layer.kind)
    rows = []
    for direction in range(layer.num_directions):
        weights = dict(zip(layer._cell_parameters, layer._weights(layer_index, direction)))
        blocks = weights["weight_peephole"].data.reshape(len(permutation), hidden)
        rows.append(blocks[permutation].reshape(-1))
    return np.stack(rows)


def _emit_recurrent(builder, layer, value, prefix, initial_states, lengths):
    """Add one ONNX recurrent node per stacked layer, and the graph's outputs."""
    checked_parameters(layer, layer._stack_specs())
    row = onnx_cell_of(layer.kind, layer.kind.options_of(layer))
    directions = layer.num_directions
    state_axes = [layer.num_layers * directions, "batch", layer.hidden_size]
    states = {}
    if initial_states:
        for state in layer.kind.states:
            states[state] = builder.add_input(f"{state}_0", builder.float_type, state_axes)
    sequence_lens = ""
    if lengths:
        builder.add_input("lengths", INT64, ["batch"])
        sequence_lens = builder.add_node("Cast", ["lengths"], to=INT32)
    if layer.batch_first:
        value = builder.add_node("Transpose", [value], perm=[1, 0, 2])
    attributes = dict(row.attributes, hidden_size=layer.hidden_size,
                      direction="bidirectional" if directions == 2 else "forward")
    if row.activations:
        attributes["activations"] = list(row.activations) * directions
    finals = {state: [] for state in layer.kind.states}
    for layer_index in range(layer.num_layers):
        weight_ih, weight_hh, bias = _onnx_weights(layer, layer_index)
        name = f"{prefix}.l{layer_index}"
        inputs = [value, builder.add_initializer(f"{name}.W", weight_ih),
                  builder.add_initializer(f"{name}.R", weight_hh),
                  "" if bias is None else builder.add_initializer(f"{name}.B", bias),
                  sequence_lens]
        for state in layer.kind.states:
            inputs.append("" if not states else builder.slice_rows(
                states[state], layer_index * directions, (layer_index + 1) * directions))
        if row.peepholes:
            inputs.append(builder.add_initializer(f"{name}.P", _onnx_peepholes(layer, layer_index)))
        outputs = builder.add_node(row.op, inputs,
                                   outputs=1 + len(layer.kind.states), **attributes)
        for state, final in zip(layer.kind.states, outputs[1:]):
            finals[state].append(final)
        # Y is (T, D, B, H); the next layer and the caller read (T, B, D*H).
        if directions == 1:
            value = builder.add_node("Squeeze", [outputs[0], builder.constant([1])])
        else:
            value = builder.add_node("Transpose", [outputs[0]], perm=[0, 2, 1, 3])
            value = builder.add_node("Reshape", [value, builder.constant([0, 0, -1])])
    if layer.batch_first:
        value = builder.add_node("Transpose", [value], perm=[1, 0, 2])
    output_axes = ["batch", "time"] if layer.batch_first else ["time", "batch"]
    builder.add_output(value, "output", builder.float_type,
                       output_axes + [directions * layer.hidden_size])
    for state, parts in finals.items():
        final = parts[0] if len(parts) == 1 else builder.add_node("Concat", parts, axis=0)
        builder.add_output(final, f"{state}_n", builder.float_type, state_axes)


class _GraphBuilder:
    """Nodes, initializers and named inputs/outputs of one graph, with fresh value names."""

    def __init__(self, onnx, float_type):
        self.onnx = onnx
        self.float_type = float_type
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self.count = 0

    def fresh(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def add_input(self, name, elem_type, shape):
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def add_output(self, value, name, elem_type, shape):
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name]))
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))

    def add_initializer(self, name, array):
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def constant(self, values):
        return self.add_initializer(self.fresh("const"), np.asarray(values, dtype=np.int64))

    def add_node(self, op, inputs, outputs=1, **attributes):
        names = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op, inputs, names,
                                                     name=self.fresh(op), **attributes))
        return names[0] if outputs == 1 else names

    def slice_rows(self, value, start, stop):
        return self.add_node("Slice", [value, self.constant([start]), self.constant([stop]),
                                       self.constant([0])])

    def model(self):
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "numrnn", self.inputs, self.outputs,
                                  self.initializers)
        model = helper.make_model(graph, producer_name="numrnn",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        return model
