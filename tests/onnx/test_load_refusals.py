"""numrnn.onnx.load refuses what it cannot run and what is malformed, naming what and where."""

import numpy as np
import pytest

import numrnn
import numrnn.onnx
from numrnn import nn
from numrnn.errors import FormatError, ShapeError

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_graphs import recurrent_graph, save  # noqa: E402  (needs onnx)


def refuse(tmp_path, model, *patterns):
    path = save(model, tmp_path / "refused.onnx")
    with pytest.raises(FormatError) as caught:
        numrnn.onnx.load(path)
    for pattern in patterns:
        assert pattern in str(caught.value), str(caught.value)
    return caught.value


@pytest.mark.parametrize("op, attributes, named", [
    ("LSTM", {"clip": 3.0}, "'clip'"),
    ("LSTM", {"input_forget": 1}, "'input_forget'"),
    ("LSTM", {"activations": ["Sigmoid", "Relu", "Tanh"]}, "'activations'"),
    ("RNN", {"activations": ["Sigmoid"]}, "'activations'"),
    ("RNN", {"activation_alpha": [0.5]}, "'activation_alpha'"),
    ("GRU", {"linear_before_reset": 2}, "'linear_before_reset'=2"),
    ("LSTM", {"layout": 2}, "'layout'"),
    ("LSTM", {"direction": "sideways"}, "'direction'"),
    ("LSTM", {"layout": "one"}, "'layout' must be of kind int"),
    ("LSTM", {"unknown_option": 1}, "'unknown_option'"),
])
def test_unsupported_recurrent_attributes_name_the_node_and_attribute(tmp_path, op, attributes,
                                                                       named):
    model = recurrent_graph(op, 2, 3, **attributes)
    refuse(tmp_path, model, f"'my_{op.lower()}' ({op})", named)


def test_activations_spelled_out_as_the_defaults_load(tmp_path):
    model = recurrent_graph("LSTM", 2, 3, direction="bidirectional",
                            activations=["Sigmoid", "Tanh", "Tanh"] * 2)
    assert isinstance(numrnn.onnx.load(save(model, tmp_path / "ok.onnx")).lstm_0, nn.LSTM)


def test_peepholes_of_the_wrong_shape_or_computed_at_run_time_are_refused(tmp_path):
    peepholes = numpy_helper.from_array(np.zeros((1, 8), np.float32), "P")
    model = recurrent_graph("LSTM", 2, 3, extra_inputs=["P"], initializers=[peepholes])
    refuse(tmp_path, model, "'my_lstm'", "input 'P' must have shape (1, 9)")
    model = recurrent_graph("LSTM", 2, 3, initial_states=True, extra_inputs=["h0"])
    refuse(tmp_path, model, "'my_lstm'", "input 'P' must be an initializer")


def test_more_inputs_than_the_op_takes_are_refused(tmp_path):
    model = recurrent_graph("GRU", 2, 3, linear_before_reset=1, extra_inputs=["X"])
    refuse(tmp_path, model, "'my_gru'", "GRU takes at most 6 inputs, got 7")


def test_a_hidden_size_the_weights_do_not_hold_is_refused_before_allocating(tmp_path):
    model = recurrent_graph("LSTM", 2, 3)
    node = model.graph.node[0]
    for attribute in node.attribute:
        if attribute.name == "hidden_size":
            attribute.i = 10**9
    refuse(tmp_path, model, "'my_lstm'", "input 'W' must have shape (1, 4000000000, 2)")


def test_an_initializer_declaring_more_data_than_it_holds_is_refused(tmp_path):
    model = recurrent_graph("GRU", 2, 3, linear_before_reset=1)
    weight = model.graph.initializer[0]
    del weight.dims[:]
    weight.dims.extend([1, 10**6, 10**6])
    refuse(tmp_path, model, "initializer 0 'W' declares shape (1, 1000000, 1000000)",
           "but holds 72 bytes")


def test_external_data_is_not_read(tmp_path):
    model = recurrent_graph("LSTM", 2, 3)
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    refuse(tmp_path, model, "'W' keeps its data in an external file")


def test_weights_computed_at_run_time_are_refused(tmp_path):
    model = recurrent_graph("RNN", 2, 3)
    model.graph.initializer.pop(0)
    model.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 3, 2]))
    refuse(tmp_path, model, "'my_rnn'", "input 'W' must be an initializer")


@pytest.mark.parametrize("node, named", [
    (helper.make_node("Conv", ["X", "X"], ["Z"], name="conv"), "op 'Conv' is not supported"),
    (helper.make_node("Relu", ["X"], ["Z"], name="custom", domain="com.example"),
     "domain 'com.example'"),
    (helper.make_node("Transpose", ["X"], ["Z"], name="t", perm=[1, 0, 2], extra=1),
     "attribute 'extra'"),
    (helper.make_node("Relu", ["nowhere"], ["Z"], name="early"),
     "input 'nowhere' is not defined before the node"),
    (helper.make_node("Gemm", ["X", "X"], ["Z"], name="scaled", alpha=2.0), "'alpha'"),
    (helper.make_node("Reshape", ["X", "X"], ["Z"], name="zeros", allowzero=1),
     "'allowzero'=1"),
])
def test_unsupported_nodes_are_refused_naming_them(tmp_path, node, named):
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["a", "b"])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    refuse(tmp_path, model, f"'{node.name}'", named)


def test_old_opsets_are_refused(tmp_path):
    model = recurrent_graph("LSTM", 2, 3)
    model.opset_import[0].version = 9
    refuse(tmp_path, model, "opsets 13 to 22", "got 9")


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage\xff" * 7, b"\x0a\xff\xff\xff\x7f"])
def test_bytes_that_are_no_model_are_refused(tmp_path, data):
    path = tmp_path / "junk.onnx"
    path.write_bytes(data)
    with pytest.raises(FormatError):
        numrnn.onnx.load(path)


def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "whole.onnx"
    numrnn.onnx.export(nn.LSTM(2, 3, num_layers=2, rng=0), path)
    data = path.read_bytes()
    cut = tmp_path / "cut.onnx"
    for end in range(0, len(data), max(1, len(data) // 97)):
        cut.write_bytes(data[:end])
        with pytest.raises(FormatError):
            numrnn.onnx.load(cut)


def test_a_constant_of_shape_larger_than_the_call_warrants_is_refused_when_run(tmp_path):
    shape = numpy_helper.from_array(np.array([10**6, 10**6], np.int64), "shape")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["zeros"], name="fill"),
             helper.make_node("Add", ["X", "zeros"], ["Z"], name="add")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["a", "b"])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    loaded = numrnn.onnx.load(save(model, tmp_path / "fill.onnx"))
    with pytest.raises(ShapeError, match="ConstantOfShape: shape"):
        loaded(np.ones((2, 2), np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weights_that_are_not_finite_are_refused(tmp_path, bad):
    model = recurrent_graph("GRU", 2, 3, linear_before_reset=1)
    recurrent = model.graph.initializer[1]
    values = numpy_helper.to_array(recurrent).copy()
    values[0, 1, 1] = bad
    recurrent.CopyFrom(numpy_helper.from_array(values, recurrent.name))
    refuse(tmp_path, model, f"initializer 1 '{recurrent.name}' holds NaN or infinite values")
