"""nn.LSTM(..., return_cell_states=True): the last layer's c at every step, from the same
pass, against LSTMCell steps composed by hand (values and gradients), on both paths."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, nn, no_grad
from numrnn import functional as F
from numrnn.testing import gradcheck_module


def _positions(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def composed_cell_states(layer, x, lengths):
    """A one-layer LSTM's c at every step, built from LSTMCell steps sharing its weights:
    each row alone over its valid positions (reversed for the reverse direction), zeros
    past its length, directions side by side."""
    steps, batch, _ = x.shape
    zero = numrnn.tensor(np.zeros((1, layer.hidden_size)))
    directions = []
    for reverse in ((False, True) if layer.bidirectional else (False,)):
        suffix = "_reverse" if reverse else ""
        cell = nn.LSTMCell(layer.input_size, layer.hidden_size, dtype=np.float64)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(cell, name, getattr(layer, f"{name}_l0{suffix}"))
        cells = [[zero] * steps for _ in range(batch)]
        for b in range(batch):
            state = None
            for t in _positions(int(lengths[b]), reverse):
                state = cell(x[t, b:b + 1], state)
                cells[b][t] = state[1]
        directions.append(F.stack([F.concatenate([cells[b][t] for b in range(batch)], axis=0)
                                   for t in range(steps)], axis=0))
    return directions[0] if len(directions) == 1 else F.concatenate(directions, axis=2)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_values_and_gradients_equal_composed_lstm_cells(bidirectional):
    layer = nn.LSTM(3, 4, bidirectional=bidirectional, dtype=np.float64, rng=0)
    rng = np.random.default_rng(1)
    x_array = rng.standard_normal((5, 3, 3))
    lengths = np.array([5, 2, 4])
    seed = numrnn.tensor(rng.standard_normal((5, 3, 4 * len(layer._directions))))

    x = numrnn.tensor(x_array, requires_grad=True)
    _, _, cells = layer(x, lengths=lengths, return_cell_states=True)
    (cells * seed).sum().backward()
    fused_grads = [x.grad] + [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()

    x_ref = numrnn.tensor(x_array, requires_grad=True)
    expected = composed_cell_states(layer, x_ref, lengths)
    (expected * seed).sum().backward()
    np.testing.assert_allclose(cells.data, expected.data, rtol=1e-12, atol=1e-14)
    for got, want in zip(fused_grads, [x_ref.grad] + [p.grad for p in layer.parameters()]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("proj_size", [0, 2])
def test_untaped_cell_states_equal_the_taped_ones_and_the_layout_follows_the_output(proj_size):
    layer = nn.LSTM(3, 5, 2, batch_first=True, bidirectional=True, proj_size=proj_size, rng=0)
    x = np.random.default_rng(3).standard_normal((4, 6, 3)).astype(np.float32)
    lengths = np.array([6, 1, 3, 5])
    taped = layer(x, lengths=lengths, return_cell_states=True)
    with no_grad():
        untaped = layer(x, lengths=lengths, return_cell_states=True)
    assert taped[2].requires_grad and not untaped[2].requires_grad
    assert taped[2].shape == (4, 6, 10)
    np.testing.assert_array_equal(taped[2].data, untaped[2].data)
    np.testing.assert_array_equal(taped[0].data, untaped[0].data)
    assert not taped[2].data[1, 1:].any()  # zeros past the row's length
    # The last step of each row in the forward half is c_n of the last layer.
    last = taped[2].data[np.arange(4), lengths - 1, :5]
    np.testing.assert_array_equal(last, taped[1][1].data[2])
    plain = layer(x, lengths=lengths)
    assert len(plain) == 2
    np.testing.assert_array_equal(plain[0].data, taped[0].data)


def test_gradients_with_a_projection_and_two_layers_against_central_differences():
    layer = nn.LSTM(2, 3, 2, bidirectional=True, proj_size=2, dtype=np.float64, rng=0)
    x = np.random.default_rng(4).standard_normal((4, 2, 2))
    lengths = np.array([4, 2])
    gradcheck_module(layer, [x, lengths],
                     call=lambda module, x, lengths: module(x, lengths=lengths,
                                                            return_cell_states=True),
                     directions=8)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_a_flag_that_is_not_a_bool_is_refused(value):
    with pytest.raises(ArgumentError, match="LSTM: return_cell_states must be True or False"):
        nn.LSTM(2, 3)(np.zeros((2, 1, 2), np.float32), return_cell_states=value)
