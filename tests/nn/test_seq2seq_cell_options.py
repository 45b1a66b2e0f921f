"""Seq2Seq with the cell options of the table of cell kinds, in its encoder and its decoder.

The decoder's cells take the options its kind's cells take (``decoder_options``);
the encoder may be any layer, a projected LSTM included, whose memory and bridge
are sized from its states as the cell table gives them.
"""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, ArgumentTypeError, nn
from numrnn.nn.module import substituted_parameters
from numrnn.testing import gradcheck

PAD, BOS, EOS = 0, 2, 3
LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
DECODER_OPTIONS = [("GRU", {"reset_after": False}), ("GRU", {"layer_norm": True}),
                   ("LSTM", {"peepholes": True}), ("LSTM", {"layer_norm": True}),
                   ("RNN", {"nonlinearity": "relu"})]
ENCODER_OPTIONS = [("LSTM", {"proj_size": 2}), ("LSTM", {"peepholes": True}),
                   ("LSTM", {"layer_norm": True}), ("GRU", {"reset_after": False}),
                   ("GRU", {"layer_norm": True})]


def _label(case):
    mode, options = case
    return mode + "-" + "-".join(f"{name}={value}" for name, value in options.items())


def _batch(seed=0, steps=4, batch=3, vocab=7):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, steps + 1, size=batch)
    lengths[0] = steps
    ids = rng.integers(4, vocab, size=(steps, batch))
    ids[0] = BOS
    ids[lengths - 1, np.arange(batch)] = EOS
    ids[np.arange(steps)[:, None] >= lengths[None, :]] = PAD
    return ids, lengths


@pytest.mark.parametrize("case", DECODER_OPTIONS, ids=_label)
def test_decoder_steps_equal_the_layer_run_over_the_whole_target(case):
    mode, options = case
    encoder = nn.GRU(3, 4, dtype=np.float64, rng=0)
    model = nn.Seq2Seq(encoder, 9, 7, decoder_mode=mode, decoder_options=options,
                       decoder_layers=2, decoder_hidden_size=5, input_feeding=False,
                       rng=1).eval()
    for cell in model.decoder_cells:
        assert cell.kind.options_of(cell) == {**cell.kind.options_of(type(cell)(1, 1)),
                                               **options}
    src, src_lengths = _batch(seed=1, vocab=9)
    tgt, _ = _batch(seed=2)
    memory, state = model.encode(src, src_lengths)
    initial = state
    tops = []
    with numrnn.no_grad():
        for tokens in tgt:
            _, state, _ = model.decode_step(tokens, state, memory)
            tops.append(state.hidden[-1].data)

    # The same weights in one stacked layer of the kind, run over the embedded target.
    layer = LAYERS[mode](model.embedding_dim, 5, num_layers=2, dtype=np.float64, **options)
    for index, cell in enumerate(model.decoder_cells):
        for name, parameter in cell.named_parameters():
            getattr(layer, f"{name}_l{index}").data[...] = parameter.data
    h0 = np.stack([h.data for h in initial.hidden])
    hx = h0 if initial.cell is None else (h0, np.stack([c.data for c in initial.cell]))
    with numrnn.no_grad():
        output, final = layer(model.tgt_embedding(tgt), hx)
    np.testing.assert_allclose(np.stack(tops), output.data, rtol=1e-12, atol=1e-13)
    finals = (final,) if state.cell is None else final
    steps = (state.hidden,) if state.cell is None else (state.hidden, state.cell)
    for stepped, whole in zip(steps, finals):
        np.testing.assert_allclose(np.stack([s.data for s in stepped]), whole.data,
                                   rtol=1e-12, atol=1e-13)


def _model(encoder_case, decoder_case, dtype=np.float64, **overrides):
    mode, options = encoder_case
    encoder = LAYERS[mode](3, 4, num_layers=2, bidirectional=True, dtype=dtype, rng=0,
                           **options)
    decoder_mode, decoder_options = decoder_case
    return nn.Seq2Seq(encoder, 6, 5, decoder_mode=decoder_mode,
                      decoder_options=decoder_options, rng=0,
                      **{"decoder_hidden_size": 3, **overrides})


@pytest.mark.parametrize("encoder_case, decoder_case",
                         list(zip(ENCODER_OPTIONS, DECODER_OPTIONS[::-1])),
                         ids=[f"{_label(e)}+{_label(d)}"
                              for e, d in zip(ENCODER_OPTIONS, DECODER_OPTIONS[::-1])])
def test_gradients_of_every_weight_match_finite_differences(encoder_case, decoder_case):
    model = _model(encoder_case, decoder_case).train()
    src, src_lengths = _batch(seed=3, steps=3, batch=2, vocab=6)
    tgt, tgt_lengths = _batch(seed=4, steps=3, batch=2, vocab=5)
    parameters = dict(model.named_parameters())
    trained = {name: parameters[name] for name in parameters
               if name.startswith(("encoder.", "decoder_l0.", "bridge_"))}
    model.loss(src, src_lengths, tgt, tgt_lengths).backward()
    for name, parameter in trained.items():
        assert np.abs(parameter.grad).max() > 0, f"no gradient reached {name}"

    def loss_of(*weights):
        with substituted_parameters(model, dict(zip(trained, weights))):
            return model.loss(src, src_lengths, tgt, tgt_lengths)

    gradcheck(loss_of, [parameter.data for parameter in trained.values()], directions=4,
              full_jacobian_limit=0)


def test_a_projected_encoder_sizes_the_memory_and_the_bridge_from_its_states():
    model = _model(("LSTM", {"proj_size": 2}), ("LSTM", {}), decoder_layers=2)
    # h: 2 layers x 2 directions x proj_size 2; c: the same x hidden_size 4.
    assert model.bridge_h.in_features == 8 and model.bridge_c.in_features == 16
    assert model.attention.key_size == 4 and model.combine.in_features == 4 + 3
    src, src_lengths = _batch(seed=5, vocab=6)
    memory, state = model.encode(src, src_lengths)
    assert memory.keys.shape == (3, 4, 4) and [h.shape for h in state.hidden] == [(3, 3)] * 2
    dot = _model(("LSTM", {"proj_size": 2}), ("GRU", {}), attention="dot",
                 decoder_hidden_size=4)
    assert dot.attention.key_size == 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_greedy_and_beam_decoding_and_a_saved_model_agree(tmp_path, dtype):
    model = _model(("LSTM", {"proj_size": 2}), ("GRU", {"reset_after": False}),
                   dtype=dtype).eval()
    src, src_lengths = _batch(seed=6, vocab=6)
    greedy = model.greedy_decode(src, src_lengths, max_length=5)
    beam = model.beam_search(src, src_lengths, beam_size=1, max_length=5)
    np.testing.assert_array_equal(greedy.tokens, beam.tokens)
    np.testing.assert_allclose(greedy.log_probs, beam.log_probs, rtol=1e-5)

    numrnn.save(model, tmp_path / "model.safetensors")
    restored = numrnn.load_model(tmp_path / "model.safetensors").eval()
    assert restored.get_config()["decoder_options"] == {"reset_after": False}
    assert restored.encoder.proj_size == 2 and repr(restored) == repr(model)
    for a, b in zip(model.beam_search(src, src_lengths, beam_size=3, max_length=5),
                    restored.beam_search(src, src_lengths, beam_size=3, max_length=5)):
        np.testing.assert_array_equal(a, b)


def test_decoder_options_are_checked_against_the_cell_table_first():
    encoder = nn.LSTM(3, 4, dtype=np.float64)
    with pytest.raises(ArgumentTypeError, match="decoder_options must be a dict, got list"):
        nn.Seq2Seq(encoder, 9, 7, decoder_options=[("peepholes", True)])
    with pytest.raises(ArgumentError, match="decoder_mode='GRU' take reset_after, layer_norm; "
                                            "got 'proj_size'"):
        nn.Seq2Seq(encoder, 9, 7, decoder_mode="GRU", decoder_options={"proj_size": 2})
    with pytest.raises(ArgumentError, match=r"decoder_options\['proj_size'\]: proj_size must "
                                            r"be in \[0, hidden_size=4\)"):
        nn.Seq2Seq(encoder, 9, 7, decoder_options={"proj_size": 4})
    with pytest.raises(ArgumentError, match="decoder_mode='GRU' take reset_after, layer_norm; "
                                            "got 'peepholes'"):
        nn.Seq2Seq(encoder, 9, 7, decoder_mode="GRU", decoder_options={"peepholes": True})
    with pytest.raises(ArgumentError, match=r"decoder_options\['layer_norm'\] must be one of "
                                            "False, True, got 1"):
        nn.Seq2Seq(encoder, 9, 7, decoder_options={"layer_norm": 1})
    with pytest.raises(ArgumentError, match="decoder_options: layer_norm=True needs "
                                            "reset_after=True"):
        nn.Seq2Seq(encoder, 9, 7, decoder_mode="GRU",
                   decoder_options={"reset_after": False, "layer_norm": True})
