"""nn.LSTM / nn.LSTMCell with peepholes=True: parameters, cell and layer agree, repr,
get_config and weight files."""

import numpy as np
import pytest

import numrnn
from numrnn import nn


def test_parameters_follow_the_kinds_layout_in_pytorchs_order():
    layer = nn.LSTM(3, 5, num_layers=2, bidirectional=True, bias=False, peepholes=True)
    names = list(layer.state_dict())
    assert names[:3] == ["weight_ih_l0", "weight_hh_l0", "weight_peephole_l0"]
    assert names[-1] == "weight_peephole_l1_reverse" and len(names) == 12
    assert layer.weight_peephole_l1.shape == (15,)
    assert "weight_peephole_l0" not in nn.LSTM(3, 5).state_dict()


def test_the_cell_is_one_step_of_the_layer():
    layer = nn.LSTM(3, 5, peepholes=True, dtype=np.float64, rng=0)
    cell = nn.LSTMCell(3, 5, peepholes=True, dtype=np.float64, rng=1)
    cell.load_state_dict({name[:-3]: value for name, value in layer.state_dict().items()})
    rng = np.random.default_rng(2)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    _, (h_n, c_n) = layer(x[None], (h[None], c[None]))
    h_new, c_new = cell(x, (h, c))
    np.testing.assert_array_equal(h_new.data, h_n.data[0])
    np.testing.assert_array_equal(c_new.data, c_n.data[0])
    (h_new.sum() + c_new.sum()).backward()
    assert cell.weight_peephole.grad.shape == (15,) and np.abs(cell.weight_peephole.grad).max() > 0


def test_repr_config_and_weight_files_round_trip(tmp_path):
    layer = nn.LSTM(3, 4, num_layers=2, peepholes=True, forget_bias=1.0, rng=0)
    assert repr(layer) == "LSTM(3, 4, num_layers=2, peepholes=True, forget_bias=1.0)"
    assert layer.get_config()["peepholes"] is True
    numrnn.save(layer, tmp_path / "lstm.safetensors")
    rebuilt = numrnn.load_model(tmp_path / "lstm.safetensors")
    assert rebuilt.peepholes and rebuilt.get_config() == layer.get_config()
    np.testing.assert_array_equal(rebuilt.weight_peephole_l1.data, layer.weight_peephole_l1.data)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    with numrnn.no_grad():
        np.testing.assert_array_equal(rebuilt(x)[0].data, layer(x)[0].data)
    cell = nn.LSTMCell(3, 4, peepholes=True, rng=0)
    assert repr(cell) == "LSTMCell(3, 4, peepholes=True)"
    numrnn.save(cell, tmp_path / "cell.safetensors")
    assert numrnn.load_model(tmp_path / "cell.safetensors").peepholes


def test_a_peephole_file_does_not_load_into_a_plain_lstm(tmp_path):
    numrnn.save(nn.LSTM(3, 4, peepholes=True, rng=0), tmp_path / "lstm.safetensors")
    with pytest.raises(numrnn.FormatError, match="weight_peephole_l0"):
        numrnn.load(tmp_path / "lstm.safetensors", nn.LSTM(3, 4, rng=0))
