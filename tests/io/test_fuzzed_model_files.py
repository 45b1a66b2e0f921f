"""Truncated and bit-flipped ONNX and Keras files: refused with a FormatError, or loaded truly.

Valid files written here (two ONNX exports, a ``.keras`` and a ``.weights.h5``)
are cut short at many lengths and have single bytes changed at many places,
from fixed seeds. One child process, its memory capped at its baseline plus
100 MB, loads every mutated file in turn and prints one JSON line per file, so
that a crash or a hang of protobuf, zipfile or HDF5 is a failed test, not a dead
test run; a case missing from its output is a failure.

A mutated file that loads must hold what the loaded model holds: the child
reads the file's float tensors again with the format's own library (onnx's
``numpy_helper`` for the initializers; h5py for the datasets of every
``.../cell/vars`` group, where Keras keeps a recurrent cell's variables) and
compares the multiset of their values with the model's parameters. The
loaders only reorder the file's values into numrnn's layout (and add zero
biases for Keras's single-bias cells), so the model must hold every value of
the file and nothing more but zeros: a byte changed in a weight must change
that weight, and nothing else may change. A ``.weights.h5`` whose group name
``cell`` was changed holds one recurrent cell fewer in Keras's layout, and
loads as one layer fewer (a ``.keras`` file's config would list it, and is
refused).
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from numrnn import nn

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the memory cap needs Linux (RLIMIT_AS, /proc)")
onnx = pytest.importorskip("onnx")
h5py = pytest.importorskip("h5py")

import numrnn.onnx  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "keras"))
from keras_files import keras_zip, layer_config, random_cell, write_weights  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TRUNCATIONS = 50
FLIPS = 110

CHILD = r"""
import collections, io, json, resource, sys, time, zipfile
import numpy as np
import h5py
from onnx import load_model_from_string, numpy_helper
import numrnn, numrnn.keras, numrnn.onnx

CAP_BYTES = 100 * 2**20


def address_space():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024


def values(arrays):
    counts = collections.Counter()
    for array in arrays:
        counts.update(np.asarray(array, dtype=np.float64).ravel().tolist())
    return counts


def file_values(path, data):
    if path.endswith(".onnx"):
        model = load_model_from_string(data)
        return values(numpy_helper.to_array(tensor) for tensor in model.graph.initializer
                      if tensor.data_type in (1, 11))
    if path.endswith(".keras"):
        data = zipfile.ZipFile(io.BytesIO(data)).read("model.weights.h5")
    found = []

    def walk(group, path):
        for name in group.keys():
            member = group[name]
            if isinstance(member, h5py.Group):
                walk(member, f"{path}/{name}")
            elif path.endswith("/cell/vars") and member.dtype.kind == "f":
                found.append(member[()])

    with h5py.File(io.BytesIO(data), "r") as root:
        walk(root, "")
    return values(found)


def model_values(path):
    if path.endswith(".onnx"):
        return values(numrnn.onnx.load(path).state_dict().values())
    layers = numrnn.keras.load_layers(path)
    return values(array for layer in layers.values() for array in layer.state_dict().values())


def surplus(path):
    with open(path, "rb") as file:
        data = file.read()
    difference = model_values(path)
    difference.subtract(file_values(path, data))
    return sorted((value, count) for value, count in difference.items() if count)


def faithful(path):
    return all(value == 0.0 and count > 0 for value, count in surplus(path))


assert all(faithful(path) for path in sys.argv[1:]), "an unmutated file loads unfaithfully"
resource.setrlimit(resource.RLIMIT_AS, (address_space() + CAP_BYTES, resource.RLIM_INFINITY))
for line in sys.stdin:
    case = json.loads(line)
    start = time.perf_counter()
    error, loaded_faithfully = None, None
    try:
        loaded_faithfully = faithful(case["path"])
    except Exception as exc:  # reported to the parent, which asserts on it
        error = exc
    print(json.dumps({"name": case["name"], "seconds": time.perf_counter() - start,
                      "error": None if error is None else type(error).__name__,
                      "numrnn_error": isinstance(error, numrnn.FormatError),
                      "message": str(error)[:300], "faithful": loaded_faithfully}), flush=True)
"""


def base_files(directory):
    """The valid files every mutation starts from."""
    paths = [directory / "lstm.onnx", directory / "tagger.onnx", directory / "model.keras",
             directory / "model.weights.h5"]
    numrnn.onnx.export(nn.LSTM(3, 4, bidirectional=True, rng=0), paths[0],
                       initial_states=True, lengths=True)
    numrnn.onnx.export(nn.Sequential(nn.Embedding(7, 3, rng=1), nn.GRU(3, 4, reset_after=False,
                                                                      rng=2)), paths[1])
    rng = np.random.default_rng(3)
    keras_zip(paths[2], [("lstm", "lstm", "LSTM", [random_cell("LSTM", 3, 4, rng)]),
                         ("bidirectional", "bi", "GRU",
                          [random_cell("GRU", 8, 2, rng), random_cell("GRU", 8, 2, rng)])],
              [layer_config("LSTM", "lstm", 4),
               layer_config("GRU", "bi", 2, bidirectional=True)])
    write_weights(paths[3], [
        ("simple_rnn", "rnn", "RNN", [random_cell("RNN", 2, 3, rng)]),
        ("gru", "gru", "GRU", [random_cell("GRU", 3, 2, rng, reset_after=False)])])
    return paths


def mutations(data, seed):
    """``(label, bytes)``: the file cut at TRUNCATIONS lengths, then FLIPS one-byte changes."""
    rng = np.random.default_rng(seed)
    for length in sorted(rng.choice(len(data), size=TRUNCATIONS, replace=False)):
        yield f"cut to {length}", data[:length]
    for _ in range(FLIPS):
        position, mask = int(rng.integers(len(data))), int(rng.integers(1, 256))
        changed = bytearray(data)
        changed[position] ^= mask
        yield f"byte {position} ^ {mask:#04x}", bytes(changed)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    cases = []
    for seed, base in enumerate(base_files(directory)):
        for index, (label, data) in enumerate(mutations(base.read_bytes(), seed)):
            path = directory / f"{index}-{base.name}"
            path.write_bytes(data)
            cases.append({"name": f"{base.name}: {label}", "path": str(path),
                          "base": str(base)})
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD, *{case["base"] for case in cases}],
                          input="".join(json.dumps(case) + "\n" for case in cases), cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    reports = {}
    for line in done.stdout.splitlines():
        report = json.loads(line)
        reports[report["name"]] = report
    return cases, reports, done


def test_every_mutated_file_is_refused_or_loaded_faithfully(outcomes):
    cases, reports, done = outcomes
    missing = [case["name"] for case in cases if case["name"] not in reports]
    assert not missing, (f"the child stopped (exit {done.returncode}) before "
                         f"{missing[:3]}: {done.stderr[-2000:]}")
    escaped = [(name, report["error"], report["message"]) for name, report in reports.items()
               if report["error"] is not None and not report["numrnn_error"]]
    assert not escaped, escaped[:5]
    unfaithful = [name for name, report in reports.items() if report["faithful"] is False]
    assert not unfaithful, unfaithful[:5]
    slow = [(name, report["seconds"]) for name, report in reports.items()
            if report["seconds"] > 1.0]
    assert not slow, slow[:5]


def test_the_fuzzing_reaches_both_outcomes_for_each_format(outcomes):
    cases, reports, _ = outcomes
    for suffix in (".onnx", ".keras", ".weights.h5"):
        mine = [reports[case["name"]] for case in cases if case["base"].endswith(suffix)]
        assert any(report["error"] is None for report in mine), suffix
        assert sum(report["error"] is not None for report in mine) > len(mine) // 4, suffix
