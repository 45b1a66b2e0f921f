"""numrnn.keras against Keras 3 itself, running on its PyTorch backend.

A child process (so that Keras's backend choice and its imports stay out of
the test run) builds Keras models over random configurations, gives them random
weights, saves them as ``.keras`` and ``.weights.h5`` and runs them; the test
loads the files into numrnn and compares the outputs (float32, 1e-5). It also
writes a model whose weight-file layout the hand-written files of
keras_files.py must reproduce, so that the tests that need no Keras test the
layout Keras writes.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import numrnn
import numrnn.keras
from numrnn import nn

pytest.importorskip("h5py")
if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
    pytest.skip("Keras 3 with its PyTorch backend needs the keras and torch packages",
                allow_module_level=True)

import h5py  # noqa: E402
from keras_files import write_weights  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
KIND_CLASSES = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}

CHILD = r"""
import json, sys
import numpy as np
import keras

cases, directory = json.loads(sys.argv[1]), sys.argv[2]
classes = {"LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU, "RNN": keras.layers.SimpleRNN}


def recurrent(case, name):
    options = {"units": case["hidden_size"], "use_bias": case["bias"],
               "return_sequences": case["return_sequences"], "name": name}
    if case["kind"] == "GRU":
        options["reset_after"] = case["reset_after"]
    if case["kind"] == "RNN":
        options["activation"] = case["nonlinearity"]
    return classes[case["kind"]](**options)


for index, case in enumerate(cases):
    rng = np.random.default_rng(index)
    layer = recurrent(case, "layer")
    if case["bidirectional"]:
        layer = keras.layers.Bidirectional(layer, name="layer")
    model = keras.Sequential([keras.Input((None, case["input_size"])), layer],
                             name="sequential")
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype("float32")
                       for w in model.get_weights()])
    x = rng.standard_normal((case["batch"], case["steps"], case["input_size"]))
    x = x.astype("float32")
    output = keras.ops.convert_to_numpy(model(x))
    model.save(f"{directory}/{index}.keras")
    model.save_weights(f"{directory}/{index}.weights.h5")
    np.savez(f"{directory}/{index}.npz", x=x, output=output)

layout = keras.Sequential([
    keras.Input((None, 3)),
    keras.layers.LSTM(4, return_sequences=True, name="lstm_a"),
    keras.layers.Bidirectional(keras.layers.GRU(5, reset_after=False, return_sequences=True,
                                                name="bi"), name="bi"),
    keras.layers.GRU(2, return_sequences=True, name="gru_b"),
    keras.layers.SimpleRNN(3, use_bias=False, name="rnn_c"),
], name="sequential")
layout.save_weights(f"{directory}/layout.weights.h5")
print("done")
"""


def random_cases(count):
    rng = np.random.default_rng(2026)
    kinds = [("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False}),
             ("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"})]
    cases = []
    for index in range(count):
        kind, options = kinds[index % len(kinds)]
        cases.append({"kind": kind, "reset_after": True, "nonlinearity": "tanh", **options,
                      "bias": bool(rng.integers(0, 4)), "bidirectional": bool(index % 2),
                      "return_sequences": bool(rng.integers(0, 2)),
                      "input_size": int(rng.integers(1, 6)),
                      "hidden_size": int(rng.integers(1, 7)), "batch": int(rng.integers(1, 4)),
                      "steps": int(rng.integers(1, 7))})
    return cases


CASES = random_cases(12)


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keras")
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CASES), str(directory)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-3000:]
    return directory


def keras_output_of(layer, case, x):
    """What the Keras layer returns, from numrnn's batch-first layer."""
    output, state = layer(x)
    if case["return_sequences"]:
        return output.data
    h_n = (state[0] if case["kind"] == "LSTM" else state).data
    return np.concatenate(list(h_n), axis=-1)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_keras_file_gives_keras_outputs(keras_files, index):
    case = CASES[index]
    arrays = np.load(keras_files / f"{index}.npz")
    layers = numrnn.keras.load_layers(keras_files / f"{index}.keras")
    assert list(layers) == ["bidirectional" if case["bidirectional"] else
                            {"LSTM": "lstm", "GRU": "gru", "RNN": "simple_rnn"}[case["kind"]]]
    layer = next(iter(layers.values()))
    assert type(layer) is KIND_CLASSES[case["kind"]]
    np.testing.assert_allclose(keras_output_of(layer, case, arrays["x"]), arrays["output"],
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_weights_file_into_a_built_layer_gives_keras_outputs(keras_files, index):
    case = CASES[index]
    options = {"GRU": {"reset_after": case["reset_after"]},
               "RNN": {"nonlinearity": case["nonlinearity"]}}.get(case["kind"], {})
    layer = KIND_CLASSES[case["kind"]](case["input_size"], case["hidden_size"],
                                       bias=case["bias"], bidirectional=case["bidirectional"],
                                       batch_first=True, **options)
    numrnn.keras.load(keras_files / f"{index}.weights.h5", layer)
    arrays = np.load(keras_files / f"{index}.npz")
    np.testing.assert_allclose(keras_output_of(layer, case, arrays["x"]), arrays["output"],
                               atol=1e-5, rtol=0)


def tree(path):
    """Every group and dataset of an HDF5 file: path, shape, dtype and attributes."""
    entries = []

    def visit(name, member):
        shape = getattr(member, "shape", None)
        entries.append((name, shape, str(getattr(member, "dtype", "")),
                        sorted((key, str(value)) for key, value in member.attrs.items())))

    with h5py.File(path, "r") as root:
        root.visititems(visit)
    return sorted(entries)


def test_hand_written_layout_is_keras_layout(keras_files, tmp_path):
    source = keras_files / "layout.weights.h5"
    with h5py.File(source, "r") as root:
        def cell(group):
            variables = root[f"layers/{group}/cell/vars"]
            return [variables[name][()] for name in sorted(variables)]
        layers = [("lstm", "lstm_a", "LSTM", [cell("lstm")]),
                  ("bidirectional", "bi", "GRU",
                   [cell("bidirectional/forward_layer"), cell("bidirectional/backward_layer")]),
                  ("gru", "gru_b", "GRU", [cell("gru")]),
                  ("simple_rnn", "rnn_c", "RNN", [cell("simple_rnn")])]
    copy = tmp_path / "copy.weights.h5"
    write_weights(copy, layers)
    assert tree(copy) == tree(source)
    from_keras, from_copy = numrnn.keras.read_layers(source), numrnn.keras.read_layers(copy)
    assert list(from_keras) == ["bidirectional", "gru", "lstm", "simple_rnn"]
    for name, layer in from_keras.items():
        for ours, theirs in zip(from_copy[name].weights, layer.weights):
            assert ours.keys() == theirs.keys()
            for key in ours:
                np.testing.assert_array_equal(ours[key], theirs[key])
