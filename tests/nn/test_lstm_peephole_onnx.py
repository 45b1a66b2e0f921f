"""nn.LSTM(peepholes=True) against ONNX's LSTM with input P, on random layers.

numrnn.onnx.export writes the layer as ONNX LSTM nodes, each with its
peephole weights as P (blocks i, o, f); ``onnx.reference`` runs that graph in
float64 and ONNX Runtime in float32. The reference ignores ``sequence_lens``,
so with lengths each row runs alone over its own valid steps there; ONNX
Runtime takes them as they are. The composed-ops test of
tests/functional/test_lstm_peephole_op.py pins numrnn's own order (p_i, p_f,
p_o) independently of the exporter.
"""

import numpy as np
import pytest

import numrnn
import numrnn.onnx
from numrnn import nn, no_grad

onnx = pytest.importorskip("onnx")


def random_layer(seed, dtype):
    """A random peephole LSTM and its input ``(x, (h0, c0), lengths or None)``."""
    rng = np.random.default_rng(seed)
    steps, batch = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    n_in, hidden, layers = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 3))
    bidirectional, bias = bool(rng.integers(2)), bool(rng.integers(2))
    layer = nn.LSTM(n_in, hidden, layers, bias=bias, bidirectional=bidirectional,
                    peepholes=True, dtype=dtype, rng=seed)
    # Weights larger than the default draw, so the gates leave their linear range and
    # the peepholes matter.
    for param in layer.parameters():
        param.data[...] = rng.uniform(-1.0, 1.0, param.shape)
    x = rng.uniform(-2.0, 2.0, (steps, batch, n_in)).astype(dtype)
    state_shape = (layers * layer.num_directions, batch, hidden)
    states = tuple(rng.uniform(-1.0, 1.0, state_shape).astype(dtype) for _ in range(2))
    lengths = rng.integers(1, steps + 1, batch) if rng.integers(2) else None
    return layer, x, states, lengths


def run_numrnn(layer, x, states, lengths):
    with no_grad():
        output, (h_n, c_n) = layer(x, states, lengths=lengths)
    return output.data, h_n.data, c_n.data


def exported(layer, path, lengths):
    numrnn.onnx.export(layer, path, initial_states=True, lengths=lengths)
    model = onnx.load(str(path))
    assert [node.input[7] != "" for node in model.graph.node if node.op_type == "LSTM"] \
        == [True] * layer.num_layers
    return model


@pytest.mark.parametrize("seed", range(16))
def test_equals_onnx_reference_in_float64(tmp_path, seed):
    from onnx.reference import ReferenceEvaluator
    layer, x, states, lengths = random_layer(seed, np.float64)
    evaluator = ReferenceEvaluator(exported(layer, tmp_path / "lstm.onnx", lengths=False))
    output, h_n, c_n = run_numrnn(layer, x, states, lengths)
    steps, batch = x.shape[:2]
    row_lengths = np.full(batch, steps) if lengths is None else lengths
    for b, length in enumerate(row_lengths):
        expected = evaluator.run(None, {"input": x[:length, b:b + 1],
                                        "h_0": states[0][:, b:b + 1],
                                        "c_0": states[1][:, b:b + 1]})
        np.testing.assert_allclose(output[:length, b], expected[0][:, 0], rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(h_n[:, b], expected[1][:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c_n[:, b], expected[2][:, 0], rtol=1e-12, atol=1e-12)
        assert not output[length:, b].any()
    # The plain LSTM does differ here, so the comparison can fail.
    plain = nn.LSTM(layer.input_size, layer.hidden_size, layer.num_layers, bias=layer.bias,
                    bidirectional=layer.bidirectional, dtype=np.float64)
    plain.load_state_dict({name: value for name, value in layer.state_dict().items()
                           if "peephole" not in name})
    assert np.abs(run_numrnn(plain, x, states, lengths)[0] - output).max() > 1e-6


@pytest.mark.parametrize("seed", range(16))
def test_equals_onnx_runtime_in_float32(tmp_path, seed):
    ort = pytest.importorskip("onnxruntime")
    layer, x, states, lengths = random_layer(seed, np.float32)
    path = tmp_path / "lstm.onnx"
    exported(layer, path, lengths=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    steps, batch = x.shape[:2]
    expected = session.run(None, {"input": x, "h_0": states[0], "c_0": states[1],
                                  "lengths": np.full(batch, steps) if lengths is None
                                  else lengths.astype(np.int64)})
    for ours, theirs in zip(run_numrnn(layer, x, states, lengths), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_export_then_load_is_exact_and_gives_a_peephole_lstm(tmp_path, seed):
    layer, x, states, lengths = random_layer(seed, np.float32)
    path = tmp_path / "lstm.onnx"
    numrnn.onnx.export(layer, path, initial_states=True, lengths=lengths is not None)
    loaded = numrnn.onnx.load(path)
    layers = [child for child in loaded.children() if isinstance(child, nn.LSTM)]
    assert len(layers) == layer.num_layers and all(child.peepholes for child in layers)
    feeds = {"input": x, "h_0": states[0], "c_0": states[1]}
    if lengths is not None:
        feeds["lengths"] = lengths
    got = [result.data for result in loaded(**feeds)]
    for ours, theirs in zip(run_numrnn(layer, x, states, lengths), got):
        np.testing.assert_array_equal(theirs, ours)
