"""Hostile weight files: each is a FormatError within 1 s and 100 MB, whatever its content.

Every file is built here byte by byte (8-byte header length, JSON header, data),
then loaded in a child process whose address space is capped at its own
baseline plus 100 MB and whose every load is timed and bounded by an alarm, so
that a file which would exhaust memory or hang fails its test instead of the
test run. One child loads every file in turn (one ``import numrnn`` for all),
printing one JSON line per file; a case missing from its output is a failure.
"""

import json
import os
import pathlib
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from numrnn import nn

# The child caps its memory with RLIMIT_AS and reads its size from /proc.
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the memory cap needs Linux (RLIMIT_AS, /proc)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_SECONDS = 1.0
MAX_MESSAGE_CHARS = 2000

CHILD = r"""
import json, resource, signal, sys, time
import numrnn

CAP_BYTES = 100 * 2**20
UNLIMITED = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)


def address_space():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024


def alarm(signum, frame):
    raise TimeoutError("still loading after 10 s")


def chain(error):
    names = []
    while error is not None and len(names) < 20:
        names.append(type(error).__name__)
        error = error.__cause__ or error.__context__
    return names


signal.signal(signal.SIGALRM, alarm)
numrnn.load_model(sys.argv[1])  # warm-up: lazy imports and the model registry
for line in sys.stdin:
    case = json.loads(line)
    load = getattr(numrnn, case["call"])
    resource.setrlimit(resource.RLIMIT_AS, (address_space() + CAP_BYTES, UNLIMITED[1]))
    signal.alarm(10)
    error = None
    start = time.perf_counter()
    try:
        load(case["path"])
    except Exception as exc:  # reported to the parent, which asserts on it
        error = exc
    seconds = time.perf_counter() - start
    signal.alarm(0)
    resource.setrlimit(resource.RLIMIT_AS, UNLIMITED)
    print(json.dumps({"name": case["name"], "path": case["path"], "seconds": seconds,
                      "chain": chain(error), "message": str(error)[:10000]}), flush=True)
"""


# -- building files ------------------------------------------------------------------------
def safetensors_bytes(header_text, data):
    """The file: little-endian u64 header length, the header text, the tensors' bytes."""
    encoded = header_text.encode("utf-8")
    return struct.pack("<Q", len(encoded)) + encoded + data


def entries_and_data(state):
    """Header entries (name -> dtype, shape, data_offsets) and the bytes they describe."""
    entries, chunks, offset = {}, [], 0
    for name, array in state.items():
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        code = {"float32": "F32", "float64": "F64"}[array.dtype.name]
        entries[name] = {"dtype": code, "shape": list(array.shape),
                         "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return entries, b"".join(chunks)


def lstm_parts():
    """An LSTM(3, 4)'s header entries and data: 4 tensors, 576 bytes."""
    return entries_and_data(nn.LSTM(3, 4, rng=1).state_dict())


def lstm_config(**changes):
    return {"class_name": "LSTM", "config": {**nn.LSTM(3, 4).get_config(), **changes}}


def with_raw(header, **raw):
    """``header`` as JSON text, each ``"@key@"`` string replaced by the raw text ``raw[key]``.

    For what ``json.dumps`` cannot write: integers past Python's 4300-digit
    conversion limit, NaN constants, nesting deeper than its recursion allows.
    """
    text = json.dumps(header)
    for key, value in raw.items():
        text = text.replace(f'"@{key}@"', value)
    return text


def header_file(edit=None, metadata=None, **raw):
    """An LSTM(3, 4) file whose header ``edit(entries)`` changed, with ``@key@`` raw text."""
    entries, data = lstm_parts()
    if edit is not None:
        edit(entries)
    if metadata is not None:
        entries["__metadata__"] = metadata
    return safetensors_bytes(with_raw(entries, **raw), data)


def config_file(config_text):
    """An LSTM(3, 4)'s tensors with ``config_text`` as its ``numrnn.config`` metadata."""
    return header_file(metadata={"numrnn.config": config_text})


def config_of(spec, **raw):
    return config_file(with_raw(spec, **raw))


def set_field(tensor, field, value):
    return lambda entries: entries[tensor].__setitem__(field, value)


def nested_sequential(depth):
    spec = {"class_name": "Linear", "config": {"in_features": 3, "out_features": 4}}
    for _ in range(depth):
        spec = {"class_name": "Sequential", "config": {"modules": [spec]}}
    return spec


DIGITS_5000 = "1" + "0" * 4999
DEEP_100000 = "[" * 100_000 + "]" * 100_000
WEIGHT = "weight_ih_l0"

# name -> (numrnn function, file bytes, pattern the message must match)
CASES = {
    # The cases.
    "config hidden_size 8000 in a small file": (
        "load_model", config_of(lstm_config(hidden_size=8000)),
        r"cannot build LSTM.*\(32000, 8000\).*576 bytes"),
    "config num_layers 2**40": (
        "load_model", config_of(lstm_config(num_layers=2**40)),
        r"cannot build LSTM.*file's 4 tensors"),
    "config hidden_size 2**20": (
        "load_model", config_of(lstm_config(hidden_size=2**20)),
        r"cannot build LSTM.*\(4194304, 3\)"),
    "config nested 200 deep": (
        "load_model", config_of(nested_sequential(200)),
        r"'numrnn.config' nests 602 levels deep, deeper than 32"),
    # Saved states (optimizer / scheduler state dicts), their tagged JSON.
    "state nested 100000 deep": (
        "load", header_file(metadata={"numrnn.state": DEEP_100000}),
        r"'numrnn.state' nests 100000 levels deep"),
    "state numpy integer of 5000 digits": (
        "load", header_file(metadata={"numrnn.state": with_raw(
            {"numpy": ["int64", "@digits@"]}, digits=DIGITS_5000)}),
        r"metadata 'numrnn.state' is not valid JSON"),
    "state numpy integer past int64": (
        "load", header_file(metadata={"numrnn.state": json.dumps({"numpy": ["int64", 2**80]})}),
        r"does not fit int64"),
    "state array that is a weight": (
        "load", header_file(metadata={"numrnn.state": json.dumps({"array": WEIGHT})}),
        r"unknown or malformed node \{'array': 'weight_ih_l0'\}"),
    "state of 100000 empty lists beside weights": (
        "load", header_file(metadata={"numrnn.state": "[" + ",".join(["[]"] * 10**5) + "]"}),
        r"holds a saved state and the tensors \['bias_hh_l0', 'bias_ih_l0', "),
    "header dtype a list": (
        "load", header_file(set_field(WEIGHT, "dtype", ["F32"])),
        r"'weight_ih_l0' has dtype \['F32'\]"),
    "header nested 100,000 deep": (
        "load", header_file(set_field(WEIGHT, "shape", "@deep@"), deep=DEEP_100000),
        r"header nests .* deeper than 32"),
    "header 5,000-digit integer": (
        "load", header_file(set_field(WEIGHT, "shape", ["@digits@", 3]), digits=DIGITS_5000),
        r"header is not valid JSON.*digits"),
    # Header entries that lie about their types and sizes.
    "header dtype a dict": (
        "load", header_file(set_field(WEIGHT, "dtype", {"F32": 1})), r"has dtype \{'F32': 1\}"),
    "header dtype a number": (
        "load", header_file(set_field(WEIGHT, "dtype", 4)), r"has dtype 4;"),
    "header shape 10**30": (
        "load", header_file(set_field(WEIGHT, "shape", [10**30, 3])),
        r"shape must be a list of at most 64 ints in 0\.\.2\*\*63-1"),
    "header shape negative": (
        "load", header_file(set_field(WEIGHT, "shape", [-16, 3])), r"shape must be a list"),
    "header shape floats": (
        "load", header_file(set_field(WEIGHT, "shape", [16.0, 3.0])), r"shape must be a list"),
    "header shape bools": (
        "load", header_file(set_field(WEIGHT, "shape", [True, 3])), r"shape must be a list"),
    "header shape of 66 dims": (
        "load", header_file(set_field(WEIGHT, "shape", [1] * 66)), r"at most 64 ints"),
    "header shape product past int64, no elements": (
        "load", header_file(set_field(WEIGHT, "shape", [2**62, 2**62, 0])),
        r"too large for an array"),
    "header shape product past int64, many dims": (
        "load", header_file(set_field(WEIGHT, "shape", [2**62] * 64)),
        r"too large for an array"),
    "header shape whose byte count has 5,000 digits": (
        "load", header_file(set_field(WEIGHT, "shape", [10**100] * 50)),
        r"shape must be a list of at most 64 ints in 0\.\.2\*\*63-1"),
    "header data_offsets 10**30": (
        "load", header_file(set_field(WEIGHT, "data_offsets", [0, 10**30])),
        r"data_offsets .* span"),
    "header data_offsets 5,000 digits": (
        "load", header_file(set_field(WEIGHT, "data_offsets", [0, "@digits@"]),
                            digits=DIGITS_5000),
        r"header is not valid JSON.*digits"),
    "header data_offsets negative": (
        "load", header_file(set_field(WEIGHT, "data_offsets", [-4, 188])),
        r"data_offsets must be \[begin, end\]"),
    "header data_offsets floats": (
        "load", header_file(set_field(WEIGHT, "data_offsets", [0.0, 192.0])),
        r"data_offsets must be \[begin, end\]"),
    "header data_offsets bools": (
        "load", header_file(set_field(WEIGHT, "data_offsets", [False, 192])),
        r"data_offsets must be \[begin, end\]"),
    "header NaN constant": (
        "load", header_file(set_field(WEIGHT, "shape", ["@nan@", 3]), nan="NaN"),
        r"header is not valid JSON.*NaN"),
    "header of 100,000 escaped quotes in an unterminated string": (
        "load", safetensors_bytes('{"a": "' + '\\"' * 100_000, b""),
        r"header is not valid JSON \(Unterminated string"),
    "header not an object": (
        "load", safetensors_bytes("[1, 2, 3]", b""), r"header must be a JSON object, got list"),
    "header duplicate key": (
        "load", header_file(set_field(WEIGHT, "dtype", "@twice@"),
                            twice='"F32", "dtype": "F64"'),
        r"header is not valid JSON.*duplicate key 'dtype'"),
    "header __metadata__ a list": (
        "load", header_file(metadata=[]), r"'__metadata__' must map strings to strings, got \[\]"),
    "header __metadata__ false": (
        "load", header_file(metadata=False), r"'__metadata__' must map strings"),
    "header __metadata__ a number": (
        "load", header_file(metadata=7), r"'__metadata__' must map strings"),
    "header __metadata__ of numbers": (
        "load", header_file(metadata={"epoch": 3}), r"'__metadata__' must map strings"),
    "header __metadata__ 5,000 digits": (
        "load", header_file(metadata={"epoch": "@digits@"}, digits=DIGITS_5000),
        r"header is not valid JSON.*digits"),
    # Configs that lie.
    "config nested 100,000 deep": (
        "load_model", config_of(lstm_config(hidden_size="@deep@"), deep=DEEP_100000),
        r"'numrnn.config' nests .* deeper than 32"),
    "config 5,000-digit integer": (
        "load_model", config_of(lstm_config(hidden_size="@digits@"), digits=DIGITS_5000),
        r"'numrnn.config' is not valid JSON.*digits"),
    "config hidden_size 10**30": (
        "load_model", config_of(lstm_config(hidden_size=10**30)),
        r"cannot build LSTM.*\(4000000000000000000000000000000, 3\)"),
    "config num_layers 10**30": (
        "load_model", config_of(lstm_config(num_layers=10**30)),
        r"cannot build LSTM.*file's 4 tensors"),
    "config forget_bias 10**400": (
        "load_model", config_of(lstm_config(forget_bias="@huge@"), huge="1" + "0" * 400),
        r"cannot build LSTM from its saved config"),
    "config NaN": (
        "load_model", config_of(lstm_config(forget_bias="@nan@"), nan="NaN"),
        r"'numrnn.config' is not valid JSON.*NaN"),
    "config Infinity as 1e999": (
        "load_model", config_of(lstm_config(forget_bias="@inf@"), inf="1e999"),
        r"'numrnn.config' is not valid JSON.*1e999"),
    "config class_name a list": (
        "load_model", config_of({"class_name": ["LSTM"], "config": {}}),
        r"expected \{'class_name': str"),
    "config config a string": (
        "load_model", config_of({"class_name": "LSTM", "config": "hidden_size=4"}),
        r"expected \{'class_name': str"),
    "config dtype a list": (
        "load_model", config_of(lstm_config(dtype=["float32"])), r"cannot build LSTM"),
    "config unknown class": (
        "load_model", config_of({"class_name": "Transformer", "config": {}}),
        r"class 'Transformer' is not registered"),
    "config not an object": (
        "load_model", config_file("[[[1]]]"), r"expected \{'class_name'"),
    "config vocabulary of numbers": (
        "load_model", config_of({"class_name": "CharLanguageModel", "config": {
            "vocab_size": 4, "vocab": {"kind": "char", "specials": 5, "unk_token": "?",
                                       "tokens": []}}}),
        r"cannot build CharLanguageModel"),
    "config Seq2Seq bridge of 2**40 layers": (
        "load_model", config_of({"class_name": "Seq2Seq", "config": {
            "encoder": lstm_config(), "src_vocab_size": 5, "tgt_vocab_size": 5,
            "decoder_layers": 2**40}}),
        r"cannot build Seq2Seq"),
    "config Seq2Seq of 2**40 layers, no bridge": (
        "load_model", config_of({"class_name": "Seq2Seq", "config": {
            "encoder": lstm_config(), "src_vocab_size": 5, "tgt_vocab_size": 5,
            "decoder_layers": 2**40, "bridge": False}}),
        r"cannot build Seq2Seq"),
    "config Sequential of 2**40-wide Linear": (
        "load_model", config_of({"class_name": "Sequential", "config": {"modules": [
            {"class_name": "Linear", "config": {"in_features": 2**40, "out_features": 0}},
            {"class_name": "Linear", "config": {"in_features": 2**40, "out_features": 2**40}},
        ]}}),
        r"cannot build Linear"),
    "config LayerNorm of 2**40": (
        "load_model", config_of({"class_name": "LayerNorm", "config": {
            "normalized_shape": [2**20, 2**20]}}),
        r"cannot build LayerNorm"),
}


class Outcomes:
    """What the child reported per case name, and its stderr for diagnosis."""

    def __init__(self, reports, stderr):
        self.reports = reports
        self.stderr = stderr


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    warm_up = folder / "warm-up.safetensors"
    entries, data = lstm_parts()
    entries["__metadata__"] = {"numrnn.config": json.dumps(lstm_config())}
    warm_up.write_bytes(safetensors_bytes(json.dumps(entries), data))
    requests = []
    for index, (name, (call, content, _)) in enumerate(CASES.items()):
        path = folder / f"case{index}.safetensors"
        path.write_bytes(content)
        requests.append(json.dumps({"name": name, "call": call, "path": str(path)}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(warm_up)], cwd=ROOT, env=env,
                              input="\n".join(requests) + "\n", capture_output=True, text=True,
                              timeout=300)
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        stdout, stderr = expired.stdout or "", f"the child timed out\n{expired.stderr or ''}"
    reports = {}
    for line in stdout.splitlines():
        report = json.loads(line)
        reports[report["name"]] = report
    return Outcomes(reports, stderr)


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_file_is_a_format_error_in_bounded_time_and_memory(outcomes, case):
    _, content, pattern = CASES[case]
    report = outcomes.reports.get(case)
    assert report is not None, f"the child never reported this case:\n{outcomes.stderr[-4000:]}"
    chain, message = report["chain"], report["message"]
    assert chain and chain[0] == "FormatError", (chain, message[:MAX_MESSAGE_CHARS])
    # A FormatError converted from exhausted memory or recursion would hide the very failure.
    assert not {"MemoryError", "RecursionError"} & set(chain), chain
    assert re.search(pattern, message, re.DOTALL), message[:MAX_MESSAGE_CHARS]
    assert report["path"] in message, message[:MAX_MESSAGE_CHARS]
    assert len(message) <= MAX_MESSAGE_CHARS, message[:MAX_MESSAGE_CHARS]
    assert report["seconds"] < MAX_SECONDS, f"{report['seconds']:.2f} s for {len(content)} bytes"
