"""nn.GRU(reset_after=False) against ONNX's GRU with linear_before_reset=0, on random layers.

The same weights, permuted to ONNX's gate order (z, r, h) with the kind's
``gate_permutation("onnx")``, go into one ONNX GRU node per layer, the nodes
chained as numrnn stacks its layers (each reads the previous one's directions
side by side). ``onnx.reference`` runs the graph in float64 and ONNX Runtime in
float32. The reference ignores ``sequence_lens``, so with lengths each row runs
alone over its own valid steps there; ONNX Runtime takes them as they are.
"""

import numpy as np
import pytest

from numrnn import nn, no_grad

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = 17


def _onnx_blocks(array, kind, hidden):
    """``array``'s gate blocks (rows of ``hidden``) in ONNX's order."""
    blocks = [array[index * hidden:(index + 1) * hidden] for index in
              kind.gate_permutation("onnx")]
    return np.concatenate(blocks)


def _initializers(layer, index, dtype):
    """The W, R and B initializers of layer ``index``, both directions stacked."""
    hidden, kind = layer.hidden_size, layer.kind
    weights = [layer._weights(index, direction) for direction in range(layer.num_directions)]
    w = np.stack([_onnx_blocks(w_ih.data, kind, hidden) for w_ih, _, _, _ in weights])
    r = np.stack([_onnx_blocks(w_hh.data, kind, hidden) for _, w_hh, _, _ in weights])
    arrays = {f"W{index}": w, f"R{index}": r}
    if layer.bias:
        arrays[f"B{index}"] = np.stack([
            np.concatenate([_onnx_blocks(b_ih.data, kind, hidden),
                            _onnx_blocks(b_hh.data, kind, hidden)])
            for _, _, b_ih, b_hh in weights])
    return [numpy_helper.from_array(array.astype(dtype), name) for name, array in arrays.items()]


def onnx_model(layer, dtype, with_lengths):
    """A model ``(X, [sequence_lens], h0_0, h0_1, ...) -> (Y (T, B, D*H), Y_h (L*D, B, H))``."""
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    directions = layer.num_directions
    direction = "bidirectional" if layer.bidirectional else "forward"
    inputs = [helper.make_tensor_value_info("X", elem, ["T", "B", layer.input_size])]
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
    nodes, initializers, finals = [], [], []
    layer_input = "X"
    shape = numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "flat_shape")
    for index in range(layer.num_layers):
        inputs.append(helper.make_tensor_value_info(f"h0_{index}", elem,
                                                    [directions, "B", layer.hidden_size]))
        initializers += _initializers(layer, index, dtype)
        nodes.append(helper.make_node(
            "GRU", [layer_input, f"W{index}", f"R{index}", f"B{index}" if layer.bias else "",
                    "sequence_lens" if with_lengths else "", f"h0_{index}"],
            [f"Y{index}", f"Y_h{index}"], hidden_size=layer.hidden_size, direction=direction,
            linear_before_reset=0))
        # (T, D, B, H) -> (T, B, D * H): the directions side by side, as numrnn's output.
        nodes.append(helper.make_node("Transpose", [f"Y{index}"], [f"Yt{index}"],
                                      perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"Yt{index}", "flat_shape"],
                                      [f"out{index}"]))
        layer_input = f"out{index}"
        finals.append(f"Y_h{index}")
    nodes.append(helper.make_node("Concat", finals, ["Y_h"], axis=0))
    nodes.append(helper.make_node("Identity", [layer_input], ["Y"]))
    outputs = [helper.make_tensor_value_info(
                   "Y", elem, ["T", "B", directions * layer.hidden_size]),
               helper.make_tensor_value_info(
                   "Y_h", elem, [layer.num_layers * directions, "B", layer.hidden_size])]
    graph = helper.make_graph(nodes, "gru", inputs, outputs, initializers + [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def random_layer(seed, dtype):
    """A random reset-before GRU and its input ``(x, h0, lengths or None)``."""
    rng = np.random.default_rng(seed)
    steps, batch = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    n_in, hidden, layers = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 3))
    bidirectional, bias = bool(rng.integers(2)), bool(rng.integers(2))
    layer = nn.GRU(n_in, hidden, layers, bias=bias, bidirectional=bidirectional,
                   reset_after=False, dtype=dtype, rng=seed)
    # Weights larger than the default draw, so the gates leave their linear range.
    for param in layer.parameters():
        param.data[...] = rng.uniform(-1.0, 1.0, param.shape)
    x = rng.uniform(-2.0, 2.0, (steps, batch, n_in)).astype(dtype)
    h0 = rng.uniform(-1.0, 1.0, (layers * layer.num_directions, batch, hidden)).astype(dtype)
    lengths = rng.integers(1, steps + 1, batch) if rng.integers(2) else None
    return layer, x, h0, lengths


def run_numrnn(layer, x, h0, lengths):
    with no_grad():
        output, h_n = layer(x, h0, lengths=lengths)
    return output.data, h_n.data


def feeds(layer, x, h0):
    directions = layer.num_directions
    values = {"X": x}
    for index in range(layer.num_layers):
        values[f"h0_{index}"] = np.ascontiguousarray(h0[index * directions:
                                                        (index + 1) * directions])
    return values


@pytest.mark.parametrize("seed", range(16))
def test_equals_onnx_reference_in_float64(seed):
    from onnx.reference import ReferenceEvaluator
    layer, x, h0, lengths = random_layer(seed, np.float64)
    evaluator = ReferenceEvaluator(onnx_model(layer, np.float64, with_lengths=False))
    output, h_n = run_numrnn(layer, x, h0, lengths)
    steps, batch = x.shape[:2]
    row_lengths = np.full(batch, steps) if lengths is None else lengths
    for b, length in enumerate(row_lengths):
        expected, expected_n = evaluator.run(None, feeds(layer, x[:length, b:b + 1],
                                                         h0[:, b:b + 1]))
        np.testing.assert_allclose(output[:length, b], expected[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h_n[:, b], expected_n[:, 0], rtol=1e-12, atol=1e-12)
        assert not output[length:, b].any()
    # The PyTorch variant does differ here, so the comparison can fail.
    pytorch_variant = nn.GRU(layer.input_size, layer.hidden_size, layer.num_layers,
                             bias=layer.bias, bidirectional=layer.bidirectional, dtype=np.float64)
    pytorch_variant.load_state_dict(layer.state_dict())
    assert np.abs(run_numrnn(pytorch_variant, x, h0, lengths)[0] - output).max() > 1e-6


@pytest.mark.parametrize("seed", range(16))
def test_equals_onnx_runtime_in_float32(seed):
    ort = pytest.importorskip("onnxruntime")
    layer, x, h0, lengths = random_layer(seed, np.float32)
    model = onnx_model(layer, np.float32, with_lengths=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    steps, batch = x.shape[:2]
    values = feeds(layer, x, h0)
    values["sequence_lens"] = (np.full(batch, steps) if lengths is None
                               else lengths).astype(np.int32)
    expected, expected_n = session.run(None, values)
    output, h_n = run_numrnn(layer, x, h0, lengths)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_n, expected_n, rtol=1e-5, atol=1e-5)
