"""hidden_gradient_norms against finite differences, a hand-written backward, and known decay."""

import numpy as np
import pytest

from numrnn import functional as F
from numrnn import nn
from numrnn.diagnostics import hidden_gradient_norms

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU,
          "lstm_peepholes": lambda *args, **kw: nn.LSTM(*args, peepholes=True, **kw)}


def weighted_sum(weights):
    """A loss whose gradient with respect to each output element is ``weights``."""
    return lambda output: F.sum(output * weights)


def finite_difference_norms(layer, x, loss, eps=1e-6):
    """‖∂L/∂h_t‖ by central differences: the sequence is split at t and h_t perturbed.

    Runs the fused layer on x[:t+1], nudges one element of h_t, continues from
    the nudged state on x[t+1:], and rebuilds the full output.
    """
    steps, batch, _ = x.shape
    norms = []
    for t in range(steps):
        head, state = layer(x[:t + 1])
        h = state[0].data if isinstance(state, tuple) else state.data
        grad = np.zeros_like(h)
        for index in np.ndindex(h.shape):
            values = []
            for sign in (1, -1):
                nudged_h = h.copy()
                nudged_h[index] += sign * eps
                nudged = (nudged_h, state[1].data) if isinstance(state, tuple) else nudged_h
                output = head.data.copy()
                output[t] = nudged_h[0]
                if t + 1 < steps:
                    tail, _ = layer(x[t + 1:], nudged)
                    output = np.concatenate([output, tail.data])
                values.append(loss(output).item())
            grad[index] = (values[0] - values[1]) / (2 * eps)
        norms.append(np.linalg.norm(grad))
    return np.array(norms)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "lstm_peepholes"])
def test_norms_match_finite_differences(kind):
    rng = np.random.default_rng(0)
    layer = LAYERS[kind](3, 4, dtype=np.float64, rng=0)
    x = rng.standard_normal((5, 2, 3))
    weights = rng.standard_normal((5, 2, 4))

    def loss(output):
        return F.sum(F.tanh(output) * weights)

    norms = hidden_gradient_norms(layer, x, loss)
    assert norms.shape == (1, 5)
    np.testing.assert_allclose(norms[0], finite_difference_norms(layer, x, loss), rtol=1e-6)


def test_norms_match_a_hand_written_tanh_rnn_backward():
    rng = np.random.default_rng(1)
    layer = nn.RNN(3, 4, dtype=np.float64, rng=1)
    x = rng.standard_normal((6, 2, 3))
    weights = rng.standard_normal((6, 2, 4))
    w_ih, w_hh = layer.weight_ih_l0.data, layer.weight_hh_l0.data
    bias = layer.bias_ih_l0.data + layer.bias_hh_l0.data
    hidden, h = [], np.zeros((2, 4))
    for t in range(6):
        h = np.tanh(x[t] @ w_ih.T + h @ w_hh.T + bias)
        hidden.append(h)
    # dL/dh_t = direct part + what flows back from step t+1 through its tanh and W_hh.
    expected, upstream = np.zeros((6, 2)), np.zeros((2, 4))
    for t in reversed(range(6)):
        grad = weights[t] + upstream
        expected[t] = np.linalg.norm(grad, axis=1)
        upstream = (grad * (1 - hidden[t] ** 2)) @ w_hh
    norms = hidden_gradient_norms(layer, x, weighted_sum(weights), per_row=True)
    np.testing.assert_allclose(norms[0], expected, rtol=1e-10)


def test_tanh_rnn_gradient_vanishes_with_small_weights():
    rng = np.random.default_rng(2)
    layer = nn.RNN(2, 8, dtype=np.float64, rng=2)
    layer.weight_hh_l0.data *= 0.5
    x = rng.standard_normal((20, 4, 2))
    norms = hidden_gradient_norms(layer, x, lambda output: F.sum(output[-1]))[0]
    assert (np.diff(norms) > 0).all(), "each step back in time loses gradient"
    assert norms[0] < 1e-4 * norms[-1]


def test_reverse_direction_equals_a_forward_layer_on_the_reversed_sequence():
    rng = np.random.default_rng(3)
    bidirectional = nn.GRU(3, 4, bidirectional=True, dtype=np.float64, rng=3)
    x = rng.standard_normal((5, 2, 3))
    weights = rng.standard_normal((5, 2, 8))
    norms = hidden_gradient_norms(bidirectional, x, weighted_sum(weights))
    assert norms.shape == (2, 5)

    backward_only = nn.GRU(3, 4, dtype=np.float64, rng=0)
    backward_only.load_state_dict({name.replace("_reverse", ""): value
                                   for name, value in bidirectional.state_dict().items()
                                   if name.endswith("_reverse")})
    reversed_norms = hidden_gradient_norms(backward_only, x[::-1].copy(),
                                           weighted_sum(weights[::-1, :, 4:].copy()))
    np.testing.assert_allclose(norms[1], reversed_norms[0][::-1], rtol=1e-10)


def test_top_layer_of_a_stack_equals_a_single_layer_on_the_lower_output():
    rng = np.random.default_rng(4)
    stacked = nn.LSTM(3, 4, num_layers=2, dtype=np.float64, rng=4)
    x = rng.standard_normal((6, 2, 3))
    weights = rng.standard_normal((6, 2, 4))
    norms = hidden_gradient_norms(stacked, x, weighted_sum(weights))
    assert norms.shape == (2, 6) and (norms > 0).all()

    bottom = nn.LSTM(3, 4, dtype=np.float64, rng=0)
    top = nn.LSTM(4, 4, dtype=np.float64, rng=0)
    state = stacked.state_dict()
    bottom.load_state_dict({name: value for name, value in state.items() if name.endswith("l0")})
    top.load_state_dict({name.replace("l1", "l0"): value for name, value in state.items()
                         if name.endswith("l1")})
    lower_output, _ = bottom(x)
    top_norms = hidden_gradient_norms(top, lower_output.data, weighted_sum(weights))
    np.testing.assert_allclose(norms[1], top_norms[0], rtol=1e-10)


def test_cells_initial_state_and_the_layer_parameters_are_left_alone():
    rng = np.random.default_rng(5)
    cell = nn.LSTMCell(3, 4, dtype=np.float64, rng=5)
    x = rng.standard_normal((4, 2, 3))
    hx = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4)))
    norms = hidden_gradient_norms(cell, x, lambda output: F.sum(output[-1]), hx=hx)
    assert norms.shape == (1, 4)
    assert cell.weight_hh.grad is None

    layer = nn.LSTM(3, 4, dtype=np.float64, rng=0)
    layer.load_state_dict({f"{name}_l0": value for name, value in cell.state_dict().items()})
    layer_norms = hidden_gradient_norms(layer, x, lambda output: F.sum(output[-1]),
                                        hx=tuple(state[None] for state in hx))
    np.testing.assert_allclose(norms, layer_norms, rtol=1e-12)


def test_wrong_inputs_are_refused():
    layer = nn.RNN(3, 4, rng=0)
    with pytest.raises(TypeError, match="dtype"):
        hidden_gradient_norms(layer, np.zeros((2, 1, 3)), F.sum)
    with pytest.raises(TypeError, match="nn.RNN/LSTM/GRU"):
        hidden_gradient_norms(nn.Linear(3, 4), np.zeros((2, 1, 3), np.float32), F.sum)
