"""Weight files between numrnn and PyTorch, both ways (skipped without torch)."""

import numpy as np
import pytest

import numrnn
from numrnn import nn

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
pytestmark = pytest.mark.parity


def test_torch_lstm_file_loads_into_numrnn_with_same_outputs(tmp_path):
    torch.manual_seed(0)
    reference = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True).double()
    path = tmp_path / "torch_lstm.safetensors"
    safetensors_torch.save_file(reference.state_dict(), str(path))

    lstm = numrnn.load(path, nn.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=np.float64))

    x = np.random.default_rng(1).standard_normal((6, 2, 3))
    output, (h_n, c_n) = lstm(x)
    with torch.no_grad():
        expected, (h_expected, c_expected) = reference(torch.from_numpy(x))
    np.testing.assert_allclose(output.data, expected.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n.data, h_expected.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_n.data, c_expected.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_numrnn_file_loads_into_torch_with_same_outputs(tmp_path, kind):
    layer = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, rng=0)
    path = tmp_path / "numrnn.safetensors"
    numrnn.save(layer, path)

    reference = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True).double()
    reference.load_state_dict(safetensors_torch.load_file(str(path)))  # strict: same names

    x = np.random.default_rng(2).standard_normal((6, 2, 3))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(layer(x)[0].data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_names_match_torch(kind):
    assert list(getattr(nn, kind)(3, 4).state_dict()) == \
        list(getattr(torch.nn, kind)(3, 4).state_dict())
