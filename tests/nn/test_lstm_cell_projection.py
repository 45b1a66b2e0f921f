"""nn.LSTMCell(proj_size=P): the step of torch.nn.LSTM(proj_size=P), and a projected decoder.

``h' = W_hr (o * tanh(c'))`` with ``weight_hr`` (P, H) and ``weight_hh`` (4H, P): h
has P features, c H. A cell loop is the projected layer step by step (and torch's),
its gradients match central differences, and Seq2Seq builds its decoder of such
cells, trains it, decodes and reloads it.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, ShapeError, nn
from numrnn.optim import Adam
from numrnn.testing import gradcheck_module

PAD, BOS, EOS = 0, 2, 3


def projected(input_size=3, hidden_size=5, proj_size=2, **options):
    return nn.LSTMCell(input_size, hidden_size, proj_size=proj_size, dtype=np.float64, rng=3,
                       **options)


def layer_of(cell):
    """An nn.LSTM(proj_size=P) holding the cell's weights."""
    layer = nn.LSTM(cell.input_size, cell.hidden_size, bias=cell.bias,
                    proj_size=cell.proj_size, dtype=np.float64)
    layer.load_state_dict({f"{name}_l0": parameter.data
                           for name, parameter in cell.named_parameters()})
    return layer


def loop(cell, x, state=None):
    hs, cs = [], []
    for step in x:
        state = cell(step, state)
        hs.append(state[0].data)
        cs.append(state[1].data)
    return np.stack(hs), np.stack(cs)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("given_state", [False, True])
def test_a_cell_loop_is_the_projected_layer_step_by_step(bias, given_state):
    cell = projected(bias=bias)
    assert [(name, p.shape) for name, p in cell.named_parameters()] == [
        ("weight_ih", (20, 3)), ("weight_hh", (20, 2))] + ([("bias_ih", (20,)),
                                                           ("bias_hh", (20,))] if bias else []) \
        + [("weight_hr", (2, 5))]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 3))
    h0, c0 = rng.standard_normal((3, 2)), rng.standard_normal((3, 5))
    hs, cs = loop(cell, x, (h0, c0) if given_state else None)
    output, (h_n, c_n) = layer_of(cell)(x, (h0[None], c0[None]) if given_state else None)
    np.testing.assert_allclose(hs, output.data, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hs[-1], h_n.data[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(cs[-1], c_n.data[0], rtol=0, atol=1e-12)
    unbatched_h, _ = loop(cell, x[:, 1], (h0[1], c0[1]) if given_state else None)
    np.testing.assert_allclose(unbatched_h, hs[:, 1], rtol=0, atol=1e-12)


def test_a_cell_loop_is_torchs_projected_lstm():
    torch = pytest.importorskip("torch")
    cell = projected(hidden_size=6, proj_size=3)
    theirs = torch.nn.LSTM(3, 6, proj_size=3, dtype=torch.float64)
    with torch.no_grad():
        for name, parameter in cell.named_parameters():
            getattr(theirs, f"{name}_l0").copy_(torch.from_numpy(parameter.data))
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    hs, cs = loop(cell, x)
    output, (_, c_n) = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(hs, output.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(cs[-1], c_n.detach().numpy()[0], rtol=0, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 3), steps=st.integers(1, 3), hidden=st.integers(2, 4),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_gradients_match_central_differences(batch, steps, hidden, bias, seed):
    rng = np.random.default_rng(seed)
    proj = int(rng.integers(1, hidden))
    cell = projected(hidden_size=hidden, proj_size=proj, bias=bias)
    x = rng.standard_normal((steps, batch, 3))
    h0, c0 = rng.standard_normal((batch, proj)), rng.standard_normal((batch, hidden))

    def call(module, xs, h, c):
        state = (h, c)
        for step in xs:
            state = module(step, state)
        return state

    assert gradcheck_module(cell, [x, h0, c0], call=call)


@pytest.mark.parametrize("options, pattern", [
    ({"proj_size": 5}, r"LSTMCell: proj_size must be in \[0, hidden_size=5\)"),
    ({"proj_size": -1}, r"LSTMCell: proj_size must be in \[0, hidden_size=5\)"),
    ({"proj_size": True}, r"LSTMCell: proj_size must be an int, got True"),
    ({"proj_size": 2, "peepholes": True}, r"LSTMCell: proj_size and peepholes do not combine"),
    ({"proj_size": 2, "layer_norm": True}, r"LSTMCell: proj_size and layer_norm do not"),
])
def test_bad_projections_are_refused_by_name(options, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        nn.LSTMCell(3, 5, **options)


def test_states_are_checked_against_their_own_sizes():
    cell = projected()
    x = np.zeros((2, 3))
    with pytest.raises(ShapeError, match=r"LSTMCell: h must have shape \(2, 2\), got \(2, 5\)"):
        cell(x, (np.zeros((2, 5)), np.zeros((2, 5))))
    with pytest.raises(ShapeError, match=r"LSTMCell: c must have shape \(2, 5\), got \(2, 2\)"):
        cell(x, (np.zeros((2, 2)), np.zeros((2, 2))))


def test_the_projection_is_described_and_rebuilt():
    cell = projected(input_dropout=0.1)
    assert repr(cell) == "LSTMCell(3, 5, input_dropout=0.1, proj_size=2, dtype=float64)"
    rebuilt = nn.LSTMCell(**cell.get_config())
    assert rebuilt.proj_size == 2 and rebuilt.weight_hr.shape == (2, 5)


def _batch(seed, steps=4, batch=3, vocab=7):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, steps + 1, size=batch)
    lengths[0] = steps
    ids = rng.integers(4, vocab, size=(steps, batch))
    ids[0] = BOS
    ids[lengths - 1, np.arange(batch)] = EOS
    ids[np.arange(steps)[:, None] >= lengths[None, :]] = PAD
    return ids, lengths


def _model(dtype=np.float64, **overrides):
    encoder = nn.GRU(3, 4, bidirectional=True, dtype=dtype, rng=0)
    return nn.Seq2Seq(encoder, 9, 7, decoder_options={"proj_size": 2}, decoder_hidden_size=5,
                      decoder_layers=2, rng=1, **overrides)


def test_a_projected_decoder_is_sized_by_its_h():
    model = _model()
    assert [cell.proj_size for cell in model.decoder_cells] == [2, 2]
    # h of P = 2 is the query, h~ and the input feeding; c keeps 5.
    assert model.decoder_l0.input_size == 3 + 2 and model.decoder_l1.input_size == 2
    assert model.bridge_h.out_features == 2 * 2 and model.bridge_c.out_features == 2 * 5
    assert model.combine.in_features == 8 + 2 and model.output.in_features == 2
    src, src_lengths = _batch(seed=1, vocab=9)
    memory, state = model.encode(src, src_lengths)
    assert [h.shape for h in state.hidden] == [(3, 2)] * 2
    assert [c.shape for c in state.cell] == [(3, 5)] * 2 and state.feed.shape == (3, 2)
    dot = nn.Seq2Seq(nn.GRU(3, 4, dtype=np.float64), 9, 7, decoder_hidden_size=5,
                     decoder_options={"proj_size": 4}, attention="dot")
    assert dot.attention.query_size == dot.attention.key_size == 4
    with pytest.raises(ArgumentError, match="dot"):
        nn.Seq2Seq(nn.GRU(3, 4, dtype=np.float64), 9, 7, decoder_hidden_size=5,
                   decoder_options={"proj_size": 2}, attention="dot")


def test_decoder_steps_equal_the_projected_layer_over_the_target():
    model = _model(input_feeding=False).eval()
    src, src_lengths = _batch(seed=1, vocab=9)
    tgt, _ = _batch(seed=2)
    memory, initial = model.encode(src, src_lengths)
    state, tops = initial, []
    with numrnn.no_grad():
        for tokens in tgt:
            _, state, _ = model.decode_step(tokens, state, memory)
            tops.append(state.hidden[-1].data)
    layer = nn.LSTM(model.embedding_dim, 5, num_layers=2, proj_size=2, dtype=np.float64)
    for index, cell in enumerate(model.decoder_cells):
        for name, parameter in cell.named_parameters():
            getattr(layer, f"{name}_l{index}").data[...] = parameter.data
    hx = (np.stack([h.data for h in initial.hidden]), np.stack([c.data for c in initial.cell]))
    with numrnn.no_grad():
        output, _ = layer(model.tgt_embedding(tgt), hx)
    np.testing.assert_allclose(np.stack(tops), output.data, rtol=1e-12, atol=1e-13)


def test_a_projected_decoder_trains_decodes_saves_and_reloads(tmp_path):
    model = _model(dtype=np.float32)
    src, src_lengths = _batch(seed=3, vocab=9)
    tgt, tgt_lengths = _batch(seed=4)
    optimizer = Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = model.loss(src, src_lengths, tgt, tgt_lengths)
        loss.backward()
        assert np.abs(model.decoder_l0.weight_hr.grad).max() > 0
        optimizer.step()
        losses.append(float(loss.data))
    assert losses[-1] < 0.7 * losses[0]
    model.eval()
    greedy = model.greedy_decode(src, src_lengths, max_length=5)
    beam = model.beam_search(src, src_lengths, beam_size=1, max_length=5)
    np.testing.assert_array_equal(greedy.tokens, beam.tokens)
    numrnn.save(model, tmp_path / "model.safetensors")
    restored = numrnn.load_model(tmp_path / "model.safetensors").eval()
    assert restored.get_config()["decoder_options"] == {"proj_size": 2}
    assert repr(restored) == repr(model)
    for a, b in zip(model.beam_search(src, src_lengths, beam_size=3, max_length=5),
                    restored.beam_search(src, src_lengths, beam_size=3, max_length=5)):
        np.testing.assert_array_equal(a, b)
