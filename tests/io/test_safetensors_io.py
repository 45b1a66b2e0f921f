"""numrnn.save / load / load_model: round trips, PyTorch names, and every malformed file."""

import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import nn
from numrnn.errors import ArgumentTypeError, FormatError
from numrnn.io import register_model

DTYPES = [np.float32, np.float64]

# (factory, input shape, whether the output is a tuple whose first item to compare)
LAYERS = {
    "RNN": (lambda dtype: nn.RNN(3, 4, num_layers=2, nonlinearity="relu", dtype=dtype, rng=0),
            (5, 2, 3)),
    "LSTM": (lambda dtype: nn.LSTM(3, 4, num_layers=2, bidirectional=True, forget_bias=1.0,
                                   dtype=dtype, rng=0), (5, 2, 3)),
    "GRU": (lambda dtype: nn.GRU(3, 4, bias=False, batch_first=True, dtype=dtype, rng=0),
            (2, 5, 3)),
    "RNNCell": (lambda dtype: nn.RNNCell(3, 4, nonlinearity="relu", dtype=dtype, rng=0),
                (2, 3)),
    "LSTMCell": (lambda dtype: nn.LSTMCell(3, 4, dtype=dtype, rng=0), (2, 3)),
    "GRUCell": (lambda dtype: nn.GRUCell(3, 4, dtype=dtype, rng=0), (2, 3)),
    "GRU-reset_before": (lambda dtype: nn.GRU(3, 4, num_layers=2, bidirectional=True,
                                              reset_after=False, dtype=dtype, rng=0), (5, 2, 3)),
    "GRUCell-reset_before": (lambda dtype: nn.GRUCell(3, 4, reset_after=False, dtype=dtype,
                                                      rng=0), (2, 3)),
    "LSTM-peepholes": (lambda dtype: nn.LSTM(3, 4, num_layers=2, bidirectional=True,
                                             peepholes=True, dtype=dtype, rng=0), (5, 2, 3)),
    "LSTMCell-peepholes": (lambda dtype: nn.LSTMCell(3, 4, peepholes=True, dtype=dtype, rng=0),
                           (2, 3)),
    "LSTM-layer_norm": (lambda dtype: nn.LSTM(3, 4, num_layers=2, bidirectional=True,
                                              layer_norm=True, dtype=dtype, rng=0), (5, 2, 3)),
    "GRU-layer_norm": (lambda dtype: nn.GRU(3, 4, bias=False, layer_norm=True, dtype=dtype,
                                            rng=0), (5, 2, 3)),
    "LSTMCell-layer_norm": (lambda dtype: nn.LSTMCell(3, 4, layer_norm=True, dtype=dtype,
                                                      rng=0), (2, 3)),
}


def outputs(module, x):
    """Every array a layer returns, flattened out of its (nested) tuples."""
    result = module(x)
    stack, arrays = [result], []
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        else:
            arrays.append(item.data)
    return arrays


def snapshot(module):
    return {name: array.copy() for name, array in module.state_dict().items()}


def assert_same_state(module, expected):
    state = module.state_dict()
    assert list(state) == list(expected)
    for name, array in expected.items():
        assert state[name].dtype == array.dtype, name
        np.testing.assert_array_equal(state[name], array, err_msg=name)


@pytest.fixture
def lstm_file(tmp_path):
    """A float32 LSTM(3, 4) saved with numrnn.save, and a different fresh LSTM to load into."""
    path = tmp_path / "lstm.safetensors"
    numrnn.save(nn.LSTM(3, 4, rng=1), path)
    return path, nn.LSTM(3, 4, rng=2)


# -- round trips ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_load_model_rebuilds_layer_with_same_outputs(tmp_path, kind, dtype):
    factory, input_shape = LAYERS[kind]
    module = factory(dtype)
    path = tmp_path / "model.safetensors"
    numrnn.save(module, path)

    rebuilt = numrnn.load_model(path)

    assert type(rebuilt) is type(module)
    assert rebuilt.get_config() == module.get_config()
    assert rebuilt.dtype == np.dtype(dtype)
    assert_same_state(rebuilt, module.state_dict())
    x = np.random.default_rng(0).standard_normal(input_shape).astype(dtype)
    for got, expected in zip(outputs(rebuilt, x), outputs(module, x), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_load_into_module_and_load_state_dict_agree(tmp_path, dtype):
    source = nn.GRU(3, 4, num_layers=2, dtype=dtype, rng=1)
    path = tmp_path / "gru.safetensors"
    numrnn.save(source, path)

    into = numrnn.load(path, nn.GRU(3, 4, num_layers=2, dtype=dtype, rng=2))
    via_state_dict = nn.GRU(3, 4, num_layers=2, dtype=dtype, rng=3)
    via_state_dict.load_state_dict(numrnn.load(path))

    assert_same_state(into, source.state_dict())
    assert_same_state(via_state_dict, source.state_dict())


def test_file_holds_pytorch_tensor_names(tmp_path):
    path = tmp_path / "lstm.safetensors"
    numrnn.save(nn.LSTM(3, 4, num_layers=2, bidirectional=True), path)
    torch_names = {f"{kind}_l{layer}{suffix}" for layer in (0, 1) for suffix in ("", "_reverse")
                   for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    assert set(numrnn.load(path)) == torch_names


def test_state_dict_saves_weights_only_with_user_metadata(tmp_path):
    state = {"encoder.weight": np.arange(6, dtype=np.float64).reshape(2, 3),
             "encoder.bias": np.ones(2, dtype=np.float32)}
    path = tmp_path / "state.safetensors"
    numrnn.save(state, path, metadata={"epoch": "7"})

    loaded = numrnn.load(path)
    assert set(loaded) == set(state)
    for name, array in state.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)
    _, metadata = numrnn.io.read_file(path)
    assert metadata["epoch"] == "7"
    assert metadata["numrnn.format"] == "1"
    assert metadata["numrnn.version"] == numrnn.__version__
    with pytest.raises(FormatError, match="without 'numrnn.config'"):
        numrnn.load_model(path)


class TwoLayer(nn.Module):
    """A user model: registered, with a get_config, holding a built-in layer."""

    def __init__(self, input_size, hidden_size, dtype="float32"):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.encoder = nn.GRU(input_size, hidden_size, dtype=dtype)
        self.scale = nn.Parameter(np.ones(hidden_size, dtype=dtype))

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "dtype": self.scale.dtype.name}


class NoConfig(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.ones((2, 2), dtype=np.float32))


def test_registered_user_model_is_rebuilt(tmp_path):
    register_model(TwoLayer)
    assert register_model(TwoLayer) is TwoLayer  # idempotent, usable as a decorator
    module = TwoLayer(3, 5, dtype="float64")
    module.scale.data[:] = 2.5
    path = tmp_path / "user.safetensors"
    numrnn.save(module, path)

    rebuilt = numrnn.load_model(path)
    assert isinstance(rebuilt, TwoLayer) and rebuilt.hidden_size == 5
    assert_same_state(rebuilt, module.state_dict())
    assert "encoder.weight_ih_l0" in numrnn.load(path)


def test_builtin_layers_are_registered():
    registry = numrnn.io.registered_models()
    for name in ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Linear", "Sequential"]:
        assert registry[name] is getattr(nn, name)


def test_register_model_refuses_a_second_class_with_the_same_name():
    register_model(TwoLayer)
    impostor = type("TwoLayer", (TwoLayer,), {})
    with pytest.raises(numrnn.NumrnnError, match="already belongs to"):
        register_model(impostor)


def test_module_without_get_config_saves_weights_but_cannot_be_rebuilt(tmp_path):
    path = tmp_path / "plain.safetensors"
    numrnn.save(NoConfig(), path)
    np.testing.assert_array_equal(numrnn.load(path)["weight"], np.ones((2, 2)))
    with pytest.raises(FormatError, match="weights only.*numrnn.load\\(path, module\\)"):
        numrnn.load_model(path)


def test_sequential_container_is_rebuilt(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Dropout(0.25),
                          nn.Linear(4, 2, dtype="float64"))
    path = tmp_path / "seq.safetensors"
    numrnn.save(model, path)
    rebuilt = numrnn.load_model(path)
    assert [type(child) for child in rebuilt] == [nn.Linear, nn.Dropout, nn.Linear]
    assert rebuilt[1].p == 0.25
    assert_same_state(rebuilt, model.state_dict())


# -- saving ------------------------------------------------------------------------------
def test_save_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    numrnn.save({"w": np.zeros(3, dtype=np.float32)}, path)
    original = path.read_bytes()

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        numrnn.save({"w": np.ones(3, dtype=np.float32)}, path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.safetensors"]  # the temporary file is gone


@pytest.mark.parametrize("state, metadata, message", [
    ({"w": np.array([1.0, np.nan], dtype=np.float32)}, None, "'w' holds NaN or infinite"),
    ({"w": np.arange(3)}, None, "'w' has dtype int64"),
    ({"w": np.zeros(2, np.float32)}, {"numrnn.config": "{}"}, "reserved"),
    ({"w": np.zeros(2, np.float32)}, {"epoch": 7}, "str to str"),
])
def test_save_refuses_what_load_would_refuse(tmp_path, state, metadata, message):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(FormatError, match=message):
        numrnn.save(state, path, metadata=metadata)
    assert not path.exists()


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(ArgumentTypeError, match="Module or a dict"):
        numrnn.save([np.zeros(2)], tmp_path / "x.safetensors")


def test_save_refuses_a_config_that_is_not_json(tmp_path):
    class BadConfig(NoConfig):
        def get_config(self):
            return {"dtype": np.dtype(np.float32)}

    with pytest.raises(FormatError, match=r"BadConfig.get_config\(\)\['dtype'\].*'float32'"):
        numrnn.save(BadConfig(), tmp_path / "x.safetensors")


# -- malformed files: each a FormatError naming the problem, module unchanged -------------
def write_state(path, state, metadata=None):
    """Written with safetensors itself, bypassing numrnn.save's own refusals."""
    safetensors.numpy.save_file(state, str(path), metadata=metadata)


def good_state():
    return nn.LSTM(3, 4, rng=1).state_dict()


def header_and_data(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def rewrite_header(path, edit):
    header, data = header_and_data(path)
    edit(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def missing(path):
    state = good_state()
    del state["bias_hh_l0"]
    write_state(path, state)


def extra(path):
    write_state(path, {**good_state(), "weight_ih_l1": np.zeros((16, 4), np.float32)})


def wrong_shape(path):
    write_state(path, {**good_state(), "weight_hh_l0": np.zeros((16, 5), np.float32)})


def wrong_dtype(path):
    write_state(path, {name: array.astype(np.float64) if name == "bias_ih_l0" else array
                       for name, array in good_state().items()})


def integer_dtype(path):
    write_state(path, {**good_state(), "bias_ih_l0": np.zeros(16, np.int32)})


def with_value(value):
    def corrupt(path):
        state = good_state()
        state["weight_ih_l0"][3, 1] = value
        write_state(path, state)
    return corrupt


def truncated(cut):
    def corrupt(path):
        numrnn.save(nn.LSTM(3, 4, rng=1), path)
        raw = path.read_bytes()
        path.write_bytes(raw[:cut] if cut >= 0 else raw[:len(raw) + cut])
    return corrupt


def bad_header_json(path):
    numrnn.save(nn.LSTM(3, 4, rng=1), path)
    raw = bytearray(path.read_bytes())
    raw[8] = ord("]")  # the opening brace of the JSON header
    path.write_bytes(bytes(raw))


def bad_header_length(path):
    numrnn.save(nn.LSTM(3, 4, rng=1), path)
    raw = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2**40) + raw[8:])


def bad_offsets(path):
    numrnn.save(nn.LSTM(3, 4, rng=1), path)
    rewrite_header(path, lambda header: header["bias_hh_l0"].update(
        data_offsets=[header["bias_hh_l0"]["data_offsets"][0],
                      header["bias_hh_l0"]["data_offsets"][1] - 4]))


def trailing_bytes(path):
    numrnn.save(nn.LSTM(3, 4, rng=1), path)
    path.write_bytes(path.read_bytes() + b"\0" * 8)


def random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(300))


def empty(path):
    path.write_bytes(b"")


def future_format(path):
    write_state(path, good_state(), metadata={"numrnn.format": "99"})


MALFORMED = {
    "missing tensor": (missing, "missing tensor 'bias_hh_l0'"),
    "extra tensor": (extra, "unexpected tensor 'weight_ih_l1'"),
    "wrong shape": (wrong_shape, r"'weight_hh_l0': the module expects shape \(16, 4\), "
                                 r"the file has \(16, 5\)"),
    "wrong dtype": (wrong_dtype, "'bias_ih_l0': the module holds float32, the file float64"),
    "integer dtype": (integer_dtype, "'bias_ih_l0' has dtype I32"),
    "NaN": (with_value(np.nan), "'weight_ih_l0' holds 1 NaN and 0 infinite"),
    "inf": (with_value(-np.inf), "'weight_ih_l0' holds 0 NaN and 1 infinite"),
    "truncated by 1 byte": (truncated(-1), "the file is truncated"),
    "truncated in the data": (truncated(-100), "the file is truncated"),
    "truncated in the header": (truncated(40), "truncated or not a safetensors file"),
    "truncated to 5 bytes": (truncated(5), "too short for a safetensors header"),
    "corrupted header JSON": (bad_header_json, "header is not valid JSON"),
    "corrupted header length": (bad_header_length, "header length field says 1099511627776"),
    "corrupted data offsets": (bad_offsets, "'bias_hh_l0': shape .* needs 64 bytes"),
    "trailing bytes": (trailing_bytes, "8 bytes after the last tensor"),
    "random bytes": (random_bytes, "truncated or not a safetensors file"),
    "empty file": (empty, "the file is empty"),
    "future format": (future_format, "file format '99'"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_raises_and_leaves_module_unchanged(tmp_path, case):
    corrupt, message = MALFORMED[case]
    path = tmp_path / "bad.safetensors"
    corrupt(path)
    module = nn.LSTM(3, 4, rng=2)
    before = snapshot(module)

    with pytest.raises(FormatError, match=message) as error:
        numrnn.load(path, module)

    assert str(path) in str(error.value)
    assert_same_state(module, before)


def test_non_strict_load_skips_missing_and_extra_tensors_only(tmp_path):
    state = good_state()
    del state["bias_hh_l0"]
    path = tmp_path / "partial.safetensors"
    write_state(path, {**state, "extra": np.zeros(2, np.float32)})
    module = nn.LSTM(3, 4, rng=2)
    untouched = module.bias_hh_l0.data.copy()

    numrnn.load(path, module, strict=False)

    np.testing.assert_array_equal(module.weight_ih_l0.data, state["weight_ih_l0"])
    np.testing.assert_array_equal(module.bias_hh_l0.data, untouched)


def with_config(text):
    def corrupt(path):
        write_state(path, good_state(), metadata={"numrnn.config": text})
    return corrupt


def lstm_config(**changes):
    config = {**nn.LSTM(3, 4).get_config(), **changes}
    return json.dumps({"class_name": "LSTM", "config": config})


BAD_CONFIGS = {
    "no config": (lambda path: write_state(path, good_state()), "without 'numrnn.config'"),
    "not JSON": (with_config("{class_name: LSTM"), "'numrnn.config' is not valid JSON"),
    "not a spec": (with_config('["LSTM"]'), "expected {'class_name'"),
    "unknown class": (with_config('{"class_name": "Transformer", "config": {}}'),
                      "class 'Transformer' is not registered"),
    "bad argument": (with_config(lstm_config(hidden_size="four")),
                     "cannot build LSTM from its saved config.*hidden_size"),
    "unknown argument": (with_config(lstm_config(heads=8)),
                         "cannot build LSTM.*heads"),
    "sizes disagree with tensors": (with_config(lstm_config(hidden_size=5)),
                                    "'weight_ih_l0': the module expects shape \\(20, 3\\)"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_load_model_with_missing_or_invalid_config_raises(tmp_path, case):
    corrupt, message = BAD_CONFIGS[case]
    path = tmp_path / "model.safetensors"
    corrupt(path)
    with pytest.raises(FormatError, match=message):
        numrnn.load_model(path)


# The fixture's file is only read, so sharing it between examples is safe.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_is_a_format_error_or_a_valid_load(lstm_file, position, value):
    path, module = lstm_file
    raw = bytearray(path.read_bytes())
    raw[position % len(raw)] = value
    corrupted = path.with_name("corrupted.safetensors")
    corrupted.write_bytes(bytes(raw))
    before = snapshot(module)
    try:
        numrnn.load(corrupted, module)
    except FormatError:
        assert_same_state(module, before)
