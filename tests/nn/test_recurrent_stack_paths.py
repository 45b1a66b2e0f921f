"""The two paths of the one recurrent stack op: inference and training, bit for bit.

``RecurrentStack`` (and ``RecurrentStep`` for the cells) runs the inference
kernels and records nothing when no gradient can flow (``no_grad``, or
nothing requires one), and the training kernels, keeping residuals, when one
can. These tests run both paths on the same layer and inputs and compare the
arrays exactly, over every layer option, and check when each path is taken and
that bad weights are refused before any kernel runs.
"""

import contextlib
import itertools

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentTypeError, DTypeError, ShapeError, Tensor, nn, no_grad

KINDS = {"rnn_tanh": (nn.RNN, {}), "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTM, {}), "gru": (nn.GRU, {}),
         "gru_reset_before": (nn.GRU, {"reset_after": False}),
         "lstm_peepholes": (nn.LSTM, {"peepholes": True}),
         "lstm_layer_norm": (nn.LSTM, {"layer_norm": True}),
         "gru_layer_norm": (nn.GRU, {"layer_norm": True}),
         "lstm_proj": (nn.LSTM, {"proj_size": 3})}


def call(layer, x, states, lengths):
    if isinstance(layer, nn.LSTM):
        output, (h_n, c_n) = layer(x, states, lengths=lengths)
        return [output, h_n, c_n]
    output, h_n = layer(x, None if states is None else states[0], lengths=lengths)
    return [output, h_n]


def run_path(layer, x, states, lengths, taped):
    """Results as arrays: recorded with gradients on (the training kernels), or under
    ``no_grad`` (the inference kernels)."""
    with contextlib.nullcontext() if taped else no_grad():
        results = call(layer, x, states, lengths)
    assert all(t.requires_grad == taped for t in results)
    return [t.data for t in results]


def both_paths(layer, x, states, lengths):
    """(untaped results, taped results) from one layer and one input."""
    return (run_path(layer, x, states, lengths, taped=False),
            run_path(layer, x, states, lengths, taped=True))


CONFIGS = list(itertools.product(
    KINDS, [1, 2], [False, True], [False, True], [False, True], ["none", "given"],
    ["none", "ragged"], [np.float32, np.float64]))


@pytest.mark.parametrize("kind, layers, bidirectional, batch_first, bias, states, lengths, dtype",
                         CONFIGS[::3])
def test_untaped_results_equal_the_taped_ones_exactly(kind, layers, bidirectional, batch_first,
                                                      bias, states, lengths, dtype):
    cls, extra = KINDS[kind]
    steps, batch, n_in, hidden = 7, 5, 4, 6
    layer = cls(n_in, hidden, layers, bias=bias, batch_first=batch_first,
                bidirectional=bidirectional, dtype=dtype, rng=0, **extra)
    rng = np.random.default_rng(1)
    shape = (batch, steps, n_in) if batch_first else (steps, batch, n_in)
    x = rng.standard_normal(shape).astype(dtype)
    initial = None
    if states == "given":
        sizes = layer.kind.state_sizes(hidden, layer.kind.options_of(layer))
        initial = tuple(rng.standard_normal((layers * (2 if bidirectional else 1), batch, size))
                        .astype(dtype) for size in sizes)
    row_lengths = None if lengths == "none" else rng.integers(1, steps + 1, batch)
    untaped, taped = both_paths(layer, x, initial, row_lengths)
    for a, b in zip(untaped, taped):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input_and_dropout_in_training_mode(kind):
    cls, extra = KINDS[kind]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    untaped, taped = both_paths(cls(3, 4, 2, rng=0, **extra), x, None, None)
    for a, b in zip(untaped, taped):
        np.testing.assert_array_equal(a, b)
    # Dropout between layers draws from the layer's generator on both paths alike:
    # two layers with one seed give the same masks, whichever path each takes.
    twins = [cls(3, 4, 3, dropout=0.5, rng=5, **extra) for _ in range(2)]
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    for _ in range(2):
        untaped = run_path(twins[0], x, None, None, taped=False)
        taped = run_path(twins[1], x, None, None, taped=True)
        for a, b in zip(untaped, taped):
            np.testing.assert_array_equal(a, b)
    with no_grad():
        plain = call(cls(3, 4, 3, dropout=0.5, rng=5, **extra).eval(), x, None, None)
    assert not np.array_equal(plain[0].data, untaped[0])  # the masks did act


def spy_on_inference(monkeypatch, module):
    """A list that gets "untaped" at each call of ``module``'s inference kernel."""
    seen = []
    original = module.forward_infer
    monkeypatch.setattr(module, "forward_infer",
                        lambda *args: seen.append("untaped") or original(*args))
    return seen


def test_which_path_runs(monkeypatch):
    layer = nn.LSTM(3, 4, rng=0)
    x = np.zeros((2, 1, 3), dtype=np.float32)
    seen = spy_on_inference(monkeypatch, numrnn.kernels.lstm)
    output, _ = layer(x)
    assert seen == [] and output.requires_grad  # parameters need gradients: taped
    with no_grad():
        output, _ = layer(x)
    assert seen == ["untaped"] and not output.requires_grad
    for param in layer.parameters():
        param.requires_grad = False
    layer(x)
    assert seen == ["untaped", "untaped"]
    layer(Tensor(x, requires_grad=True))  # the input needs a gradient: taped
    assert seen == ["untaped", "untaped"]
    h0 = Tensor(np.zeros((1, 1, 4), dtype=np.float32), requires_grad=True)
    layer(x, (h0, np.zeros((1, 1, 4), dtype=np.float32)))
    assert seen == ["untaped", "untaped"]


@pytest.mark.parametrize("name, value, error, match", [
    ("weight_hh_l0", np.zeros((16, 5), np.float32), ShapeError,
     r"LSTM: weight_hh_l0 must be a float32 array of shape \(16, 4\), got float32 array of "
     r"shape \(16, 5\)"),
    ("bias_ih_l0", np.zeros(16, np.float64), DTypeError,
     r"LSTM: bias_ih_l0 must be a float32 array of shape \(16,\), got float64"),
    ("weight_ih_l0", [[0.0]], ArgumentTypeError,
     r"weight_ih_l0 must be a float32 array .* got list"),
])
def test_a_replaced_weight_of_the_wrong_kind_is_refused(name, value, error, match):
    layer = nn.LSTM(3, 4, rng=0)
    getattr(layer, name).data = value
    with no_grad(), pytest.raises(error, match=match):
        layer(np.zeros((2, 1, 3), dtype=np.float32))


def test_non_contiguous_weights_are_used_as_they_are():
    layer = nn.GRU(3, 4, rng=0)
    x = np.random.default_rng(3).standard_normal((5, 2, 3)).astype(np.float32)
    with no_grad():
        expected = layer(x)[0].data
    layer.weight_hh_l0.data = np.asfortranarray(layer.weight_hh_l0.data)
    with no_grad():
        np.testing.assert_array_equal(layer(x)[0].data, expected)


CELLS = {"rnn_tanh": (nn.RNNCell, {}), "rnn_relu": (nn.RNNCell, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTMCell, {}), "gru": (nn.GRUCell, {}),
         "gru_reset_before": (nn.GRUCell, {"reset_after": False}),
         "lstm_peepholes": (nn.LSTMCell, {"peepholes": True}),
         "lstm_layer_norm": (nn.LSTMCell, {"layer_norm": True}),
         "gru_layer_norm": (nn.GRUCell, {"layer_norm": True})}


def cell_step(cell, x, states, taped, monkeypatch):
    with contextlib.nullcontext() if taped else no_grad():
        if isinstance(cell, nn.LSTMCell):
            new = cell(x, states)
        else:
            new = (cell(x, None if states is None else states[0]),)
    assert all(state.requires_grad == taped for state in new)
    return [state.data for state in new]


@pytest.mark.parametrize("kind, batched, bias, with_states, dtype", list(itertools.product(
    CELLS, [False, True], [False, True], [False, True], [np.float32, np.float64])))
def test_untaped_cell_steps_equal_the_taped_ones_exactly(kind, batched, bias, with_states, dtype,
                                                         monkeypatch):
    cls, extra = CELLS[kind]
    cell = cls(4, 6, bias=bias, dtype=dtype, rng=0, **extra)
    rng = np.random.default_rng(4)
    lead = (3,) if batched else ()
    x = rng.standard_normal(lead + (4,)).astype(dtype)
    states = None
    if with_states:
        states = tuple(rng.standard_normal(lead + (6,)).astype(dtype)
                       for _ in range(2 if cls is nn.LSTMCell else 1))
    untaped = cell_step(cell, x, states, False, monkeypatch)
    taped = cell_step(cell, x, states, True, monkeypatch)
    for a, b in zip(untaped, taped):
        assert a.shape == b.shape == lead + (6,) and a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_a_cell_records_only_when_a_gradient_can_flow():
    cell = nn.GRUCell(3, 4, rng=0)
    x = np.ones((2, 3), dtype=np.float32)
    assert cell(x).requires_grad
    with no_grad():
        assert not cell(x).requires_grad
    cell.weight_hh.data = np.zeros((12, 5), dtype=np.float32)
    with no_grad(), pytest.raises(ShapeError, match=r"GRUCell: weight_hh must be a float32 "
                                                    r"array of shape \(12, 4\)"):
        cell(x)
