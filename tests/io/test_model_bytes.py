"""model_to_bytes / model_from_bytes: a model as file bytes in memory, checked like a file."""

import numpy as np
import pytest

import numrnn
from numrnn import nn
from numrnn.io import model_from_bytes, model_to_bytes


def test_round_trip_rebuilds_an_equal_model():
    numrnn.manual_seed(0)
    model = nn.GRU(3, 5, num_layers=2, dtype=np.float64)
    rebuilt = model_from_bytes(model_to_bytes(model))
    assert type(rebuilt) is nn.GRU and rebuilt.get_config() == model.get_config()
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(rebuilt.state_dict()[name], array)


def test_the_bytes_are_the_file_save_writes(tmp_path):
    model = nn.LSTM(2, 3)
    numrnn.save(model, tmp_path / "m.safetensors")
    from_file = numrnn.load(tmp_path / "m.safetensors")
    from_bytes = model_from_bytes(model_to_bytes(model)).state_dict()
    assert from_file.keys() == from_bytes.keys()


def test_truncated_bytes_are_a_format_error_naming_them():
    data = model_to_bytes(nn.LSTM(2, 3))
    with pytest.raises(numrnn.FormatError, match="^model from rank 1: .* truncated"):
        model_from_bytes(data[:-4], where="model from rank 1")


def test_a_module_without_config_cannot_travel():
    class Plain(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(numrnn.FormatError, match="Plain defines no get_config"):
        model_to_bytes(Plain())


def test_non_bytes_are_refused():
    with pytest.raises(numrnn.ArgumentTypeError, match="data must be bytes, got str"):
        model_from_bytes("LSTM")
