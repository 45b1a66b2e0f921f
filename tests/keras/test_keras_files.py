"""numrnn.keras on hand-written Keras 3 files: Keras's equations reproduced, bad files refused.

These need h5py only, not Keras: the files are written in Keras 3's layout by
keras_files.py, whose layout test_keras_runtime.py checks against Keras.
"""

import numpy as np
import pytest

import numrnn
import numrnn.keras
from numrnn import nn

h5py = pytest.importorskip("h5py")

from keras_files import (  # noqa: E402
    GROUP_NAMES,
    keras_layer_output,
    keras_zip,
    layer_config,
    random_cell,
    write_weights,
)

KINDS = (("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False}),
         ("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}))
LAYER_CLASSES = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}


def random_case(seed):
    rng = np.random.default_rng(seed)
    kind, options = KINDS[seed % len(KINDS)]
    return {"kind": kind, "options": options, "bias": bool(rng.integers(0, 4)),
            "bidirectional": bool(rng.integers(0, 2)), "input_size": int(rng.integers(1, 6)),
            "hidden_size": int(rng.integers(1, 7)), "batch": int(rng.integers(1, 4)),
            "steps": int(rng.integers(1, 6)),
            "dtype": np.float64 if seed % 3 == 0 else np.float32, "rng": rng}


def case_layers(case):
    directions = [random_case_cell(case) for _ in range(2 if case["bidirectional"] else 1)]
    group = "bidirectional" if case["bidirectional"] else GROUP_NAMES[case["kind"]]
    return [(group, "my_layer", case["kind"], directions)]


def random_case_cell(case):
    return random_cell(case["kind"], case["input_size"], case["hidden_size"], case["rng"],
                       bias=case["bias"], reset_after=case["options"].get("reset_after", True),
                       dtype=case["dtype"])


def config_of(case):
    return layer_config(case["kind"], "my_layer", case["hidden_size"], bias=case["bias"],
                        bidirectional=case["bidirectional"], **case["options"])


def expected_output(case, layers, x):
    return keras_layer_output(case["kind"], layers[0][3], x,
                              reset_after=case["options"].get("reset_after", True),
                              nonlinearity=case["options"].get("nonlinearity", "tanh"))


def tolerance(case):
    return 1e-12 if case["dtype"] == np.float64 else 1e-5


@pytest.mark.parametrize("seed", range(20))
def test_keras_file_layer_computes_keras_equations(tmp_path, seed):
    case = random_case(seed)
    layers = case_layers(case)
    path = tmp_path / "model.keras"
    keras_zip(path, layers, [config_of(case)])
    built = numrnn.keras.load_layers(path)
    assert list(built) == [layers[0][0]]
    layer = built[layers[0][0]]
    assert isinstance(layer, LAYER_CLASSES[case["kind"]]) and layer.batch_first
    assert layer.dtype == case["dtype"] and layer.bidirectional == case["bidirectional"]
    x = case["rng"].standard_normal((case["batch"], case["steps"], case["input_size"]))
    x = x.astype(case["dtype"])
    output, _ = layer(x)
    np.testing.assert_allclose(output.data, expected_output(case, layers, x),
                               atol=tolerance(case), rtol=0)


@pytest.mark.parametrize("seed", range(20, 30))
def test_weights_file_loads_into_a_layer_built_by_hand(tmp_path, seed):
    case = random_case(seed)
    layers = case_layers(case)
    path = tmp_path / "model.weights.h5"
    write_weights(path, layers)
    module = LAYER_CLASSES[case["kind"]](case["input_size"], case["hidden_size"],
                                         bias=case["bias"], bidirectional=case["bidirectional"],
                                         dtype=case["dtype"], **case["options"])
    assert numrnn.keras.load(path, module) is module
    x = case["rng"].standard_normal((case["steps"], case["batch"], case["input_size"]))
    x = x.astype(case["dtype"])
    output, _ = module(x)
    expected = expected_output(case, layers, x.transpose(1, 0, 2)).transpose(1, 0, 2)
    np.testing.assert_allclose(output.data, expected, atol=tolerance(case), rtol=0)


def test_two_keras_layers_load_into_a_stacked_layer(tmp_path):
    rng = np.random.default_rng(5)
    first = [random_cell("GRU", 3, 4, rng), random_cell("GRU", 3, 4, rng)]
    second = [random_cell("GRU", 8, 4, rng), random_cell("GRU", 8, 4, rng)]
    path = tmp_path / "stack.weights.h5"
    write_weights(path, [("bidirectional", "b0", "GRU", first),
                         ("bidirectional_1", "b1", "GRU", second)])
    module = numrnn.keras.load(path, nn.GRU(3, 4, num_layers=2, bidirectional=True,
                                            batch_first=True),
                               layer=["bidirectional", "bidirectional_1"])
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    expected = keras_layer_output("GRU", second, keras_layer_output("GRU", first, x))
    np.testing.assert_allclose(module(x)[0].data, expected, atol=1e-5, rtol=0)


def test_h_n_is_keras_output_without_return_sequences(tmp_path):
    rng = np.random.default_rng(6)
    directions = [random_cell("LSTM", 3, 4, rng), random_cell("LSTM", 3, 4, rng)]
    path = tmp_path / "bi.weights.h5"
    write_weights(path, [("bidirectional", "bi", "LSTM", directions)])
    layer = numrnn.keras.load_layers(path)["bidirectional"]
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    _, (h_n, _) = layer(x)
    sequences = keras_layer_output("LSTM", directions, x)
    # Keras's Bidirectional without return_sequences: the forward layer's last step and
    # the backward layer's last (the first in time).
    expected = np.concatenate([sequences[:, -1, :4], sequences[:, 0, 4:]], axis=-1)
    np.testing.assert_allclose(np.concatenate([h_n.data[0], h_n.data[1]], axis=-1), expected,
                               atol=1e-5, rtol=0)
