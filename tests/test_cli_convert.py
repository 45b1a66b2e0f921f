"""`numrnn convert` between safetensors, ONNX and Keras files; `numrnn inspect` of the latter."""

import json
import pathlib
import re
import sys

import numpy as np
import pytest

import numrnn
from numrnn import nn
from tests.cli_process import assert_one_line_refusal, run_numrnn

h5py = pytest.importorskip("h5py")
onnx = pytest.importorskip("onnx")

import numrnn.keras  # noqa: E402
import numrnn.onnx  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "keras"))
from keras_files import random_cell, write_weights  # noqa: E402


def assert_same_weights(module, expected):
    state = module.state_dict()
    assert state.keys() == expected.keys()
    for name, array in expected.items():
        np.testing.assert_array_equal(state[name], array)


@pytest.fixture
def keras_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "model.weights.h5"
    write_weights(path, [("lstm", "lstm", "LSTM", [random_cell("LSTM", 3, 4, rng)]),
                         ("bidirectional", "bi", "GRU",
                          [random_cell("GRU", 8, 2, rng), random_cell("GRU", 8, 2, rng)])])
    return path


def test_keras_layer_converts_to_a_numrnn_model_and_to_onnx(tmp_path, keras_file):
    done = run_numrnn("convert", keras_file, tmp_path / "bi.safetensors",
                      "--layer", "bidirectional")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote GRU from ")
    expected = numrnn.keras.load_layers(keras_file)["bidirectional"]
    converted = numrnn.load_model(tmp_path / "bi.safetensors")
    assert isinstance(converted, nn.GRU) and converted.batch_first and converted.bidirectional
    assert_same_weights(converted, expected.state_dict())
    done = run_numrnn("convert", keras_file, tmp_path / "bi.onnx", "--layer", "bidirectional")
    assert done.returncode == 0, done.stderr
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    got = numrnn.onnx.load(tmp_path / "bi.onnx")(x)[0].data
    np.testing.assert_allclose(got, expected(x)[0].data, atol=1e-6, rtol=0)


def test_keras_file_of_several_layers_needs_layer(tmp_path, keras_file):
    line = assert_one_line_refusal(run_numrnn("convert", keras_file, tmp_path / "out.onnx"),
                                   "convert")
    assert "holds the recurrent layers ['bidirectional', 'lstm']: pick one with --layer" in line
    assert not (tmp_path / "out.onnx").exists()


def test_pytorch_state_dict_under_a_prefix_converts_to_a_model(tmp_path):
    from safetensors.numpy import save_file

    reference = nn.LSTM(3, 5, num_layers=2, bidirectional=True, rng=2)
    tensors = {f"encoder.{name}": array for name, array in reference.state_dict().items()}
    tensors["norm.num_batches_tracked"] = np.zeros((), np.int64)
    save_file(tensors, str(tmp_path / "torch.safetensors"))
    done = run_numrnn("convert", tmp_path / "torch.safetensors", tmp_path / "lstm.safetensors",
                      "--prefix", "encoder")
    assert done.returncode == 0, done.stderr
    converted = numrnn.load_model(tmp_path / "lstm.safetensors")
    assert isinstance(converted, nn.LSTM) and converted.num_layers == 2
    assert converted.bidirectional and converted.hidden_size == 5
    assert_same_weights(converted, reference.state_dict())
    line = assert_one_line_refusal(
        run_numrnn("convert", tmp_path / "torch.safetensors", tmp_path / "x.onnx"), "convert")
    assert "reads the state_dict of one PyTorch RNN, LSTM or GRU" in line
    assert "not named so: ['encoder.bias_hh_l0'" in line


def test_pytorch_state_dict_of_a_projected_lstm_converts_to_a_model(tmp_path):
    from safetensors.numpy import save_file

    reference = nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2, rng=2)
    save_file(dict(reference.state_dict()), str(tmp_path / "torch.safetensors"))
    done = run_numrnn("convert", tmp_path / "torch.safetensors", tmp_path / "lstm.safetensors")
    assert done.returncode == 0, done.stderr
    converted = numrnn.load_model(tmp_path / "lstm.safetensors")
    assert (converted.hidden_size, converted.proj_size) == (6, 2)
    assert_same_weights(converted, reference.state_dict())


def test_numrnn_model_round_trips_through_onnx(tmp_path):
    model = nn.RNN(3, 4, nonlinearity="relu", rng=3)
    numrnn.save(model, tmp_path / "rnn.safetensors")
    done = run_numrnn("convert", tmp_path / "rnn.safetensors", tmp_path / "rnn.onnx")
    assert done.returncode == 0, done.stderr
    done = run_numrnn("convert", tmp_path / "rnn.onnx", tmp_path / "back.safetensors")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote OnnxGraph from ")
    tensors, _ = numrnn.io.read_file(tmp_path / "back.safetensors")
    assert_same_weights(model, {name.split(".", 1)[1]: array
                                for name, array in tensors.items()})


def test_output_is_checked_before_the_input_is_read(tmp_path):
    missing = tmp_path / "missing.keras"
    line = assert_one_line_refusal(run_numrnn("convert", missing, tmp_path / "out.keras"),
                                   "convert")
    assert "cannot tell the format of the output" in line
    assert "(Keras files are read, not written)" in line
    line = assert_one_line_refusal(
        run_numrnn("convert", missing, tmp_path / "no" / "out.onnx"), "convert")
    assert f"cannot write the output '{tmp_path / 'no' / 'out.onnx'}'" in line
    line = assert_one_line_refusal(run_numrnn("convert", tmp_path / "in.txt",
                                              tmp_path / "out.onnx"), "convert")
    assert "cannot tell the format of the input" in line


def test_failed_conversion_leaves_nothing_behind(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07junk")
    line = assert_one_line_refusal(
        run_numrnn("convert", tmp_path / "junk.onnx", tmp_path / "out.safetensors"), "convert")
    assert "junk.onnx" in line
    numrnn.onnx.export(nn.GRU(2, 3, rng=0), tmp_path / "gru.onnx")
    line = assert_one_line_refusal(
        run_numrnn("convert", tmp_path / "gru.onnx", tmp_path / "again.onnx"), "convert")
    assert "OnnxGraph" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gru.onnx", "junk.onnx"]


def test_inspect_describes_onnx_and_keras_files(tmp_path, keras_file):
    done = run_numrnn("inspect", keras_file)
    assert done.returncode == 0, done.stderr
    assert "holds: Keras 3 weights" in done.stdout
    assert "bidirectional: GRU (8 -> 2, float32, bidirectional, reset_after=True)" in done.stdout
    assert re.search(r"\n  lstm\.weight_ih_l0 +float32 +\(16, 3\) +192 B\n", done.stdout)
    numrnn.onnx.export(nn.LSTM(3, 4, rng=0), tmp_path / "lstm.onnx")
    done = run_numrnn("inspect", "--json", tmp_path / "lstm.onnx")
    assert done.returncode == 0, done.stderr
    description = json.loads(done.stdout)
    assert description["kind"] == "onnx"
    assert description["model"]["config"]["nodes"]["LSTM"] == 1
    assert {"name": "m0.l0.W", "dtype": "float32", "shape": [1, 16, 3], "bytes": 192} \
        in description["tensors"]
    (tmp_path / "cut.keras").write_bytes(keras_file.read_bytes()[:100])
    line = assert_one_line_refusal(run_numrnn("inspect", tmp_path / "cut.keras"), "inspect")
    assert "cut.keras: the HDF5 weights could not be read" in line and "truncated" in line
