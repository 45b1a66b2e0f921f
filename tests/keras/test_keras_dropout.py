"""A Keras layer's ``dropout`` and ``recurrent_dropout`` become numrnn's variational rates.

Keras's two rates mean what numrnn's ``input_dropout`` and ``recurrent_dropout`` mean
(one mask per sequence, training only), so ``load_layers`` builds each layer with
them; what numrnn cannot take is refused naming the setting and its value. The
files are hand-written (keras_files.py); test_keras_runtime.py's Keras-saved file
with both rates is checked in the last test, when Keras is installed.
"""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import numrnn
import numrnn.keras
from numrnn.commands.convert import convert_file
from numrnn.functional import cell_kinds

h5py = pytest.importorskip("h5py")

from keras_files import (  # noqa: E402
    GROUP_NAMES,
    keras_layer_output,
    keras_zip,
    layer_config,
    random_cell,
    write_weights,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
KINDS = (("LSTM", {}), ("GRU", {"reset_after": True}), ("RNN", {"nonlinearity": "tanh"}))


def keras_file(path, kind, options, bidirectional=False, **rates):
    """A ``.keras`` file of one layer (3 -> 4) whose config holds ``rates``; its cells."""
    rng = np.random.default_rng(7)
    reset_after = options.get("reset_after", True)
    directions = [random_cell(kind, 3, 4, rng, reset_after=reset_after)
                  for _ in range(2 if bidirectional else 1)]
    config = layer_config(kind, "encoder", 4, reset_after=reset_after,
                          bidirectional=bidirectional, **rates)
    group = "bidirectional" if bidirectional else GROUP_NAMES[kind]
    keras_zip(path, [(group, "encoder", kind, directions)], [config])
    return path, group, directions


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind, options", KINDS)
def test_rates_of_the_config_are_the_built_layers_and_inference_is_unchanged(
        tmp_path, kind, options, bidirectional):
    path, group, directions = keras_file(tmp_path / "model.keras", kind, options, bidirectional,
                                         dropout=0.25, recurrent_dropout=0.4)
    assert numrnn.keras.read_layers(path)[group].dropout == 0.25
    layer = numrnn.keras.load_layers(path)[group]
    assert (layer.input_dropout, layer.recurrent_dropout) == (0.25, 0.4)
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    expected = keras_layer_output(kind, directions, x, **options)
    layer.eval()
    np.testing.assert_allclose(layer(x)[0].data, expected, atol=1e-5, rtol=0)
    # In training mode the rates drop something: the masks are drawn.
    layer.train()
    assert not np.allclose(layer(x)[0].data, expected, atol=1e-3)


def test_without_dropout_the_layers_are_built_plain(tmp_path):
    path, group, _ = keras_file(tmp_path / "model.keras", "LSTM", {}, dropout=0.25,
                                recurrent_dropout=0.4)
    layer = numrnn.keras.load_layers(path, dropout=False)[group]
    assert (layer.input_dropout, layer.recurrent_dropout) == (0.0, 0.0)


def test_a_weights_file_has_no_rates(tmp_path):
    path = tmp_path / "lstm.weights.h5"
    write_weights(path, [("lstm", "lstm", "LSTM",
                          [random_cell("LSTM", 3, 4, np.random.default_rng(0))])])
    layer = numrnn.keras.load_layers(path)["lstm"]
    assert (layer.input_dropout, layer.recurrent_dropout) == (0.0, 0.0)


@pytest.mark.parametrize("setting", ["dropout", "recurrent_dropout"])
def test_a_rate_of_one_is_refused_by_name_unless_dropout_is_left_out(tmp_path, setting):
    path, group, _ = keras_file(tmp_path / "model.keras", "GRU", {}, **{setting: 1.0})
    with pytest.raises(numrnn.FormatError, match=rf"Keras layer 'gru' has {setting}=1.0; "
                                                 r"numrnn's rates are in \[0, 1\)"):
        numrnn.keras.load_layers(path)
    assert numrnn.keras.load_layers(path, dropout=False)[group].recurrent_dropout == 0.0


def test_recurrent_dropout_on_a_reset_before_gru_loads(tmp_path):
    # Keras's GRU(reset_after=False) with recurrent_dropout: its fused kernel
    # applies the recurrent mask, so the rates come through.
    path, group, _ = keras_file(tmp_path / "model.keras", "GRU", {"reset_after": False},
                                dropout=0.1, recurrent_dropout=0.3)
    layer = numrnn.keras.load_layers(path)[group]
    assert layer.reset_after is False
    assert (layer.input_dropout, layer.recurrent_dropout) == (0.1, 0.3)


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.2", True, None])
def test_a_rate_that_is_not_one_is_refused(tmp_path, rate):
    path, _, _ = keras_file(tmp_path / "model.keras", "LSTM", {}, recurrent_dropout=rate)
    with pytest.raises(numrnn.FormatError, match=r"Keras layer 'lstm': numrnn has no layer "
                                                 r"computing its recurrent_dropout "
                                                 + re.escape(repr(rate))
                                                 + r" \(a rate in \[0, 1\]\)"):
        numrnn.keras.read_layers(path)


def test_a_backward_layer_of_other_rates_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    config = layer_config("LSTM", "encoder", 4, bidirectional=True, dropout=0.2)
    backward = json.loads(json.dumps(config["config"]["layer"]))
    backward["config"]["dropout"] = 0.3
    config["config"]["backward_layer"] = backward
    rng = np.random.default_rng(0)
    keras_zip(path, [("bidirectional", "encoder", "LSTM",
                      [random_cell("LSTM", 3, 4, rng), random_cell("LSTM", 3, 4, rng)])],
              [config])
    with pytest.raises(numrnn.FormatError, match=r"a backward_layer unlike the forward layer"):
        numrnn.keras.read_layers(path)


def test_load_into_a_built_layer_copies_weights_only(tmp_path):
    path, _, _ = keras_file(tmp_path / "model.keras", "LSTM", {}, dropout=0.25)
    layer = numrnn.keras.load(path, numrnn.nn.LSTM(3, 4, batch_first=True,
                                                   recurrent_dropout=0.1))
    assert (layer.input_dropout, layer.recurrent_dropout) == (0.0, 0.1)


def test_convert_keeps_the_rates_in_a_model_file_and_needs_none_for_onnx(tmp_path):
    path, _, _ = keras_file(tmp_path / "model.keras", "LSTM", {}, dropout=0.25,
                            recurrent_dropout=0.4)
    convert_file(path, tmp_path / "model.safetensors")
    model = numrnn.load_model(tmp_path / "model.safetensors")
    assert (model.input_dropout, model.recurrent_dropout) == (0.25, 0.4)
    pytest.importorskip("onnx")
    reset_before, _, _ = keras_file(tmp_path / "reset_before.keras", "GRU",
                                    {"reset_after": False}, recurrent_dropout=0.3)
    convert_file(reset_before, tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").stat().st_size > 0


KERAS_CHILD = r"""
import sys
import numpy as np
import keras

directory = sys.argv[1]
model = keras.Sequential([
    keras.Input((None, 3)),
    keras.layers.LSTM(4, dropout=0.2, recurrent_dropout=0.3, return_sequences=True),
    keras.layers.Bidirectional(keras.layers.GRU(5, dropout=0.1, recurrent_dropout=0.05,
                                                return_sequences=True)),
    keras.layers.SimpleRNN(2, recurrent_dropout=0.5),
], name="sequential")
x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype("float32")
np.savez(f"{directory}/run.npz", x=x, output=keras.ops.convert_to_numpy(model(x)))
model.save(f"{directory}/model.keras")
print("done")
"""


@pytest.mark.skipif(importlib.util.find_spec("keras") is None
                    or importlib.util.find_spec("torch") is None,
                    reason="Keras 3 with its PyTorch backend needs the keras and torch packages")
def test_a_keras_saved_model_loads_with_its_rates_and_its_inference(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", KERAS_CHILD, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-3000:]
    layers = numrnn.keras.load_layers(tmp_path / "model.keras")
    rates = {name: (layer.input_dropout, layer.recurrent_dropout)
             for name, layer in layers.items()}
    assert rates == {"lstm": (0.2, 0.3), "bidirectional": (0.1, 0.05),
                     "simple_rnn": (0.0, 0.5)}
    run = np.load(tmp_path / "run.npz")
    for layer in layers.values():
        layer.eval()
    sequences, _ = layers["lstm"](run["x"])
    sequences, _ = layers["bidirectional"](sequences)
    _, h_n = layers["simple_rnn"](sequences)
    np.testing.assert_allclose(h_n.data[-1], run["output"], atol=1e-5, rtol=0)


def test_a_rate_the_cell_table_refuses_is_refused_by_name(tmp_path):
    # No kind refuses recurrent_dropout today; give the LSTM record a refusal
    # for the test's duration to check the importer asks the table.
    record, reason = cell_kinds.LSTM, "recurrent_dropout refused by a test's kind"
    original = record.recurrent_dropout_refusal
    object.__setattr__(record, "recurrent_dropout_refusal", lambda options: reason)
    try:
        path, group, _ = keras_file(tmp_path / "model.keras", "LSTM", {},
                                    recurrent_dropout=0.3)
        with pytest.raises(numrnn.FormatError, match=rf"recurrent_dropout=0.3, .*\({reason}\)"):
            numrnn.keras.load_layers(path)
        assert numrnn.keras.load_layers(path, dropout=False)[group].recurrent_dropout == 0.0
    finally:
        object.__setattr__(record, "recurrent_dropout_refusal", original)
