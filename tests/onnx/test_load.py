"""numrnn.onnx.load: exact round trips, ONNX Runtime's and PyTorch's outputs, refusals."""

import warnings

import numpy as np
import pytest
from onnx_cases import feeds_of, layer_inputs, make_layer, random_config, run_layer

import numrnn
import numrnn.onnx
from numrnn import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_graphs import recurrent_graph, save  # noqa: E402  (needs onnx)


def as_list(outputs):
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return [output.data for output in outputs]


@pytest.mark.parametrize("seed", range(16))
def test_round_trip_is_exact(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    config = random_config(rng)
    layer = make_layer(config["cell"], config["input_size"], config["hidden_size"], seed=seed,
                       num_layers=config["num_layers"], bidirectional=config["bidirectional"],
                       batch_first=config["batch_first"], bias=config["bias"])
    x, states, lengths = layer_inputs(layer, config["steps"], config["batch"], rng,
                                      initial_states=config["initial_states"],
                                      lengths=config["lengths"])
    path = tmp_path / "layer.onnx"
    numrnn.onnx.export(layer, path, initial_states=config["initial_states"],
                       lengths=config["lengths"])
    loaded = numrnn.onnx.load(path)
    got = as_list(loaded(**feeds_of(layer, x, states, lengths)))
    expected = run_layer(layer, x, states, lengths)
    assert len(got) == len(expected)
    for ours, theirs in zip(expected, got):
        np.testing.assert_array_equal(theirs, ours)


def test_round_trip_of_a_sequential_is_exact_and_keeps_the_layers(tmp_path):
    model = nn.Sequential(nn.Embedding(9, 4, rng=0), nn.Linear(4, 5, rng=1),
                          nn.GRU(5, 3, num_layers=2, bidirectional=True, rng=2)).eval()
    path = tmp_path / "seq.onnx"
    numrnn.onnx.export(model, path)
    loaded = numrnn.onnx.load(path)
    ids = np.random.default_rng(0).integers(0, 9, size=(6, 2))
    output, h_n = model(ids)
    got_output, got_h = loaded(ids)
    np.testing.assert_array_equal(got_output.data, output.data)
    np.testing.assert_array_equal(got_h.data, h_n.data)
    kinds = sorted(type(child).__name__ for child in loaded.children())
    assert kinds == ["Embedding", "GRU", "GRU", "Linear"]


def ort_outputs(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("op", ["RNN", "LSTM", "GRU", "GRU-reset-before", "LSTM-peepholes"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_hand_built_nodes_match_onnx_runtime_with_padding_and_states(tmp_path, op, direction):
    # linear_before_reset=0, ONNX's default, is numrnn's GRU(reset_after=False); an LSTM
    # node with input P is numrnn's LSTM(peepholes=True).
    attributes = {"GRU": {"linear_before_reset": 1}, "GRU-reset-before": {},
                  "LSTM-peepholes": {"peepholes": True}}.get(op, {})
    op = op.split("-")[0]
    model = recurrent_graph(op, 3, 4, direction=direction, lengths=True, initial_states=True,
                            **attributes)
    rng = np.random.default_rng(1)
    directions = 2 if direction == "bidirectional" else 1
    feeds = {"X": rng.standard_normal((5, 3, 3)).astype(np.float32),
             "L": np.array([5, 2, 4], np.int32),
             "h0": rng.standard_normal((directions, 3, 4)).astype(np.float32)}
    if op == "LSTM":
        feeds["c0"] = rng.standard_normal((directions, 3, 4)).astype(np.float32)
    expected = ort_outputs(model, feeds)
    got = as_list(numrnn.onnx.load(save(model, tmp_path / "node.onnx"))(**feeds))
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_layout_1_is_the_batch_major_layout_0(tmp_path, op):
    # ONNX Runtime refuses layout=1, so the reference is the layout-0 twin, transposed.
    attributes = {"linear_before_reset": 1} if op == "GRU" else {}
    options = dict(direction="bidirectional", lengths=True, initial_states=True, **attributes)
    time_major = recurrent_graph(op, 2, 3, layout=0, **options)
    batch_major = recurrent_graph(op, 2, 3, layout=1, **options)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 2)).astype(np.float32)
    lengths = np.array([4, 1, 3], np.int32)
    states = [rng.standard_normal((2, 3, 3)).astype(np.float32)
              for _ in range(2 if op == "LSTM" else 1)]
    names = ["h0", "c0"][:len(states)]
    expected = ort_outputs(time_major, {"X": x, "L": lengths, **dict(zip(names, states))})
    loaded = numrnn.onnx.load(save(batch_major, tmp_path / "batch_major.onnx"))
    got = as_list(loaded(X=x.transpose(1, 0, 2), L=lengths,
                         **{name: state.transpose(1, 0, 2) for name, state in zip(names, states)}))
    np.testing.assert_allclose(got[0], expected[0].transpose(2, 0, 1, 3), rtol=0, atol=1e-5)
    for ours, theirs in zip(got[1:], expected[1:]):
        np.testing.assert_allclose(ours, theirs.transpose(1, 0, 2), rtol=0, atol=1e-5)


def test_loaded_model_trains(tmp_path):
    path = tmp_path / "lstm.onnx"
    numrnn.onnx.export(nn.Sequential(nn.Linear(2, 3, rng=0), nn.LSTM(3, 4, rng=1)), path)
    loaded = numrnn.onnx.load(path)
    x = np.random.default_rng(0).standard_normal((5, 2, 2)).astype(np.float32)
    output, _, _ = loaded(x)
    output.sum().backward()
    assert all(param.grad is not None and np.abs(param.grad).sum() > 0
               for param in loaded.parameters())


class TorchModel:
    """A PyTorch Embedding -> recurrent layer -> ReLU -> Linear model, exported to ONNX."""

    def __init__(self, torch, cell, batch_first, bidirectional, with_states):
        torch.manual_seed(0)
        self.torch = torch
        self.cell, self.batch_first, self.with_states = cell, batch_first, with_states
        directions = 2 if bidirectional else 1
        self.states = 2 * directions
        self.embedding = torch.nn.Embedding(13, 5)
        self.rnn = getattr(torch.nn, cell)(5, 6, num_layers=2, batch_first=batch_first,
                                           bidirectional=bidirectional)
        self.head = torch.nn.Linear(6 * directions, 3)
        self.module = torch.nn.ModuleList([self.embedding, self.rnn, self.head]).eval()

    def __call__(self, ids, *states):
        hx = None if not states else (states if self.cell == "LSTM" else states[0])
        output, finals = self.rnn(self.embedding(ids), hx)
        finals = finals if isinstance(finals, tuple) else (finals,)
        return (self.head(self.torch.relu(output)), *finals)


@pytest.mark.parity
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("batch_first, bidirectional, with_states",
                         [(False, False, False), (True, True, True), (False, True, False),
                          (True, False, True)])
def test_file_from_torch_onnx_export_gives_torchs_outputs(tmp_path, cell, batch_first,
                                                          bidirectional, with_states):
    torch = pytest.importorskip("torch")
    model = TorchModel(torch, cell, batch_first, bidirectional, with_states)
    ids = torch.randint(0, 13, (3, 4))
    batch = 3 if batch_first else 4
    state_count = 2 if cell == "LSTM" else 1
    states = tuple(torch.randn(model.states, batch, 6) for _ in range(state_count)) \
        if with_states else ()
    names = ["ids"] + ["h0", "c0"][:len(states)]

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model.module

        def forward(self, *args):
            return model(*args)

    path = tmp_path / "torch.onnx"
    # The legacy TorchScript exporter works offline; torch warns that it is deprecated
    # and about dynamic batch sizes without state inputs: its warnings, not numrnn's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Wrapper(), (ids, *states), str(path), dynamo=False,
                          input_names=names, dynamic_axes={"ids": {0: "a", 1: "b"}})
    with torch.no_grad():
        expected = [tensor.numpy() for tensor in model(ids, *states)]
    loaded = numrnn.onnx.load(path)
    got = as_list(loaded(ids.numpy(), *[state.numpy() for state in states]))
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_simple_nodes_match_onnx_runtime(tmp_path):
    rng = np.random.default_rng(4)
    weight = numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "Wt")
    bias = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "C")
    ints = {name: numpy_helper.from_array(np.array(values, np.int64), name)
            for name, values in [("starts", [1]), ("ends", [3]), ("axes", [1]), ("zero", [0]),
                                 ("minus_seven", [-7]), ("two", [2])]}
    nodes = [
        helper.make_node("Sigmoid", ["X"], ["s"]),
        helper.make_node("Mul", ["s", "X"], ["m"]),
        helper.make_node("Sub", ["m", "X"], ["d"]),
        helper.make_node("Div", ["d", "s"], ["q"]),
        helper.make_node("Tanh", ["q"], ["t"]),
        helper.make_node("Gemm", ["t", "Wt", "C"], ["g"], transB=1),
        helper.make_node("Slice", ["g", "starts", "ends", "axes"], ["sliced"]),
        helper.make_node("Unsqueeze", ["sliced", "zero"], ["u"]),
        helper.make_node("Squeeze", ["u", "zero"], ["Z"]),
        helper.make_node("Div", ["minus_seven", "two"], ["N"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["b", 4])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("N", TensorProto.INT64, None)],
        [weight, bias, *ints.values()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.standard_normal((5, 4)).astype(np.float32)
    expected_z, expected_n = ort_outputs(model, {"X": x})
    loaded = numrnn.onnx.load(save(model, tmp_path / "simple.onnx"))
    got_z, got_n = loaded(x)
    np.testing.assert_allclose(got_z.data, expected_z, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got_n, expected_n)
    assert [type(child).__name__ for child in loaded.children()] == ["Linear"]
