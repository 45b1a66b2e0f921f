"""input_dropout / recurrent_dropout on the single-step cells: one pair of masks per sequence.

A cell sees one step per call, so it holds its masks between calls: a call with no
state (a sequence from zeros) draws fresh ones, a call with a state reuses them,
``reset_dropout_masks()`` forgets them. Nothing is drawn or applied in evaluation
mode. The masks are those of the layers (drawn in the same order from the same kind
of generator), so a cell loop equals the layer and the fused sequence ops.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, ShapeError, nn
from numrnn import functional as F
from numrnn.testing import gradcheck_module

CELLS = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell, "RNN": nn.RNNCell}
LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
OPS = {"LSTM": F.lstm, "GRU": F.gru, "RNN": F.rnn}
RATES = {"input_dropout": 0.3, "recurrent_dropout": 0.4}


def make(kind, dtype=np.float64, rng=7, **options):
    return CELLS[kind](3, 4, dtype=dtype, rng=rng, **{**RATES, **options})


def sequence(steps=5, batch=3, seed=1):
    return np.random.default_rng(seed).standard_normal((steps, batch, 3))


def loop(cell, x, state=None):
    """The cell over every step of ``x`` (T, B, I): the stacked h of each step."""
    outputs = []
    for step in x:
        state = cell(step, state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return F.stack(outputs), state


@pytest.mark.parametrize("kind", CELLS)
def test_the_masks_are_the_same_at_every_step_and_are_the_sequence_ops(kind):
    cell, x = make(kind), sequence()
    outputs, _ = loop(cell, x)
    input_mask, recurrent_mask = cell.dropout_masks
    assert input_mask.shape == (3, 3) and recurrent_mask.shape == (3, 4)
    assert {float(value) for value in np.unique(input_mask)} <= {0.0, 1 / 0.7}
    assert {float(value) for value in np.unique(recurrent_mask)} <= {0.0, 1 / 0.6}
    weights = [getattr(cell, name).data for name in ("weight_ih", "weight_hh", "bias_ih",
                                                     "bias_hh")]
    states = (None, None) if kind == "LSTM" else (None,)
    expected = OPS[kind](x, *states, *weights, input_mask=input_mask,
                         recurrent_mask=recurrent_mask)[0]
    np.testing.assert_allclose(outputs.data, expected.data, atol=1e-12, rtol=0)
    cell.eval()
    plain, _ = loop(cell, x)
    assert not np.allclose(plain.data, outputs.data)


@pytest.mark.parametrize("kind", CELLS)
def test_a_new_sequence_draws_fresh_masks_and_reset_forgets_them(kind):
    cell, x = make(kind), sequence()
    _, state = loop(cell, x)
    first = cell.dropout_masks
    loop(cell, x, state)
    assert cell.dropout_masks is first  # a state given: the same sequence goes on
    loop(cell, x)
    second = cell.dropout_masks
    assert not np.array_equal(second[0], first[0])
    cell.reset_dropout_masks()
    assert cell.dropout_masks is None
    loop(cell, x, state)
    assert not np.array_equal(cell.dropout_masks[1], second[1])


@pytest.mark.parametrize("kind", CELLS)
def test_evaluation_mode_draws_and_applies_nothing(kind):
    cell, plain, x = make(kind), make(kind, input_dropout=0.0, recurrent_dropout=0.0), sequence()
    cell.eval()
    state = cell.rng.bit_generator.state
    np.testing.assert_array_equal(loop(cell, x)[0].data, loop(plain, x)[0].data)
    assert cell.dropout_masks is None and cell.rng.bit_generator.state == state


@pytest.mark.parametrize("kind", CELLS)
def test_a_cell_loop_is_the_layer_with_the_same_masks(kind):
    cell, layer, x = make(kind), LAYERS[kind](3, 4, dtype=np.float64, rng=7, **RATES), sequence()
    layer.load_state_dict({f"{name}_l0": parameter.data
                           for name, parameter in cell.named_parameters()})
    cell.rng, layer.rng = np.random.default_rng(11), np.random.default_rng(11)
    outputs, _ = loop(cell, x)
    np.testing.assert_allclose(outputs.data, layer(x)[0].data, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", CELLS)
def test_an_unbatched_step_takes_one_row_of_masks(kind):
    cell, x = make(kind), sequence(batch=1)
    cell.rng = np.random.default_rng(5)
    batched, _ = loop(cell, x)
    cell.rng = np.random.default_rng(5)
    unbatched, _ = loop(cell, x[:, 0])
    np.testing.assert_allclose(unbatched.data, batched.data[:, 0], atol=1e-12, rtol=0)


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(sorted(CELLS)), batch=st.integers(1, 3),
       steps=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_gradients_with_the_masks_held_match_central_differences(kind, batch, steps, seed):
    cell = make(kind, rng=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, 3))
    h0 = rng.standard_normal((batch, 4))
    cell(x[0])  # draws the masks: every call below, given a state, holds them fixed
    masks = cell.dropout_masks

    def call(module, xs, *given):
        return loop(module, xs, tuple(given) if kind == "LSTM" else given[0])

    states = [h0, rng.standard_normal((batch, 4))] if kind == "LSTM" else [h0]
    assert gradcheck_module(cell, [x, *states], call=call)
    assert cell.dropout_masks is masks


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("name", RATES)
@pytest.mark.parametrize("bad", [1.0, -0.1, True, "0.5", None])
def test_a_bad_rate_is_refused_by_name_when_built_and_when_set(kind, name, bad):
    cell_name = CELLS[kind].__name__
    pattern = f"{cell_name}: {name} must be a number in \\[0, 1\\)"
    with pytest.raises(ArgumentError, match=pattern):
        CELLS[kind](3, 4, **{name: bad})
    cell = make(kind)
    with pytest.raises(ArgumentError, match=pattern):
        setattr(cell, name, bad)
    assert getattr(cell, name) == RATES[name]


@pytest.mark.parametrize("kind, options", [
    ("LSTM", {"peepholes": True}), ("LSTM", {"proj_size": 2}), ("LSTM", {"layer_norm": True}),
    ("GRU", {"reset_after": False}), ("GRU", {"layer_norm": True})],
    ids=["lstm_peepholes", "lstm_proj_size", "lstm_layer_norm", "gru_reset_before",
         "gru_layer_norm"])
def test_a_variant_cell_loop_is_the_variant_layer_with_the_same_masks(kind, options):
    # The variants' kernels apply the recurrent mask, so their cells take it too.
    cell = make(kind, **options)
    layer = LAYERS[kind](3, 4, dtype=np.float64, rng=7, **RATES, **options)
    layer.load_state_dict({f"{name}_l0": parameter.data
                           for name, parameter in cell.named_parameters()})
    cell.rng, layer.rng = np.random.default_rng(11), np.random.default_rng(11)
    outputs, _ = loop(cell, sequence())
    assert cell.dropout_masks[1] is not None and not np.all(cell.dropout_masks[1] == 1)
    np.testing.assert_allclose(outputs.data, layer(sequence())[0].data, atol=1e-12, rtol=0)


def test_masks_of_another_batch_are_refused_until_reset():
    cell, x = make("GRU"), sequence()
    _, state = loop(cell, x)
    with pytest.raises(ShapeError, match=r"GRUCell: the dropout masks held were drawn for a "
                                         r"batch of 3 rows, the input has 2: call "
                                         r"reset_dropout_masks\(\)"):
        cell(x[0, :2], state[:2])
    cell.reset_dropout_masks()
    assert cell(x[0, :2], state[:2]).shape == (2, 4)


def test_a_changed_rate_forgets_the_masks_and_the_rates_are_saved():
    cell = make("LSTM")
    cell(np.ones((2, 3)))
    cell.recurrent_dropout = 0.2
    assert cell.dropout_masks is None
    assert repr(cell) == "LSTMCell(3, 4, input_dropout=0.3, recurrent_dropout=0.2, " \
                         "dtype=float64)"
    rebuilt = nn.LSTMCell(**cell.get_config())
    assert (rebuilt.input_dropout, rebuilt.recurrent_dropout) == (0.3, 0.2)


def test_no_grad_steps_still_drop_in_training_mode():
    cell, x = make("RNN"), sequence()
    with numrnn.no_grad():
        outputs, _ = loop(cell, x)
    input_mask, recurrent_mask = cell.dropout_masks
    weights = [getattr(cell, name).data for name in ("weight_ih", "weight_hh", "bias_ih",
                                                     "bias_hh")]
    expected = F.rnn(x, None, *weights, input_mask=input_mask, recurrent_mask=recurrent_mask)[0]
    np.testing.assert_allclose(outputs.data, expected.data, atol=1e-12, rtol=0)


@settings(max_examples=8, deadline=None)
@given(variant=st.sampled_from([("LSTM", {"proj_size": 2}), ("LSTM", {"layer_norm": True}),
                                ("LSTM", {"peepholes": True}), ("GRU", {"reset_after": False}),
                                ("GRU", {"layer_norm": True})]),
       batch=st.integers(1, 3), steps=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_variant_cells_gradients_with_the_masks_held_match_central_differences(variant, batch,
                                                                               steps, seed):
    kind, options = variant
    cell = make(kind, rng=seed, **options)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, 3))
    h0 = rng.standard_normal((batch, options.get("proj_size", 4)))
    cell(x[0])  # draws the masks: every call below, given a state, holds them fixed
    masks = cell.dropout_masks
    assert masks[1].shape == h0.shape

    def call(module, xs, *given):
        return loop(module, xs, tuple(given) if kind == "LSTM" else given[0])

    states = [h0, rng.standard_normal((batch, 4))] if kind == "LSTM" else [h0]
    assert gradcheck_module(cell, [x, *states], call=call)
    assert cell.dropout_masks is masks
