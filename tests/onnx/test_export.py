"""numrnn.onnx.export: every file passes onnx.checker and ONNX Runtime gives numrnn's outputs."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx_cases import feeds_of, layer_inputs, make_layer, random_config, run_layer

import numrnn
import numrnn.onnx
from numrnn import nn
from numrnn.errors import ArgumentError, ArgumentTypeError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def export_and_run(module, path, feeds, **options):
    numrnn.onnx.export(module, path, **options)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("seed", range(24))
def test_random_layers_match_onnx_runtime(tmp_path, seed):
    rng = np.random.default_rng(seed)
    config = random_config(rng)
    layer = make_layer(config["cell"], config["input_size"], config["hidden_size"], seed=seed,
                       num_layers=config["num_layers"], bidirectional=config["bidirectional"],
                       batch_first=config["batch_first"], bias=config["bias"])
    layer.eval()
    x, states, lengths = layer_inputs(layer, config["steps"], config["batch"], rng,
                                      initial_states=config["initial_states"],
                                      lengths=config["lengths"])
    got = export_and_run(layer, tmp_path / "layer.onnx", feeds_of(layer, x, states, lengths),
                         initial_states=config["initial_states"], lengths=config["lengths"])
    expected = run_layer(layer, x, states, lengths)
    assert len(got) == len(expected)
    for ours, theirs in zip(expected, got):
        np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN-relu", "LSTM-peepholes"])
def test_padded_bidirectional_batch_matches_and_is_zero_past_lengths(tmp_path, cell):
    rng = np.random.default_rng(5)
    layer = make_layer(cell, 3, 4, seed=1, num_layers=2, bidirectional=True)
    x, states, lengths = layer_inputs(layer, 7, 4, rng, initial_states=True, lengths=True)
    lengths[:] = [7, 2, 5, 1]
    got = export_and_run(layer, tmp_path / "padded.onnx", feeds_of(layer, x, states, lengths),
                         initial_states=True, lengths=True)
    expected = run_layer(layer, x, states, lengths)
    for ours, theirs in zip(expected, got):
        np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)
    assert not got[0][2:, 1].any()


def test_batch_and_time_axes_are_dynamic(tmp_path):
    layer = nn.GRU(3, 4, batch_first=True, rng=0)
    path = tmp_path / "gru.onnx"
    numrnn.onnx.export(layer, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for batch, steps in [(1, 1), (3, 9), (6, 2)]:
        x = rng.standard_normal((batch, steps, 3)).astype(np.float32)
        output, h_n = session.run(None, {"input": x})
        np.testing.assert_allclose(output, layer(x)[0].data, rtol=0, atol=1e-5)
        assert h_n.shape == (1, batch, 4)


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU, nn.RNN])
def test_variational_dropout_is_left_out_as_in_evaluation_mode(tmp_path, cell):
    layer = cell(3, 4, num_layers=2, bidirectional=True, input_dropout=0.3,
                 recurrent_dropout=0.4, rng=0)
    x = np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float32)
    got = export_and_run(layer, tmp_path / "layer.onnx", {"input": x})
    layer.eval()
    np.testing.assert_allclose(got[0], layer(x)[0].data, rtol=0, atol=1e-5)


def test_sequential_of_embedding_linear_dropout_and_lstm(tmp_path):
    model = nn.Sequential(nn.Embedding(11, 6, rng=0), nn.Dropout(0.3, rng=0),
                          nn.Linear(6, 5, rng=1), nn.LSTM(5, 4, num_layers=2, rng=2))
    model.eval()
    ids = np.random.default_rng(3).integers(0, 11, size=(5, 3))
    output, h_n, c_n = export_and_run(model, tmp_path / "seq.onnx", {"input": ids})
    expected_output, (expected_h, expected_c) = model(ids)
    np.testing.assert_allclose(output, expected_output.data, rtol=0, atol=1e-5)
    np.testing.assert_allclose(h_n, expected_h.data, rtol=0, atol=1e-5)
    np.testing.assert_allclose(c_n, expected_c.data, rtol=0, atol=1e-5)


def test_feedforward_sequential(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Dropout(0.5),
                          nn.Linear(8, 2, bias=False, rng=1)).eval()
    x = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)
    (output,) = export_and_run(model, tmp_path / "mlp.onnx", {"input": x})
    np.testing.assert_allclose(output, model(x).data, rtol=0, atol=1e-5)


def test_float64_model_exports_double_tensors(tmp_path):
    layer = nn.LSTM(2, 3, dtype=np.float64, rng=0)
    path = tmp_path / "double.onnx"
    numrnn.onnx.export(layer, path)
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert {init.data_type for init in graph.initializer if init.name.endswith(".W")} \
        == {onnx.TensorProto.DOUBLE}


def test_gate_blocks_follow_the_cell_table(tmp_path):
    layer = nn.LSTM(2, 3, rng=0)
    path = tmp_path / "lstm.onnx"
    numrnn.onnx.export(layer, path)
    weights = {init.name: onnx.numpy_helper.to_array(init)
               for init in onnx.load(str(path)).graph.initializer}
    onnx_w = weights["m0.l0.W"][0].reshape(4, 3, 2)
    ours = layer.weight_ih_l0.data.reshape(4, 3, 2)
    # ONNX stacks i, o, f, c; numrnn i, f, g, o.
    for onnx_block, our_block in enumerate([0, 3, 1, 2]):
        np.testing.assert_array_equal(onnx_w[onnx_block], ours[our_block])


@pytest.mark.parametrize("module, reason", [
    (nn.LayerNorm(4), "cannot export LayerNorm"),
    (nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 2)), "not its last child"),
    (nn.Sequential(nn.Linear(3, 4), nn.Embedding(5, 4)), "must be first"),
    (nn.Sequential(nn.Sequential(nn.Linear(3, 4))), "cannot export Sequential"),
    (nn.Sequential(), "empty"),
    (nn.Sequential(nn.Dropout(0.1)), "no dtype"),
    (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4, dtype=np.float64)), "one dtype"),
])
def test_unexportable_models_are_refused_with_the_reason(tmp_path, module, reason):
    path = tmp_path / "refused.onnx"
    with pytest.raises(ArgumentError, match=reason):
        numrnn.onnx.export(module, path)
    assert not path.exists()


def test_states_and_lengths_need_a_recurrent_layer(tmp_path):
    with pytest.raises(ArgumentError, match="initial_states and lengths need"):
        numrnn.onnx.export(nn.Linear(2, 2), tmp_path / "x.onnx", lengths=True)


def test_a_cell_variant_without_an_onnx_row_is_refused(tmp_path, monkeypatch):
    layer = nn.RNN(2, 3)
    monkeypatch.setattr(layer, "nonlinearity", "gelu")
    with pytest.raises(ArgumentError, match="no ONNX op computes that cell"):
        numrnn.onnx.export(layer, tmp_path / "x.onnx")


def test_non_module_and_bad_path_are_refused(tmp_path):
    with pytest.raises(ArgumentTypeError, match="must be a Module"):
        numrnn.onnx.export("lstm", tmp_path / "x.onnx")
    with pytest.raises(ArgumentTypeError, match="path must be"):
        numrnn.onnx.export(nn.LSTM(2, 2), 3)


def test_missing_onnx_names_the_extra(monkeypatch):
    from numrnn.onnx.graph import require_onnx
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ArgumentError, match=r"numrnn\[onnx\]"):
        require_onnx()


def test_importing_numrnn_onnx_does_not_import_onnx():
    root = Path(__file__).resolve().parents[2]
    code = "import sys, numrnn, numrnn.onnx; print('onnx' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=str(root)), check=True)
    assert result.stdout.strip() == "False"
