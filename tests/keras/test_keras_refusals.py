"""numrnn.keras refuses what it cannot load faithfully, naming what was expected and got."""

import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import numrnn
import numrnn.keras
from numrnn import nn

h5py = pytest.importorskip("h5py")

from keras_files import keras_zip, layer_config, random_cell, write_weights  # noqa: E402

LSTM_VARS = "layers/lstm/cell/vars"


def lstm_file(path, edit=None):
    """A Keras LSTM(3 -> 4) weight file, then ``edit(root)`` applied with h5py."""
    write_weights(path, [("lstm", "lstm", "LSTM",
                          [random_cell("LSTM", 3, 4, np.random.default_rng(0))])])
    if edit is not None:
        with h5py.File(path, "a") as root:
            edit(root)
    return path


def replace(name, data, **options):
    def edit(root):
        del root[f"{LSTM_VARS}/{name}"]
        root[LSTM_VARS].create_dataset(name, data=data, **options)
    return edit


def declared_only(name, shape):
    def edit(root):
        del root[f"{LSTM_VARS}/{name}"]
        root[LSTM_VARS].create_dataset(name, shape=shape, dtype="f4")
    return edit


def link(kind):
    def edit(root):
        del root[f"{LSTM_VARS}/1"]
        root[LSTM_VARS]["1"] = (h5py.SoftLink(f"/{LSTM_VARS}/0") if kind == "soft"
                                else h5py.ExternalLink("/etc/other.h5", "/weights"))
    return edit


EDITS = {
    "kernel of ints": (replace("0", np.ones((3, 16), np.int32)), r"holds int32; numrnn reads"),
    "kernel of 3 dimensions": (replace("0", np.ones((3, 16, 1), np.float32)),
                               r"has shape \(3, 16, 1\); a recurrent weight has 1 or 2"),
    "two gate blocks": (replace("1", np.ones((8, 16), np.float32)),
                        r"recurrent kernel \(8, 16\) has 2 gate blocks; LSTM has 4"),
    "kernel and recurrent kernel disagree": (
        replace("0", np.ones((3, 12), np.float32)),
        r"kernel \(3, 12\) and recurrent kernel \(4, 16\) are not"),
    "LSTM bias of a GRU's shape": (replace("2", np.ones((2, 16), np.float32)),
                                   r"a LSTM bias of 4 units has shape \(16,\), got \(2, 16\)"),
    "NaN weight": (replace("0", np.full((3, 16), np.nan, np.float32)), r"NaN or infinite"),
    "gzip-compressed bias": (replace("2", np.ones(16, np.float32), compression="gzip"),
                             r"compressed, filtered, virtual or kept in another file"),
    "declared 10**7 rows in a small file": (
        declared_only("0", (10**7, 16)), r"declares shape \(10000000, 16\) \(640000000 bytes\), "
                                         r"more than the file's"),
    "a fourth variable": (lambda root: root[LSTM_VARS].create_dataset("3", data=[1.0]),
                          r"holds the variables 0, 1 and \(with a bias\) 2.*"
                          r"\['0', '1', '2', '3'\]"),
    "a soft link": (link("soft"), r"'/layers/lstm/cell/vars/1' is a SoftLink; numrnn reads only"),
    "an external link": (link("external"), r"is a ExternalLink; numrnn reads only plain"),
}


@pytest.mark.parametrize("name", EDITS)
def test_malformed_weights_are_refused(tmp_path, name):
    edit, pattern = EDITS[name]
    path = lstm_file(tmp_path / "bad.weights.h5", edit)
    with pytest.raises(numrnn.FormatError, match=pattern):
        numrnn.keras.read_layers(path)


def lstm_keras(path, **changes):
    rng = np.random.default_rng(0)
    bidirectional = changes.pop("bidirectional", False)
    merge_mode = changes.pop("merge_mode", None)
    directions = [random_cell("LSTM", 3, 4, rng) for _ in range(2 if bidirectional else 1)]
    config = layer_config("LSTM", "encoder", 4, bidirectional=bidirectional, **changes)
    if merge_mode is not None:
        config["config"]["merge_mode"] = merge_mode
    group = "bidirectional" if bidirectional else "lstm"
    keras_zip(path, [(group, "encoder", "LSTM", directions)], [config])
    return path


CONFIGS = {
    "relu LSTM": ({"activation": "relu"}, r"no layer computing its activation 'relu'"),
    "hard sigmoid gates": ({"recurrent_activation": "hard_sigmoid"},
                           r"recurrent_activation 'hard_sigmoid' \(numrnn's gates are sigmoid\)"),
    "go_backwards": ({"go_backwards": True}, r"go_backwards \(numrnn's one-directional"),
    "sum of directions": ({"bidirectional": True, "merge_mode": "sum"},
                          r"merge_mode 'sum' \(numrnn concatenates"),
    "units that disagree": ({"units": 5}, r"config says \{'kind': 'LSTM', 'units': 5, "
                                          r"'use_bias': True\}, its weights are .*'units': 4"),
    "no bias said, a bias held": ({"use_bias": False}, r"'use_bias': False\}, its weights"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_asking_for_what_numrnn_does_not_compute_is_refused(tmp_path, name):
    changes, pattern = CONFIGS[name]
    path = lstm_keras(tmp_path / "model.keras", **changes)
    with pytest.raises(numrnn.FormatError,
                       match=r"Keras layer '(lstm|bidirectional)': .*" + pattern):
        numrnn.keras.load_layers(path)


def test_config_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    keras_zip(path, [("lstm", "encoder", "LSTM", [random_cell("LSTM", 3, 4,
                                                              np.random.default_rng(0))])],
              [layer_config("GRU", "encoder", 4)])
    with pytest.raises(numrnn.FormatError, match=r"the weights hold a recurrent layer 'lstm' "
                                                 r"that the config does not list \(it lists "
                                                 r"\['gru'\]\)"):
        numrnn.keras.read_layers(path)


def test_config_listing_a_layer_the_weights_lack_is_refused(tmp_path):
    path = tmp_path / "model.keras"
    keras_zip(path, [("lstm", "encoder", "LSTM", [random_cell("LSTM", 3, 4,
                                                              np.random.default_rng(0))])],
              [layer_config("LSTM", "encoder", 4), layer_config("GRU", "decoder", 4)])
    with pytest.raises(numrnn.FormatError, match=r"the config lists the recurrent layers "
                                                 r"\['gru'\], whose weights the file does not"):
        numrnn.keras.read_layers(path)


def test_files_that_are_not_keras_files_are_refused(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(numrnn.FormatError, match=r"not a Keras file: .* starts with b'\\x00"):
        numrnn.keras.read_layers(junk)
    empty_zip = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(numrnn.FormatError, match=r"must hold 'model.weights.h5'; it holds "
                                                 r"\['config.json'\]"):
        numrnn.keras.read_layers(empty_zip)


def test_file_without_recurrent_layers_is_refused(tmp_path):
    path = tmp_path / "dense.weights.h5"
    with h5py.File(path, "w") as root:
        root.create_group("layers/dense/vars").create_dataset("0", data=np.ones((3, 2)))
        root.create_group("model_weights/lstm/lstm/kernel:0")
    with pytest.raises(numrnn.FormatError, match=r"holds no recurrent layer in Keras 3's layout "
                                                 r".*Keras 2's .h5 files"):
        numrnn.keras.load_layers(path)


def test_bias_free_gru_needs_reset_after_from_config_or_layer(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "gru.weights.h5"
    write_weights(path, [("gru", "gru", "GRU", [random_cell("GRU", 3, 4, rng, bias=False)])])
    with pytest.raises(numrnn.FormatError, match=r"a GRU without a bias and no config says "
                                                 r"its reset_after"):
        numrnn.keras.load_layers(path)
    layer = numrnn.keras.load(path, nn.GRU(3, 4, bias=False, reset_after=False))
    assert layer.reset_after is False


@pytest.mark.parametrize("module, pattern", [
    (nn.GRU(3, 4), r"Keras layer 'lstm' is a LSTM, the module a GRU"),
    (nn.LSTM(3, 4, bidirectional=True), r"'lstm' is not bidirectional, the module is\b"),
    (nn.LSTM(3, 5), r"'weight_ih_l0': the module expects shape \(20, 3\), the file has "
                    r"\(16, 3\)"),
    (nn.LSTM(3, 4, dtype=np.float64), r"the module holds float64, the file float32"),
])
def test_layer_that_does_not_match_keeps_its_weights(tmp_path, module, pattern):
    path = lstm_file(tmp_path / "lstm.weights.h5")
    before = {name: array.copy() for name, array in module.state_dict().items()}
    with pytest.raises(numrnn.FormatError, match=pattern):
        numrnn.keras.load(path, module)
    for name, array in module.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_layer_names_are_checked(tmp_path):
    path = lstm_file(tmp_path / "lstm.weights.h5")
    with pytest.raises(numrnn.FormatError, match=r"no recurrent layer 'encoder'; the file "
                                                 r"holds \['lstm'\]"):
        numrnn.keras.load(path, nn.LSTM(3, 4), layer="encoder")
    with pytest.raises(numrnn.ArgumentError, match=r"layer must name 2 Keras layer"):
        numrnn.keras.load(path, nn.LSTM(3, 4, num_layers=2), layer="lstm")
    with pytest.raises(numrnn.FormatError, match=r"holds 1 recurrent layer\(s\) \['lstm'\] for "
                                                 r"a LSTM of 2 layer\(s\): name them"):
        numrnn.keras.load(path, nn.LSTM(3, 4, num_layers=2))


def test_without_h5py_the_error_names_the_extra(tmp_path, monkeypatch):
    path = lstm_file(tmp_path / "lstm.weights.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(numrnn.MissingExtraError, match=r"pip install 'numrnn\[keras\]'"):
        numrnn.keras.read_layers(path)


def test_datasets_sharing_storage_may_not_declare_more_than_the_file(tmp_path):
    # Hard links make ten layers of one cell's datasets: each fits the file, all do not.
    path = lstm_file(tmp_path / "shared.weights.h5")
    with h5py.File(path, "a") as root:
        big = np.ones((3000, 16), np.float32)
        del root[f"{LSTM_VARS}/0"]
        root[LSTM_VARS].create_dataset("0", data=big)
        for copy in range(1, 10):
            root[f"layers/lstm_{copy}"] = root["layers/lstm"]
    with pytest.raises(numrnn.FormatError, match=r"declare more bytes in all than the file's"):
        numrnn.keras.read_layers(path)


def test_import_numrnn_leaves_h5py_unimported():
    root = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", "import sys, numrnn, numrnn.keras; "
                                                 "print('h5py' in sys.modules)"],
                          cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
