"""RNN, LSTM, GRU layers: names, shapes, validation, dropout, init options, gradients."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numrnn import ArgumentError, ArgumentTypeError, DTypeError, ShapeError, Tensor, nn, no_grad
from numrnn.testing import gradcheck_module
from numrnn.testing.strategies import float_arrays, sequence_batches

LAYERS = {"rnn_tanh": (nn.RNN, {}), "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
          "lstm": (nn.LSTM, {}), "gru": (nn.GRU, {}),
          "gru_reset_before": (nn.GRU, {"reset_after": False})}
GATES = {nn.RNN: 1, nn.LSTM: 4, nn.GRU: 3}


def make(kind, *args, **kwargs):
    cls, extra = LAYERS[kind]
    return cls(*args, **extra, **kwargs)


def run(layer, x, h0=None, c0=None, lengths=None):
    """Call any layer with the same arguments; returns (output, [final states])."""
    if isinstance(layer, nn.LSTM):
        output, (h_n, c_n) = layer(x, None if h0 is None else (h0, c0), lengths=lengths)
        return output, [h_n, c_n]
    output, h_n = layer(x, h0, lengths=lengths)
    return output, [h_n]


def test_lstm_parameter_names_and_shapes_match_pytorch():
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    expected = []
    for layer, suffix in itertools.product(("l0", "l1"), ("", "_reverse")):
        n_in = 10 if layer == "l0" else 40
        expected += [(f"weight_ih_{layer}{suffix}", (80, n_in)),
                     (f"weight_hh_{layer}{suffix}", (80, 20)),
                     (f"bias_ih_{layer}{suffix}", (80,)), (f"bias_hh_{layer}{suffix}", (80,))]
    assert [(name, p.shape) for name, p in lstm.named_parameters()] == expected
    assert list(lstm.state_dict()) == [name for name, _ in expected]
    assert all(p.dtype == np.float32 for p in lstm.parameters())


@pytest.mark.parametrize("cls, gates", [(nn.RNN, 1), (nn.GRU, 3), (nn.LSTM, 4)])
def test_names_without_bias_and_layer_input_sizes(cls, gates):
    layer = cls(5, 3, num_layers=3, bias=False, dtype=np.float64)
    assert [name for name, _ in layer.named_parameters()] == [
        f"{kind}_l{k}" for k in range(3) for kind in ("weight_ih", "weight_hh")]
    assert layer.weight_ih_l0.shape == (gates * 3, 5)
    assert layer.weight_ih_l2.shape == (gates * 3, 3)
    assert layer.weight_hh_l1.dtype == np.float64


def test_repr_shows_only_non_default_arguments():
    assert repr(nn.LSTM(10, 20)) == "LSTM(10, 20)"
    assert repr(nn.LSTM(10, 20, num_layers=2, bidirectional=True)) == \
        "LSTM(10, 20, num_layers=2, bidirectional=True)"
    assert repr(nn.GRU(4, 5, 2, False, True, 0.5, dtype=np.float64)) == \
        "GRU(4, 5, num_layers=2, bias=False, batch_first=True, dropout=0.5, dtype=float64)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu", recurrent_init="identity")) == \
        "RNN(3, 4, nonlinearity='relu', recurrent_init='identity')"
    assert repr(nn.LSTM(3, 4, forget_bias=1.0)) == "LSTM(3, 4, forget_bias=1.0)"
    assert repr(nn.GRU(3, 4, 2, reset_after=False)) == \
        "GRU(3, 4, num_layers=2, reset_after=False)"


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_shapes_for_every_configuration(kind, num_layers, bidirectional, batch_first):
    steps, batch, n_in, hidden = 5, 3, 4, 6
    layer = make(kind, n_in, hidden, num_layers, batch_first=batch_first,
                 bidirectional=bidirectional, rng=0)
    directions = 2 if bidirectional else 1
    states = (num_layers * directions, batch, hidden)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, steps, n_in) if batch_first else (steps, batch, n_in))
    x = Tensor(x.astype(np.float32))
    h0 = Tensor(rng.standard_normal(states).astype(np.float32))
    lengths = np.array([5, 2, 4])

    output, finals = run(layer, x, h0, h0, lengths=lengths)
    time_major = output.data.swapaxes(0, 1) if batch_first else output.data
    assert time_major.shape == (steps, batch, directions * hidden)
    assert all(state.shape == states for state in finals)
    for row, length in enumerate(lengths):
        assert not time_major[length:, row].any(), "outputs past a row's length must be zero"

    output, finals = run(layer, x)
    assert output.shape == x.shape[:2] + (directions * hidden,)

    unbatched_x = Tensor(x.data[0] if batch_first else x.data[:, 0])
    output, finals = run(layer, unbatched_x, Tensor(h0.data[:, 0]), Tensor(h0.data[:, 0]))
    assert output.shape == (steps, directions * hidden)
    assert all(state.shape == (num_layers * directions, hidden) for state in finals)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_unbatched_equals_batch_of_one_and_batch_first_equals_time_major(kind):
    time_major = make(kind, 3, 4, 2, bidirectional=True, dtype=np.float64, rng=0)
    batch_first = make(kind, 3, 4, 2, bidirectional=True, batch_first=True, dtype=np.float64)
    batch_first.load_state_dict(time_major.state_dict())
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 2, 3))
    h0 = rng.standard_normal((4, 2, 4))
    expected, expected_finals = run(time_major, x, h0, h0)
    got, got_finals = run(batch_first, x.swapaxes(0, 1).copy(), h0, h0)
    np.testing.assert_allclose(got.data.swapaxes(0, 1), expected.data, rtol=1e-12)
    for want, have in zip(expected_finals, got_finals):
        np.testing.assert_allclose(have.data, want.data, rtol=1e-12)
    single, single_finals = run(time_major, x[:, 1], h0[:, 1], h0[:, 1])
    np.testing.assert_allclose(single.data, expected.data[:, 1], rtol=1e-12)
    for want, have in zip(expected_finals, single_finals):
        np.testing.assert_allclose(have.data, want.data[:, 1], rtol=1e-12)


def test_validation_errors_name_what_was_expected():
    lstm = nn.LSTM(64, 8, num_layers=2)
    x = np.zeros((5, 2, 64), dtype=np.float32)
    with pytest.raises(ShapeError, match=r"LSTM: input feature size must be 64 \(input_size\), "
                                         "got 128"):
        lstm(np.zeros((5, 2, 128), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"3-D \(T, B, I\) or 2-D \(T, I\) unbatched, got 4-D"):
        lstm(np.zeros((1, 5, 2, 64), dtype=np.float32))
    with pytest.raises(DTypeError, match="input must have dtype float32 .* got float64"):
        lstm(x.astype(np.float64))
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(2, 2, 8\)"):
        lstm(x, (np.zeros((1, 2, 8), np.float32), np.zeros((2, 2, 8), np.float32)))
    with pytest.raises(ShapeError, match=r"c_0 must have shape \(2, 2, 8\)"):
        lstm(x, (np.zeros((2, 2, 8), np.float32), np.zeros((2, 3, 8), np.float32)))
    with pytest.raises(DTypeError, match="c_0 must have dtype float32"):
        lstm(x, (np.zeros((2, 2, 8), np.float32), np.zeros((2, 2, 8))))
    with pytest.raises(ArgumentError, match="hx must be None or a pair"):
        lstm(x, np.zeros((2, 2, 8), np.float32))
    with pytest.raises(ShapeError, match=r"lengths must have shape \(2,\)"):
        lstm(x, lengths=[5, 5, 5])
    with pytest.raises(ShapeError, match=r"every length must be in 1..5"):
        lstm(x, lengths=[6, 1])
    with pytest.raises(ShapeError, match="lengths needs a batched"):
        lstm(x[:, 0], lengths=[5])
    with pytest.raises(ShapeError, match="at least one time step"):
        lstm(np.zeros((0, 2, 64), dtype=np.float32))
    with pytest.raises(ArgumentTypeError, match="must be a Tensor or ndarray, got list"):
        lstm([[[0.0] * 64]])
    with pytest.raises(ShapeError, match=r"\(B, T, I\)"):
        nn.GRU(3, 4, batch_first=True)(np.zeros(3, dtype=np.float32))


def test_constructor_validation():
    with pytest.raises(ArgumentError, match="hidden_size must be a positive int, got 0"):
        nn.LSTM(3, 0)
    with pytest.raises(ArgumentError, match="num_layers must be a positive int"):
        nn.GRU(3, 4, num_layers=1.5)
    with pytest.raises(ArgumentError, match=r"dropout must be a number in \[0, 1\)"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.0)
    with pytest.raises(ArgumentError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ArgumentError, match="recurrent_init must be one of"):
        nn.GRU(3, 4, recurrent_init="zeros")
    with pytest.raises(ArgumentError, match="GRU: reset_after must be True or False, got 'no'"):
        nn.GRU(3, 4, reset_after="no")
    with pytest.raises(ArgumentError, match="forget_bias=1.0 needs bias=True"):
        nn.LSTM(3, 4, bias=False, forget_bias=1.0)
    with pytest.raises(DTypeError, match="dtype must be float32 or float64, got float16"):
        nn.RNN(3, 4, dtype=np.float16)
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_dropout_between_layers_only_in_training():
    x = np.random.default_rng(3).standard_normal((6, 4, 5))
    layer = nn.GRU(5, 7, num_layers=3, dropout=0.5, dtype=np.float64, rng=0)
    reference = nn.GRU(5, 7, num_layers=3, dtype=np.float64)
    reference.load_state_dict(layer.state_dict())
    expected, _ = reference(x)

    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].data, expected.data)
    layer.train()
    first, second = layer(x)[0].data, layer(x)[0].data
    assert not np.allclose(first, expected.data) and not np.allclose(first, second)

    twin = nn.GRU(5, 7, num_layers=3, dropout=0.5, dtype=np.float64, rng=0)
    np.testing.assert_array_equal(twin(x)[0].data, first, "same seed, same masks")

    single_layer = nn.LSTM(5, 7, dtype=np.float64, rng=0)
    np.testing.assert_array_equal(single_layer(x)[0].data, single_layer(x)[0].data)


def test_default_init_is_uniform_and_seeded():
    layer = nn.LSTM(3, 16, num_layers=2, rng=0)
    for param in layer.parameters():
        assert np.abs(param.data).max() <= 0.25 and np.abs(param.data).max() > 0.2
    again = nn.LSTM(3, 16, num_layers=2, rng=0)
    wide = nn.LSTM(3, 16, num_layers=2, rng=0, dtype=np.float64)
    for name, array in layer.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], array)
        np.testing.assert_array_equal(wide.state_dict()[name].astype(np.float32), array)
    different = nn.LSTM(3, 16, num_layers=2, rng=1)
    assert not np.array_equal(different.weight_hh_l0.data, layer.weight_hh_l0.data)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_orthogonal_recurrent_init_per_gate_block(cls):
    hidden = 6
    layer = cls(4, hidden, num_layers=2, bidirectional=True, recurrent_init="orthogonal",
                dtype=np.float64, rng=0)
    for name, param in layer.named_parameters():
        if name.startswith("weight_hh"):
            for block in np.split(param.data, GATES[cls]):
                np.testing.assert_allclose(block @ block.T, np.eye(hidden), atol=1e-12)
        else:
            assert np.abs(param.data).max() <= 1 / np.sqrt(hidden)


def test_identity_init_gives_an_irnn():
    irnn = nn.RNN(3, 5, nonlinearity="relu", recurrent_init="identity", rng=0)
    np.testing.assert_array_equal(irnn.weight_hh_l0.data, np.eye(5, dtype=np.float32))
    gru = nn.GRU(3, 5, recurrent_init="identity")
    np.testing.assert_array_equal(gru.weight_hh_l0.data, np.tile(np.eye(5), (3, 1)))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_identity_init_zeroes_every_bias(cls):
    # Le, Jaitly & Hinton (2015): identity recurrent matrix, zero biases.
    layer = cls(3, 5, num_layers=2, bidirectional=True, recurrent_init="identity", rng=0)
    biases = {name: param.data for name, param in layer.named_parameters() if "bias" in name}
    assert len(biases) == 8
    for name, bias in biases.items():
        np.testing.assert_array_equal(bias, 0.0, err_msg=name)
    assert layer.weight_ih_l0.data.any(), "input weights keep their uniform draw"
    irnn = nn.RNN(1, 4, nonlinearity="relu", recurrent_init="identity", rng=0)
    h_0 = Tensor(np.array([[[0.5, 1.0, 0.0, 2.0]]], dtype=np.float32))
    _, h_n = irnn(Tensor(np.zeros((6, 1, 1), dtype=np.float32)), h_0)
    np.testing.assert_array_equal(h_n.data, h_0.data)


def test_identity_init_then_forget_bias():
    lstm = nn.LSTM(3, 5, recurrent_init="identity", forget_bias=1.0, rng=0)
    np.testing.assert_array_equal(lstm.bias_ih_l0.data[5:10], 1.0)
    np.testing.assert_array_equal(np.delete(lstm.bias_ih_l0.data, np.s_[5:10]), 0.0)
    np.testing.assert_array_equal(lstm.bias_hh_l0.data, 0.0)


def test_forget_bias_sets_the_total_forget_gate_bias():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, forget_bias=1.0, rng=0)
    for layer, suffix in itertools.product((0, 1), ("", "_reverse")):
        bias_ih = getattr(lstm, f"bias_ih_l{layer}{suffix}").data
        bias_hh = getattr(lstm, f"bias_hh_l{layer}{suffix}").data
        np.testing.assert_array_equal(bias_ih[5:10], 1.0)
        np.testing.assert_array_equal(bias_hh[5:10], 0.0)
        assert np.abs(bias_ih[:5]).max() <= 1 / np.sqrt(5) and bias_ih[:5].any()


def test_init_functions_validate_their_parameter():
    weight = nn.Parameter(np.zeros((12, 4)))
    nn.init.identity_(weight, gate_blocks=3)
    with pytest.raises(ShapeError, match="must be square"):
        nn.init.identity_(weight)
    with pytest.raises(ShapeError, match="12 rows cannot be split into 5"):
        nn.init.orthogonal_(weight, gate_blocks=5)
    with pytest.raises(ShapeError, match="4\\*hidden_size"):
        nn.init.forget_bias_(nn.Parameter(np.zeros(6)))
    nn.init.orthogonal_(weight, gain=2.0, rng=0)
    np.testing.assert_allclose(weight.data.T @ weight.data, 4 * np.eye(4), atol=1e-12)


def test_no_grad_inference_records_nothing():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, rng=0)
    with no_grad():
        output, (h_n, c_n) = lstm(np.ones((2, 1, 3), dtype=np.float32))
    assert not output.requires_grad and not h_n.requires_grad and not c_n.requires_grad


# -- gradients -----------------------------------------------------------------
# Random directional checks (v^T J u against central differences) cost a few
# forward passes whatever the parameter count; an entry-by-entry Jacobian of a
# stacked layer would need thousands.
DIRECTIONAL = {"full_jacobian_limit": 0, "directions": 6}


@st.composite
def layer_problems(draw):
    """A float64 layer configuration, a padded batch, initial states and lengths."""
    x, lengths = draw(sequence_batches(max_steps=6, max_batch=6, features=st.integers(1, 6)))
    hidden = draw(st.integers(1, 6))
    num_layers = draw(st.integers(1, 3))
    bidirectional = draw(st.booleans())
    batch_first = draw(st.booleans())
    use_lengths = draw(st.booleans())
    states = (num_layers * (2 if bidirectional else 1), x.shape[1], hidden)
    h0 = draw(float_arrays(states, min_value=-1.0, max_value=1.0))
    c0 = draw(float_arrays(states, min_value=-1.0, max_value=1.0))
    if batch_first:
        x = np.ascontiguousarray(x.swapaxes(0, 1))
    config = {"num_layers": num_layers, "bidirectional": bidirectional,
              "batch_first": batch_first, "bias": draw(st.booleans())}
    return config, x, h0, c0, (lengths if use_lengths else None), draw(st.integers(0, 2**16))


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru", "gru_reset_before"])
@settings(max_examples=20)
@given(problem=layer_problems())
def test_gradients_to_input_states_and_every_parameter(kind, problem):
    config, x, h0, c0, lengths, seed = problem
    layer = make(kind, x.shape[-1], h0.shape[-1], dtype=np.float64, rng=seed, **config)

    def call(module, x, h0, c0):
        output, finals = run(module, x, h0, c0, lengths=lengths)
        return output, finals

    gradcheck_module(layer, [x, h0, c0 if kind == "lstm" else None], call=call, **DIRECTIONAL)


def test_relu_rnn_gradients_away_from_the_kink():
    rng = np.random.default_rng(5)
    layer = nn.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True,
                   dtype=np.float64, rng=0)
    x = rng.standard_normal((4, 2, 3))
    h0 = rng.standard_normal((4, 2, 4))
    gradcheck_module(layer, [x, h0, None], call=lambda m, x, h0, _: run(m, x, h0, lengths=[4, 2]),
                     **DIRECTIONAL)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru", "gru_reset_before"])
def test_gradients_through_stacked_layers_with_dropout_active(kind):
    """Dropout between layers in training mode: gradients still match central differences.

    The layer's generator is reseeded before every evaluation, so each of
    gradcheck's calls draws the same masks and the function is deterministic.
    """
    layer = make(kind, 3, 4, num_layers=3, dropout=0.4, bidirectional=True, dtype=np.float64,
                 rng=0)
    x = np.random.default_rng(6).standard_normal((5, 2, 3))

    def call(module, x):
        module.rng = np.random.default_rng(7)
        return run(module, x)

    gradcheck_module(layer, [x], call=call, **DIRECTIONAL)
    with no_grad():
        dropped = call(layer, x)[0].data
        layer.eval()
        kept = call(layer, x)[0].data
    assert not np.allclose(dropped, kept)  # the masks did act on the path checked
