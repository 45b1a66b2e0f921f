"""Seq2Seq: bridge, decoder, teacher forcing, gradients, greedy and beam decoding, files."""

import functools
import itertools

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, ArgumentTypeError, ShapeError, nn, optim
from numrnn import functional as F
from numrnn.nn.module import substituted_parameters
from numrnn.nn.seq2seq_decode import length_penalty
from numrnn.testing import gradcheck

PAD, BOS, EOS = 0, 2, 3
CONFIGS = {
    "bilstm-general-lstm2": (nn.LSTM, {"num_layers": 2, "bidirectional": True},
                             {"decoder_layers": 2, "attention": "general"}),
    "gru-additive-gru": (nn.GRU, {}, {"decoder_mode": "GRU", "attention": "additive",
                                      "decoder_hidden_size": 6}),
    "birnn-dot-lstm-nofeed": (nn.RNN, {"bidirectional": True},
                              {"attention": "dot", "decoder_hidden_size": 8,
                               "input_feeding": False}),
    "bigru-general-rnn-nobridge": (nn.GRU, {"bidirectional": True, "num_layers": 2},
                                   {"decoder_mode": "RNN", "bridge": False}),
}


def make_model(config, src_vocab=9, tgt_vocab=7, dtype=np.float64, seed=0, **overrides):
    """An untrained model of one of CONFIGS, in eval mode."""
    encoder_cls, encoder_options, options = CONFIGS[config]
    encoder = encoder_cls(3, 4, dtype=dtype, rng=seed, **encoder_options)
    return nn.Seq2Seq(encoder, src_vocab, tgt_vocab, rng=seed, **{**options, **overrides}).eval()


@functools.cache
def _trained_weights(config):
    # An untrained model tends to repeat one token forever; a few steps on a copy
    # task give outputs whose lengths follow the sources, so <eos> handling and
    # per-row stopping are exercised.
    model = make_model(config).train()
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    for _ in range(30):
        src, lengths = source_batch(seed=int(rng.integers(1 << 30)), batch=16)
        tgt = np.full((src.shape[0] + 2, 16), PAD)
        tgt[0] = BOS
        for row, length in enumerate(lengths):
            tgt[1:length + 1, row] = (src[:length, row] - 4) % 3 + 4
            tgt[length + 1, row] = EOS
        optimizer.zero_grad()
        model.loss(src, lengths, tgt, lengths + 2).backward()
        optimizer.step()
    return model.state_dict()


def trained_model(config):
    model = make_model(config)
    model.load_state_dict(_trained_weights(config))
    return model


def source_batch(seed=0, steps=6, batch=4, vocab=9):
    rng = np.random.default_rng(seed)
    src = rng.integers(4, vocab, size=(steps, batch))
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0] = steps
    src[np.arange(steps)[:, None] >= lengths[None, :]] = PAD
    return src, lengths


def target_batch(seed=0, steps=5, batch=4, vocab=7):
    rng = np.random.default_rng(seed + 100)
    lengths = rng.integers(2, steps + 1, size=batch)
    lengths[0] = steps
    tgt = rng.integers(4, vocab, size=(steps, batch))
    tgt[0] = BOS
    tgt[lengths - 1, np.arange(batch)] = EOS
    tgt[np.arange(steps)[:, None] >= lengths[None, :]] = PAD
    return tgt, lengths


@pytest.mark.parametrize("config", list(CONFIGS))
def test_beam_of_one_is_greedy(config):
    model = trained_model(config)
    src, lengths = source_batch()
    greedy = model.greedy_decode(src, lengths, max_length=7, alpha=0.7)
    beam = model.beam_search(src, lengths, beam_size=1, max_length=7, alpha=0.7)
    for got, want in zip(beam, greedy):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("config", ["bilstm-general-lstm2", "birnn-dot-lstm-nofeed"])
def test_trained_models_end_rows_at_different_steps(config):
    # Guards the tests above and below: with every row cut at max_length, they would
    # say nothing about <eos> handling.
    for seed in (0, 1):
        src, lengths = source_batch(seed=seed)
        result = trained_model(config).greedy_decode(src, lengths, max_length=7)
        assert len(set(result.lengths.tolist())) > 1 and result.ended.any()


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("beam_size", [1, 3])
def test_decoding_a_batch_equals_decoding_each_source_alone(config, beam_size):
    model = trained_model(config)
    src, lengths = source_batch(seed=1)
    together = model.beam_search(src, lengths, beam_size=beam_size, max_length=6, alpha=0.6)
    for row in range(src.shape[1]):
        alone = model.beam_search(src[:lengths[row], row:row + 1], lengths[row:row + 1],
                                  beam_size=beam_size, max_length=6, alpha=0.6)
        length = together.lengths[row]
        assert alone.lengths[0] == length
        np.testing.assert_array_equal(alone.tokens[0, :length], together.tokens[row, :length])
        np.testing.assert_allclose(alone.scores[0], together.scores[row], rtol=1e-10)
        np.testing.assert_allclose(alone.attention[0, :length],
                                   together.attention[row, :length, :lengths[row]], atol=1e-12)
        assert np.all(together.attention[row, :, lengths[row]:] == 0)


def test_beam_search_finds_the_best_sequence_when_wide_enough():
    # Tiny vocabulary, 3 steps: 85 possible outputs, all enumerated and scored by the
    # teacher-forced model; a beam wider than the search space must find the best.
    model = make_model("gru-additive-gru", tgt_vocab=5)
    model.output.bias.data[EOS] -= 4.0  # make the best outputs longer than a lone <eos>
    src, lengths = source_batch(seed=2, batch=2)
    max_length, alpha = 3, 0.6
    beam = model.beam_search(src, lengths, beam_size=100, max_length=max_length, alpha=alpha)
    others = [t for t in range(5) if t != EOS]
    candidates = [[EOS]] + [[a, EOS] for a in others] + \
        [[a, b, c] for a, b in itertools.product(others, others) for c in range(5)]
    for row in range(2):
        tgt = np.array([[BOS] + c + [PAD] * (max_length - len(c)) for c in candidates]).T
        count = len(candidates)
        logits = model(np.repeat(src[:, row:row + 1], count, axis=1),
                       np.repeat(lengths[row:row + 1], count), tgt[:-1])
        log_probs = F.log_softmax(logits, axis=-1).data
        totals = np.array([sum(log_probs[t, i, token] for t, token in enumerate(c))
                           for i, c in enumerate(candidates)])
        scores = totals / length_penalty([len(c) for c in candidates], alpha)
        best = int(np.argmax(scores))
        assert len(candidates[best]) > 1
        assert beam.tokens[row, :beam.lengths[row]].tolist() == candidates[best]
        np.testing.assert_allclose(beam.log_probs[row], totals[best], rtol=1e-10)
        np.testing.assert_allclose(beam.scores[row], scores[best], rtol=1e-10)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_beam_scores_are_the_log_probabilities_of_the_returned_tokens(config):
    # Recomputes each returned sequence's log-probability with teacher forcing: a beam
    # that lost track of which state belongs to which hypothesis would disagree.
    model = trained_model(config)
    for seed in (0, 1, 2):
        src, lengths = source_batch(seed=seed)
        result = model.beam_search(src, lengths, beam_size=3, max_length=6, alpha=0.6)
        tgt_in = np.concatenate([np.full((1, 4), BOS), result.tokens.T[:-1]], axis=0)
        log_probs = F.log_softmax(model(src, lengths, tgt_in), axis=-1).data
        for row in range(4):
            steps = range(result.lengths[row])
            total = sum(log_probs[t, row, result.tokens[row, t]] for t in steps)
            np.testing.assert_allclose(result.log_probs[row], total, rtol=1e-10)
        np.testing.assert_allclose(result.scores,
                                   result.log_probs / length_penalty(result.lengths, 0.6))


@pytest.mark.parametrize("decode", ["greedy", "beam"])
def test_eos_ends_a_row_and_max_length_cuts_it(decode):
    model = trained_model("bilstm-general-lstm2")
    src, lengths = source_batch()
    run = (lambda: model.greedy_decode(src, lengths, max_length=4)) if decode == "greedy" \
        else (lambda: model.beam_search(src, lengths, beam_size=2, max_length=4))
    model.output.bias.data[EOS] = 100.0
    result = run()
    assert result.tokens.tolist() == [[EOS]] * 4 and result.lengths.tolist() == [1] * 4
    assert result.ended.all()
    model.output.bias.data[EOS] = -100.0
    result = run()
    assert result.tokens.shape == (4, 4) and result.lengths.tolist() == [4] * 4
    assert not result.ended.any() and not np.any(result.tokens == EOS)
    np.testing.assert_allclose(result.attention.sum(axis=2), 1.0, rtol=1e-12)


def test_padding_in_sources_and_targets_has_no_influence_on_the_loss():
    model = make_model("bigru-general-rnn-nobridge", seed=3)
    src, src_lengths = source_batch(seed=3)
    tgt, tgt_lengths = target_batch(seed=3)
    loss = model.loss(src, src_lengths, tgt, tgt_lengths).item()
    src[np.arange(6)[:, None] >= src_lengths[None, :]] = 5
    tgt[np.arange(5)[:, None] >= tgt_lengths[None, :]] = 6
    assert model.loss(src, src_lengths, tgt, tgt_lengths).item() == loss


def test_zero_teacher_forcing_feeds_back_the_models_own_predictions():
    model = trained_model("bilstm-general-lstm2")
    src, lengths = source_batch()
    tgt, _ = target_batch()
    free = model(src, lengths, tgt[:-1], teacher_forcing_ratio=0.0, rng=0).data
    fed = np.concatenate([tgt[:1], np.argmax(free[:-1], axis=2)], axis=0)
    forced = model(src, lengths, fed, teacher_forcing_ratio=1.0).data
    np.testing.assert_allclose(forced, free, rtol=1e-12)
    assert not np.allclose(model(src, lengths, tgt[:-1]).data, free)
    mixed = [model(src, lengths, tgt[:-1], teacher_forcing_ratio=0.5, rng=7).data
             for _ in range(2)]
    np.testing.assert_array_equal(mixed[0], mixed[1])


def test_bridge_maps_any_encoder_shape_to_the_decoder_states():
    encoder = nn.GRU(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, rng=0)
    model = nn.Seq2Seq(encoder, 9, 7, decoder_layers=3, decoder_hidden_size=6, rng=0)
    assert model.bridge_h.in_features == 2 * 2 * 5 and model.bridge_c.out_features == 3 * 6
    src, lengths = source_batch()
    memory, state = model.encode(src, lengths)
    assert memory.keys.shape == (4, 6, 10)
    assert [h.shape for h in state.hidden] == [(4, 6)] * 3 and len(state.cell) == 3
    assert np.all(np.abs(state.hidden[2].data) < 1) and state.feed.shape == (4, 6)


def _encoder_gradients_check(model):
    src, src_lengths = source_batch(steps=3, batch=2, vocab=model.src_vocab_size)
    tgt, tgt_lengths = target_batch(steps=3, batch=2, vocab=model.tgt_vocab_size)
    loss = model.loss(src, src_lengths, tgt, tgt_lengths)
    loss.backward()
    encoder = dict(model.encoder.named_parameters())
    for name, param in encoder.items():
        assert np.abs(param.grad).max() > 1e-6, f"no gradient reached encoder {name}"

    def loss_of_encoder_weights(*weights):
        substitutes = {f"encoder.{name}": weight for name, weight in zip(encoder, weights)}
        with substituted_parameters(model, substitutes):
            return model.loss(src, src_lengths, tgt, tgt_lengths)

    # Random directions in the encoder's weight space (a full Jacobian would need two
    # forward passes per weight).
    gradcheck(loss_of_encoder_weights, [param.data for param in encoder.values()],
              directions=6, full_jacobian_limit=0)


def test_gradients_reach_the_encoder_through_attention_alone():
    model = make_model("bigru-general-rnn-nobridge", src_vocab=6, tgt_vocab=5).train()
    assert not hasattr(model, "bridge_h")
    _encoder_gradients_check(model)


def test_gradients_reach_the_encoder_through_the_bridge_alone():
    model = make_model("bilstm-general-lstm2", src_vocab=6, tgt_vocab=5)
    memory_size = model.attention.key_size
    model.combine.weight.data[:, :memory_size] = 0  # the context no longer reaches the output
    model.train()
    _encoder_gradients_check(model)
    assert np.all(model.attention.weight.grad == 0)


def test_save_and_load_model_round_trip(tmp_path):
    model = make_model("gru-additive-gru", dropout=0.1)
    model.load_state_dict(_trained_weights("gru-additive-gru"))
    path = tmp_path / "seq2seq.safetensors"
    numrnn.save(model, path)
    restored = numrnn.load_model(path).eval()
    assert isinstance(restored.encoder, nn.GRU) and restored.get_config().keys() == \
        model.get_config().keys()
    assert repr(restored) == repr(model)
    src, lengths = source_batch()
    for a, b in zip(model.beam_search(src, lengths, beam_size=3, max_length=5),
                    restored.beam_search(src, lengths, beam_size=3, max_length=5)):
        np.testing.assert_array_equal(a, b)


def test_float32_training_step_runs_and_lowers_the_loss():
    model = make_model("bilstm-general-lstm2", dtype=np.float32).train()
    src, src_lengths = source_batch()
    tgt, tgt_lengths = target_batch()
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = model.loss(src, src_lengths, tgt, tgt_lengths, teacher_forcing_ratio=0.9, rng=0)
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        assert loss.dtype == np.float32
    assert losses[-1] < losses[0]


def test_errors_name_what_is_wrong():
    encoder = nn.LSTM(3, 4, dtype=np.float64)
    with pytest.raises(ArgumentTypeError, match="encoder must be a numrnn RNN"):
        nn.Seq2Seq(nn.Linear(3, 4), 9, 7)
    with pytest.raises(ArgumentError, match="decoder_mode must be one of"):
        nn.Seq2Seq(encoder, 9, 7, decoder_mode="lstm")
    with pytest.raises(ArgumentError, match="query_size == key_size"):
        nn.Seq2Seq(encoder, 9, 7, attention="dot", decoder_hidden_size=5)
    with pytest.raises(ArgumentError, match="eos_index must be an id valid"):
        nn.Seq2Seq(encoder, 9, 3)
    model = nn.Seq2Seq(encoder, 9, 7, rng=0)
    src, lengths = source_batch()
    tgt, tgt_lengths = target_batch()
    with pytest.raises(ArgumentError, match="teacher_forcing_ratio must be in"):
        model(src, lengths, tgt, teacher_forcing_ratio=1.5)
    with pytest.raises(ShapeError, match="at least <bos> and <eos>"):
        model.loss(src, lengths, tgt, np.array([5, 1, 2, 2]))
    with pytest.raises(ArgumentError, match="beam_size must be a positive int"):
        model.beam_search(src, lengths, beam_size=0)
