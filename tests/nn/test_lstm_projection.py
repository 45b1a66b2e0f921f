"""nn.LSTM(proj_size=P): parameters, shapes, validation, repr, saving, and what refuses it."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, ShapeError, nn
from numrnn.testing import gradcheck_module


def test_parameters_follow_pytorch_names_shapes_and_order():
    layer = nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=4)
    expected = []
    for k in range(2):
        for suffix in ("", "_reverse"):
            width = 3 if k == 0 else 8
            expected += [(f"weight_ih_l{k}{suffix}", (24, width)),
                         (f"weight_hh_l{k}{suffix}", (24, 4)),
                         (f"bias_ih_l{k}{suffix}", (24,)), (f"bias_hh_l{k}{suffix}", (24,)),
                         (f"weight_hr_l{k}{suffix}", (4, 6))]
    assert [(name, array.shape) for name, array in layer.state_dict().items()] == expected
    without_bias = nn.LSTM(3, 6, bias=False, proj_size=2)
    assert list(without_bias.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "weight_hr_l0"]


@pytest.mark.parametrize("batch_first", [False, True])
def test_shapes_of_outputs_and_states(batch_first):
    steps, batch, layers, hidden, proj_size = 5, 3, 2, 6, 4
    layer = nn.LSTM(2, hidden, layers, batch_first=batch_first, bidirectional=True,
                    proj_size=proj_size, rng=0)
    shape = (batch, steps, 2) if batch_first else (steps, batch, 2)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    h0 = np.ones((2 * layers, batch, proj_size), np.float32)
    c0 = np.ones((2 * layers, batch, hidden), np.float32)
    output, (h_n, c_n) = layer(x, (h0, c0))
    expected = (batch, steps, 2 * proj_size) if batch_first else (steps, batch, 2 * proj_size)
    assert output.shape == expected
    assert h_n.shape == (2 * layers, batch, proj_size)
    assert c_n.shape == (2 * layers, batch, hidden)
    # Unbatched: (T, I) in, (L * D, P) and (L * D, H) states.
    output, (h_n, c_n) = layer(x[0] if batch_first else x[:, 0], (h0[:, 0], c0[:, 0]))
    assert output.shape == (steps, 2 * proj_size) and h_n.shape == (4, proj_size)
    assert c_n.shape == (4, hidden)
    # A state of the other state's size is refused, naming it.
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(4, 3, 4\)"):
        layer(x, (c0, c0))


@pytest.mark.parametrize("value, message", [
    (6, r"proj_size must be in \[0, hidden_size=6\)"),
    (7, r"proj_size must be in \[0, hidden_size=6\)"),
    (-1, r"proj_size must be in \[0, hidden_size=6\)"),
    (2.0, "proj_size must be an int, got 2.0"),
    ("2", "proj_size must be an int, got '2'"),
    (True, "proj_size must be an int, got True"),
    (None, "proj_size must be an int, got None"),
])
def test_bad_proj_size_is_refused_at_construction(value, message):
    with pytest.raises(ArgumentError, match=f"LSTM: {message}"):
        nn.LSTM(3, 6, proj_size=value)


def test_identity_init_cannot_go_with_a_projection():
    with pytest.raises(ArgumentError, match="recurrent_init='identity' .* proj_size=2"):
        nn.LSTM(3, 4, proj_size=2, recurrent_init="identity")
    orthogonal = nn.LSTM(3, 4, proj_size=2, recurrent_init="orthogonal", rng=0)
    block = orthogonal.weight_hh_l0.data[:4]
    np.testing.assert_allclose(block.T @ block, np.eye(2), atol=1e-6)


def test_repr_and_config_round_trip(tmp_path):
    layer = nn.LSTM(3, 6, 2, bidirectional=True, proj_size=4, dtype=np.float64, rng=0)
    assert repr(layer) == "LSTM(3, 6, num_layers=2, proj_size=4, bidirectional=True, " \
        "dtype=float64)"
    assert repr(nn.LSTM(3, 6)) == "LSTM(3, 6)"
    config = layer.get_config()
    assert config["proj_size"] == 4 and isinstance(config["proj_size"], int)
    numrnn.save(layer, tmp_path / "projected.safetensors")
    restored = numrnn.load_model(tmp_path / "projected.safetensors")
    assert restored.proj_size == 4 and repr(restored) == repr(layer)
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    with numrnn.no_grad():
        for a, b in zip(layer(x)[1], restored(x)[1]):
            np.testing.assert_array_equal(a.data, b.data)


def test_gradients_of_the_layer_against_central_differences():
    layer = nn.LSTM(2, 4, num_layers=2, bidirectional=True, proj_size=3, dtype=np.float64,
                    rng=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 2))
    h0, c0 = rng.standard_normal((4, 3, 3)), rng.standard_normal((4, 3, 4))
    lengths = np.array([4, 2, 3])
    gradcheck_module(layer, [x, h0, c0, lengths],
                     call=lambda module, x, h0, c0, lengths: module(x, (h0, c0),
                                                                    lengths=lengths),
                     directions=8)


def test_lstm_cell_has_no_projection_and_still_saves_and_prints(tmp_path):
    cell = nn.LSTMCell(2, 3, dtype=np.float64, rng=0)
    assert repr(cell) == "LSTMCell(2, 3, dtype=float64)"
    assert "proj_size" not in cell.get_config()
    numrnn.save(cell, tmp_path / "cell.safetensors")
    restored = numrnn.load_model(tmp_path / "cell.safetensors")
    np.testing.assert_array_equal(restored.weight_hh.data, cell.weight_hh.data)
