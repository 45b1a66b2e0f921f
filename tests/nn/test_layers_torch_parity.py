"""Parity with torch.nn.RNN/LSTM/GRU and their cells: outputs, final states, gradients.

Weights go from torch to numrnn through ``state_dict`` unchanged, which also
proves the names, shapes and gate orders agree. Every configuration torch
supports (``proj_size`` in ``test_lstm_projection_torch_parity.py``) is compared:
1..3 layers, both directions, batch_first, without bias, tanh/relu, padded
batches with lengths against ``pack_padded_sequence(enforce_sorted=False)`` +
``pad_packed_sequence``, and unbatched input. Tolerances are relative to the
largest reference value: 1e-9 in float64, 1e-4 in float32.
"""

import itertools

import numpy as np
import pytest

from numrnn import Tensor, nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

STEPS, BATCH, INPUT, HIDDEN = 6, 4, 3, 5
# max(LENGTHS) < STEPS: torch pads only to the longest row, numrnn keeps all steps.
LENGTHS = np.array([5, 2, 1, 4])
TOLERANCE = {np.float64: 1e-9, np.float32: 1e-4}
KINDS = {
    "rnn_tanh": (nn.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, torch.nn.LSTM, {}),
    "gru": (nn.GRU, torch.nn.GRU, {}),
}
TORCH_DTYPES = {np.float64: torch.float64, np.float32: torch.float32}


def assert_close(got, want, dtype, what):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-3)
    error = float(np.abs(got - want).max(initial=0.0))
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch's {want.shape}"
    assert error <= TOLERANCE[dtype] * scale, f"{what}: max error {error:.3g} (scale {scale:.3g})"


def layer_pair(kind, dtype, seed=0, **config):
    ours_cls, torch_cls, extra = KINDS[kind]
    torch.manual_seed(seed)
    theirs = torch_cls(INPUT, HIDDEN, **extra, **config, dtype=TORCH_DTYPES[dtype])
    ours = ours_cls(INPUT, HIDDEN, **extra, **config, dtype=dtype)
    ours.load_state_dict({name: v.detach().numpy() for name, v in theirs.state_dict().items()})
    return ours, theirs


def run_ours(layer, x, states, lengths):
    if isinstance(layer, nn.LSTM):
        output, (h_n, c_n) = layer(x, None if states is None else tuple(states), lengths=lengths)
        return output, [h_n, c_n]
    output, h_n = layer(x, None if states is None else states[0], lengths=lengths)
    return output, [h_n]


def run_torch(layer, x, states, lengths, batch_first):
    hx = None if states is None else (tuple(states) if isinstance(layer, torch.nn.LSTM)
                                      else states[0])
    if lengths is None:
        output, finals = layer(x, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.as_tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        packed_output, finals = layer(packed, hx)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_output,
                                                           batch_first=batch_first)
    return output, list(finals) if isinstance(finals, tuple) else [finals]


def compare_layers(kind, dtype, num_layers=1, bidirectional=False, batch_first=False, bias=True,
                   inputs="full", with_states=True, dropout=0.0, training=True):
    ours, theirs = layer_pair(kind, dtype, num_layers=num_layers, bidirectional=bidirectional,
                              batch_first=batch_first, bias=bias, dropout=dropout)
    ours.train(training)
    theirs.train(training)
    rng = np.random.default_rng(1)
    directions = 2 if bidirectional else 1
    if inputs == "unbatched":
        x_shape, state_shape = (STEPS, INPUT), (num_layers * directions, HIDDEN)
    else:
        x_shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
        state_shape = (num_layers * directions, BATCH, HIDDEN)
    lengths = LENGTHS if inputs == "lengths" else None
    x = rng.standard_normal(x_shape).astype(dtype)
    n_states = 2 if kind == "lstm" else 1
    states = [rng.standard_normal(state_shape).astype(dtype) for _ in range(n_states)]

    x_ours = Tensor(x, requires_grad=True)
    states_ours = [Tensor(s, requires_grad=True) for s in states] if with_states else None
    output, finals = run_ours(ours, x_ours, states_ours, lengths)
    x_torch = torch.tensor(x, requires_grad=True)
    states_torch = [torch.tensor(s, requires_grad=True) for s in states] if with_states else None
    output_torch, finals_torch = run_torch(theirs, x_torch, states_torch, lengths, batch_first)

    # torch's padded output covers max(lengths) steps; numrnn's is zero after them.
    time_axis = 1 if batch_first and inputs != "unbatched" else 0
    kept = output_torch.shape[time_axis]
    assert not np.take(output.data, range(kept, STEPS), axis=time_axis).any()
    assert_close(np.take(output.data, range(kept), axis=time_axis), output_torch, dtype, "output")
    for name, got, want in zip(("h_n", "c_n"), finals, finals_torch):
        assert_close(got.data, want, dtype, name)

    output_grad = rng.standard_normal(output.shape).astype(dtype)
    final_grads = [rng.standard_normal(state.shape).astype(dtype) for state in finals]
    loss = (output * output_grad).sum()
    for state, grad in zip(finals, final_grads):
        loss = loss + (state * grad).sum()
    loss.backward()
    kept_grad = torch.tensor(np.take(output_grad, range(kept), axis=time_axis))
    loss_torch = (output_torch * kept_grad).sum()
    for state, grad in zip(finals_torch, final_grads):
        loss_torch = loss_torch + (state * torch.tensor(grad)).sum()
    loss_torch.backward()

    assert_close(x_ours.grad, x_torch.grad, dtype, "grad input")
    for index in range(n_states if with_states else 0):
        assert_close(states_ours[index].grad, states_torch[index].grad, dtype,
                     f"grad {('h_0', 'c_0')[index]}")
    torch_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, torch_params[name].grad, dtype, f"grad {name}")


CONFIGURATIONS = [
    (kind, num_layers, bidirectional, batch_first, bias, inputs)
    for kind, num_layers, bidirectional, batch_first, bias, inputs in itertools.product(
        KINDS, (1, 2, 3), (False, True), (False, True), (True, False),
        ("full", "lengths", "unbatched"))
    if not (inputs == "unbatched" and batch_first)  # batch_first does not apply
]


@pytest.mark.parametrize("kind, num_layers, bidirectional, batch_first, bias, inputs",
                         CONFIGURATIONS)
def test_layer_matches_torch_float64(kind, num_layers, bidirectional, batch_first, bias, inputs):
    compare_layers(kind, np.float64, num_layers, bidirectional, batch_first, bias, inputs)


@pytest.mark.parametrize("kind, num_layers, bidirectional, batch_first, bias, inputs",
                         [c for c in CONFIGURATIONS if c[1] != 2])
def test_layer_matches_torch_float32(kind, num_layers, bidirectional, batch_first, bias, inputs):
    compare_layers(kind, np.float32, num_layers, bidirectional, batch_first, bias, inputs)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("inputs", ["full", "lengths", "unbatched"])
def test_missing_initial_state_means_zeros_like_torch(kind, inputs):
    compare_layers(kind, np.float64, num_layers=2, bidirectional=True, inputs=inputs,
                   with_states=False)


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_layer_in_eval_mode_matches_torch(kind):
    compare_layers(kind, np.float64, num_layers=3, bidirectional=True, inputs="lengths",
                   dropout=0.5, training=False)


# -- cells ---------------------------------------------------------------------
CELLS = {
    "rnn_tanh": (nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (nn.GRUCell, torch.nn.GRUCell, {}),
}


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cell_matches_torch(kind, bias, batched, with_state, dtype):
    ours_cls, torch_cls, extra = CELLS[kind]
    torch.manual_seed(0)
    theirs = torch_cls(INPUT, HIDDEN, bias=bias, **extra, dtype=TORCH_DTYPES[dtype])
    ours = ours_cls(INPUT, HIDDEN, bias=bias, **extra, dtype=dtype)
    ours.load_state_dict({name: v.detach().numpy() for name, v in theirs.state_dict().items()})
    rng = np.random.default_rng(2)
    x = rng.standard_normal((BATCH, INPUT) if batched else (INPUT,)).astype(dtype)
    n_states = 2 if kind == "lstm" else 1
    states = [rng.standard_normal((BATCH, HIDDEN) if batched else (HIDDEN,)).astype(dtype)
              for _ in range(n_states)]

    x_ours = Tensor(x, requires_grad=True)
    x_torch = torch.tensor(x, requires_grad=True)
    states_ours = [Tensor(s, requires_grad=True) for s in states]
    states_torch = [torch.tensor(s, requires_grad=True) for s in states]
    if kind == "lstm":
        got = ours(x_ours, tuple(states_ours) if with_state else None)
        want = theirs(x_torch, tuple(states_torch) if with_state else None)
    else:
        got = (ours(x_ours, states_ours[0] if with_state else None),)
        want = (theirs(x_torch, states_torch[0] if with_state else None),)

    grads = [rng.standard_normal(g.shape).astype(dtype) for g in got]
    loss = (got[0] * grads[0]).sum()
    if kind == "lstm":
        loss = loss + (got[1] * grads[1]).sum()
    loss.backward()
    sum((w * torch.tensor(grad)).sum() for w, grad in zip(want, grads)).backward()
    for name, g, w in zip(("h", "c"), got, want):
        assert_close(g.data, w, dtype, name)
    assert_close(x_ours.grad, x_torch.grad, dtype, "grad input")
    if with_state:
        for name, s_ours, s_torch in zip(("h", "c"), states_ours, states_torch):
            assert_close(s_ours.grad, s_torch.grad, dtype, f"grad {name}")
    torch_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, torch_params[name].grad, dtype, f"grad {name}")
