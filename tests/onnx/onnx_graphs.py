"""Hand-built ONNX graphs of one recurrent node, for the loader's tests."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent_graph(op, input_size, hidden_size, *, direction="forward", layout=0, seed=0,
                    bias=True, lengths=False, initial_states=False, peepholes=False,
                    extra_inputs=(), initializers=(), **attributes):
    """A model of one ``op`` node with random weights (and an LSTM's peepholes P), inputs X
    (and L, h0, c0) and outputs Y, Y_h (and Y_c)."""
    rng = np.random.default_rng(seed)
    directions = 2 if direction == "bidirectional" else 1
    rows = GATES[op] * hidden_size
    weights = {"W": rng.standard_normal((directions, rows, input_size)),
               "R": rng.standard_normal((directions, rows, hidden_size)) * 0.5}
    if bias:
        weights["B"] = rng.standard_normal((directions, 2 * rows)) * 0.5
    states = ("h0", "c0") if op == "LSTM" else ("h0",)
    inputs = ["X", "W", "R", "B" if bias else "", "L" if lengths else ""]
    inputs += [name if initial_states else "" for name in states]
    if peepholes:
        weights["P"] = rng.standard_normal((directions, 3 * hidden_size))
        inputs.append("P")
    inputs += list(extra_inputs)
    while inputs[-1] == "":
        inputs.pop()
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, inputs, outputs, name=f"my_{op.lower()}",
                            hidden_size=hidden_size, direction=direction, layout=layout,
                            **attributes)
    x_axes = ["batch", "time", input_size] if layout else ["time", "batch", input_size]
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_axes)]
    if lengths:
        graph_inputs.append(helper.make_tensor_value_info("L", TensorProto.INT32, ["batch"]))
    if initial_states:
        state_axes = ["batch", directions, hidden_size] if layout \
            else [directions, "batch", hidden_size]
        graph_inputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, state_axes)
                         for name in states]
    graph_outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
                     for name in outputs]
    tensors = [numpy_helper.from_array(array.astype(np.float32), name)
               for name, array in weights.items()] + list(initializers)
    graph = helper.make_graph([node], "g", graph_inputs, graph_outputs, tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def save(model, path):
    onnx.save(model, str(path))
    return path
