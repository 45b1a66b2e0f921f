"""RNNCell, LSTMCell, GRUCell: names, call conventions, agreement with the layers, gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numrnn import ArgumentError, DTypeError, ShapeError, nn
from numrnn.testing import gradcheck_module
from numrnn.testing.strategies import float_arrays

CELLS = {"rnn_tanh": (nn.RNNCell, nn.RNN, {}),
         "rnn_relu": (nn.RNNCell, nn.RNN, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTMCell, nn.LSTM, {}), "gru": (nn.GRUCell, nn.GRU, {}),
         "gru_reset_before": (nn.GRUCell, nn.GRU, {"reset_after": False})}
GATES = {nn.RNNCell: 1, nn.LSTMCell: 4, nn.GRUCell: 3}


def step(cell, x, h=None, c=None):
    """One step of any cell; returns the list of new states."""
    if isinstance(cell, nn.LSTMCell):
        return list(cell(x, None if h is None else (h, c)))
    return [cell(x, h)]


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_parameter_names_and_shapes(cls):
    gates = GATES[cls]
    cell = cls(5, 3)
    assert [(name, p.shape) for name, p in cell.named_parameters()] == [
        ("weight_ih", (gates * 3, 5)), ("weight_hh", (gates * 3, 3)),
        ("bias_ih", (gates * 3,)), ("bias_hh", (gates * 3,))]
    assert [name for name, _ in cls(5, 3, bias=False).named_parameters()] == [
        "weight_ih", "weight_hh"]
    assert all(np.abs(p.data).max() <= 1 / np.sqrt(3) for p in cell.parameters())


def test_repr():
    assert repr(nn.LSTMCell(3, 4)) == "LSTMCell(3, 4)"
    assert repr(nn.RNNCell(3, 4, bias=False, nonlinearity="relu")) == \
        "RNNCell(3, 4, bias=False, nonlinearity='relu')"
    assert repr(nn.GRUCell(3, 4, dtype=np.float64)) == "GRUCell(3, 4, dtype=float64)"
    assert repr(nn.GRUCell(3, 4, reset_after=False)) == "GRUCell(3, 4, reset_after=False)"


@pytest.mark.parametrize("kind", list(CELLS))
def test_missing_state_means_zeros_and_unbatched_input_works(kind):
    cell_cls, _, extra = CELLS[kind]
    cell = cell_cls(4, 3, dtype=np.float64, rng=0, **extra)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4))
    zeros = np.zeros((2, 3))
    implicit, explicit = step(cell, x), step(cell, x, zeros, zeros)
    for a, b in zip(implicit, explicit):
        assert a.shape == (2, 3)
        np.testing.assert_array_equal(a.data, b.data)
    h = rng.standard_normal((2, 3))
    batched = step(cell, x, h, h)
    single = step(cell, x[1], h[1], h[1])
    for a, b in zip(batched, single):
        assert b.shape == (3,)
        np.testing.assert_allclose(b.data, a.data[1], rtol=1e-12)


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_stepping_a_cell_matches_the_layer(kind, bias):
    cell_cls, layer_cls, extra = CELLS[kind]
    layer = layer_cls(4, 3, bias=bias, dtype=np.float64, rng=1, **extra)
    cell = cell_cls(4, 3, bias=bias, dtype=np.float64, **extra)
    cell.load_state_dict({name[:-3]: array for name, array in layer.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 4))
    states = [rng.standard_normal((2, 3)) for _ in range(2)]
    if layer_cls is nn.LSTM:
        output, finals = layer(x, (states[0][None], states[1][None]))
    else:
        output, finals = layer(x, states[0][None])
    for t in range(5):
        states = step(cell, x[t], *states)
        np.testing.assert_allclose(states[0].data, output.data[t], rtol=1e-12, atol=1e-14)
    finals = finals if isinstance(finals, tuple) else (finals,)
    for state, final in zip(states, finals):
        np.testing.assert_allclose(state.data, final.data[0], rtol=1e-12, atol=1e-14)


def test_validation_errors():
    cell = nn.LSTMCell(6, 4)
    x = np.zeros((2, 6), dtype=np.float32)
    h = np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(ShapeError, match=r"LSTMCell: input feature size must be 6 \(input_size\), "
                                         "got 5"):
        cell(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"2-D \(B, I\) or 1-D \(I,\) unbatched, got 3-D"):
        cell(np.zeros((1, 2, 6), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"c must have shape \(2, 4\), got \(3, 4\)"):
        cell(x, (h, np.zeros((3, 4), dtype=np.float32)))
    with pytest.raises(ArgumentError, match="hx must be None or a pair"):
        cell(x, h)
    with pytest.raises(DTypeError, match="input must have dtype float32"):
        cell(x.astype(np.float64))
    with pytest.raises(ShapeError, match=r"hx must have shape \(4,\), got \(2, 4\)"):
        nn.GRUCell(6, 4)(x[0], h)
    with pytest.raises(ArgumentError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ArgumentError, match="input_size must be a positive int"):
        nn.GRUCell(0, 4)
    with pytest.raises(ArgumentError, match="GRUCell: reset_after must be True or False, got 0"):
        nn.GRUCell(3, 4, reset_after=0)


@st.composite
def cell_problems(draw):
    batch, n_in, hidden = (draw(st.integers(1, 4)) for _ in range(3))
    x = draw(float_arrays((batch, n_in)))
    h, c = (draw(float_arrays((batch, hidden), min_value=-1.0, max_value=1.0)) for _ in range(2))
    return x, h, c, draw(st.booleans()), draw(st.integers(0, 2**16))


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru", "gru_reset_before"])
@settings(max_examples=10)
@given(problem=cell_problems())
def test_gradients_to_input_state_and_every_parameter(kind, problem):
    x, h, c, bias, seed = problem
    cell_cls, _, extra = CELLS[kind]
    cell = cell_cls(x.shape[1], h.shape[1], bias=bias, dtype=np.float64, rng=seed, **extra)
    gradcheck_module(cell, [x, h, c if kind == "lstm" else None],
                     call=lambda module, x, h, c: step(module, x, h, c),
                     full_jacobian_limit=0, directions=6)
