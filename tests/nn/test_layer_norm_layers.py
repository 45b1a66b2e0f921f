"""nn.LSTM / nn.GRU / the cells with ``layer_norm=True``: parameters and their start,
a stacked bidirectional layer against the cell composed from primitive ops (forward and
every gradient), gradcheck, saving and loading, and what is refused."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, Tensor, nn
from numrnn.functional import cell_kinds
from numrnn.testing import gradcheck_module
from numrnn.testing.strategies import sequence_batches
from tests.functional.test_layer_norm_cells_op import composed

LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU}
CELLS = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}
EXTRA = {"LSTM": ["ln_cell_weight", "ln_cell_bias"], "GRU": []}


def run(layer, x, states=None, lengths=None):
    """``(output, [finals])`` of any layer."""
    if isinstance(layer, nn.LSTM):
        output, (h_n, c_n) = layer(x, states, lengths=lengths)
        return output, [h_n, c_n]
    output, h_n = layer(x, None if states is None else states[0], lengths=lengths)
    return output, [h_n]


@pytest.mark.parametrize("mode", sorted(LAYERS))
@pytest.mark.parametrize("bias", [True, False])
def test_parameters_follow_the_standard_four_and_start_at_gain_1_shift_0(mode, bias):
    layer = LAYERS[mode](3, 4, num_layers=2, bidirectional=True, bias=bias, layer_norm=True,
                         recurrent_init="orthogonal", rng=0)
    rows = cell_kinds.kind_of(mode).gate_count * 4
    expected = []
    for suffix in ("l0", "l0_reverse", "l1", "l1_reverse"):
        width = 3 if suffix.startswith("l0") else 8
        expected += [(f"weight_ih_{suffix}", (rows, width)), (f"weight_hh_{suffix}", (rows, 4))]
        if bias:
            expected += [(f"bias_ih_{suffix}", (rows,)), (f"bias_hh_{suffix}", (rows,))]
        expected += [(f"{name}_{suffix}", (rows,)) for name in
                     ("ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias")]
        expected += [(f"{name}_{suffix}", (4,)) for name in EXTRA[mode]]
    parameters = dict(layer.named_parameters())
    assert [(name, p.shape) for name, p in parameters.items()] == expected
    for name, parameter in parameters.items():
        if name.startswith("ln_"):
            want = 1.0 if "_weight_" in name else 0.0
            np.testing.assert_array_equal(parameter.data, want)
        else:
            assert np.unique(parameter.data).size > 1
    layer.ln_ih_weight_l1.data[...] = 3.0
    layer.reset_parameters()
    np.testing.assert_array_equal(layer.ln_ih_weight_l1.data, 1.0)


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_cells_have_the_same_parameters_and_match_one_layer_step(mode):
    cell = CELLS[mode](3, 4, layer_norm=True, dtype=np.float64, rng=0)
    layer = LAYERS[mode](3, 4, layer_norm=True, dtype=np.float64, rng=1)
    names = [name for name, _ in cell.named_parameters()]
    assert names == [name[:-3] for name, _ in layer.named_parameters()]
    for name, parameter in cell.named_parameters():
        parameter.data[...] = np.random.default_rng(len(name)).uniform(0.5, 1.0, parameter.shape)
        getattr(layer, f"{name}_l0").data[...] = parameter.data
    x = np.random.default_rng(2).standard_normal((5, 3))
    states = cell(x) if mode == "LSTM" else (cell(x),)
    _, finals = run(layer, x[None])
    for state, final in zip(states, finals):
        np.testing.assert_array_equal(state.data, final.data[0])
    assert repr(cell) == f"{mode}Cell(3, 4, layer_norm=True, dtype=float64)"


def _composed_layer(layer, x, lengths):
    """A stacked, bidirectional layer from the primitive cell of the op tests."""
    kind = layer.kind
    layer_input = x
    finals = []
    for index in range(layer.num_layers):
        outputs = []
        for direction, reverse in enumerate((False, True)[:layer.num_directions]):
            weights = layer._weights(index, direction)
            zeros = [Tensor(np.zeros((x.shape[1], layer.hidden_size))) for _ in kind.states]
            output, *last = composed(kind, layer_input, zeros, weights, lengths, reverse)
            outputs.append(output)
            finals.append(last)
        layer_input = numrnn.functional.concatenate(outputs, axis=2)
    return layer_input, finals


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_stacked_bidirectional_layer_matches_the_composed_cell(mode):
    layer = LAYERS[mode](3, 4, num_layers=2, bidirectional=True, layer_norm=True,
                         dtype=np.float64, rng=0)
    for name, parameter in layer.named_parameters():
        if name.startswith("ln_"):
            parameter.data += np.random.default_rng(len(name)).uniform(-0.4, 0.4,
                                                                         parameter.shape)
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((5, 3, 3)), requires_grad=True)
    lengths = np.array([5, 2, 4])
    seed = rng.standard_normal((5, 3, 8))
    output, finals = run(layer, x, lengths=lengths)
    # The LSTM's c_n is no output's function: its gradient enters on its own.
    fused_loss = (output * seed).sum()
    if mode == "LSTM":
        fused_loss = fused_loss + finals[1].sum()
    fused_loss.backward()
    fused = {name: p.grad.copy() for name, p in layer.named_parameters()}
    fused_x = x.grad.copy()
    layer.zero_grad()
    x.grad = None
    expected, expected_finals = _composed_layer(layer, x, lengths)
    np.testing.assert_allclose(output.data, expected.data, rtol=1e-10, atol=1e-10)
    loss = (expected * seed).sum()
    if mode == "LSTM":
        c_n = numrnn.functional.stack([last[1] for last in expected_finals], axis=0)
        np.testing.assert_allclose(finals[1].data, c_n.data, rtol=1e-10, atol=1e-10)
        loss = loss + c_n.sum()
    loss.backward()
    np.testing.assert_allclose(fused_x, x.grad, rtol=1e-9, atol=1e-10)
    for name, parameter in layer.named_parameters():
        np.testing.assert_allclose(fused[name], parameter.grad, rtol=1e-9, atol=1e-10,
                                   err_msg=name)


@given(mode=st.sampled_from(sorted(LAYERS)),
       batch=sequence_batches(max_steps=4, max_batch=3, features=st.integers(1, 3),
                              min_value=-1.5, max_value=1.5),
       bidirectional=st.booleans())
def test_gradcheck_layer_with_lengths(mode, batch, bidirectional):
    x, lengths = batch
    layer = LAYERS[mode](x.shape[2], 3, bidirectional=bidirectional, layer_norm=True,
                         dtype=np.float64, rng=0)

    def outputs(module, x):
        output, finals = run(module, x, lengths=lengths)
        return (output, *finals)

    gradcheck_module(layer, [x], call=outputs, directions=6)


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_save_and_load_model_round_trip(mode, tmp_path):
    layer = LAYERS[mode](3, 4, num_layers=2, bidirectional=True, layer_norm=True, rng=0)
    layer.ln_hh_bias_l1_reverse.data[...] = 0.25
    path = tmp_path / "layer.safetensors"
    numrnn.save(layer, path)
    loaded = numrnn.load_model(path)
    assert loaded.layer_norm is True and repr(loaded) == repr(layer)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(run(loaded, x)[0].data, run(layer, x)[0].data)


@pytest.mark.parametrize("make", [
    lambda value: nn.LSTM(3, 4, layer_norm=value), lambda value: nn.GRU(3, 4, layer_norm=value),
    lambda value: nn.LSTMCell(3, 4, layer_norm=value),
    lambda value: nn.GRUCell(3, 4, layer_norm=value)],
    ids=["LSTM", "GRU", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("value", [1, "yes", None])
def test_a_layer_norm_that_is_not_a_bool_is_refused(make, value):
    with pytest.raises(ArgumentError, match=f"layer_norm must be True or False, got {value!r}"):
        make(value)


@pytest.mark.parametrize("make", [nn.GRU, nn.GRUCell])
def test_the_reset_before_gru_with_layer_norm_is_refused(make):
    with pytest.raises(ArgumentError, match="layer_norm=True needs reset_after=True"):
        make(3, 4, reset_after=False, layer_norm=True)


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_hidden_gradient_norms_run_through_the_normalised_cell(mode):
    from numrnn.diagnostics import hidden_gradient_norms
    layer = LAYERS[mode](3, 4, num_layers=2, layer_norm=True, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal((6, 2, 3))
    norms = hidden_gradient_norms(layer, x, lambda output: output[-1].sum())
    assert norms.shape == (2, 6) and np.isfinite(norms).all() and (norms > 0).all()


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_onnx_export_refuses_a_layer_normalised_layer(mode, tmp_path):
    pytest.importorskip("onnx")
    from numrnn.onnx import export
    with pytest.raises(ArgumentError, match=f"cannot export {mode} with options .*"
                                            "'layer_norm': True.*no ONNX op"):
        export(LAYERS[mode](3, 4, layer_norm=True), tmp_path / "model.onnx")
