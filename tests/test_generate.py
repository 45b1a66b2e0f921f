"""Generation: one step per token, greedy at temperature 0, top-k, seeds, save/load round trip."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError
from numrnn.data import CharVocab
from numrnn.errors import ShapeError
from numrnn.generate import generate, generate_text, sample_logits
from numrnn.language_model import CharLanguageModel

TEXT = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def model():
    vocab = CharVocab.build(TEXT)
    return CharLanguageModel(vocab=vocab, embedding_dim=8, hidden_size=16, num_layers=2, rng=0)


class CountingModel:
    """Wraps a model and records the length of every sequence it is called on."""

    def __init__(self, model):
        self.model = model
        self.lengths = []
        self.training = model.training

    def __call__(self, tokens, state=None):
        self.lengths.append(len(tokens))
        return self.model(tokens, state)

    def eval(self):
        self.model.eval()

    def train(self, mode=True):
        self.model.train(mode)


def test_one_step_per_token_and_the_same_tokens_as_recomputing_the_prefix(model):
    prompt = model.vocab.encode("def ")
    counting = CountingModel(model)
    tokens = generate(counting, prompt, 12, temperature=0)
    # The prompt once, then one single step for each token but the last.
    assert counting.lengths == [len(prompt)] + [1] * 11

    model.eval()
    sequence = list(prompt)
    for _ in range(12):
        logits, _ = model(np.array(sequence)[:, None])
        sequence.append(int(logits.data[-1, 0].argmax()))
    np.testing.assert_array_equal(tokens, sequence[len(prompt):])


def test_temperature_zero_is_greedy_and_deterministic(model):
    prompt = model.vocab.encode("ret")
    first = generate(model, prompt, 20, temperature=0, rng=1)
    second = generate(model, prompt, 20, temperature=0, rng=2)
    np.testing.assert_array_equal(first, second)
    logits = np.array([[0.1, 3.0, -1.0], [2.0, 1.0, 5.0]])
    np.testing.assert_array_equal(sample_logits(logits, temperature=0), [1, 2])


def test_top_k_never_samples_outside_the_top_k():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((500, 10))
    allowed = np.argsort(-logits, axis=1)[:, :3]
    chosen = sample_logits(logits, temperature=5.0, top_k=3, rng=rng)
    assert all(chosen[row] in allowed[row] for row in range(500))
    assert len(np.unique(chosen)) > 3, "a high temperature spreads draws over the top three"
    # With ties at the k-th value, still exactly k candidates.
    ties = np.zeros((200, 6))
    assert len(np.unique(sample_logits(ties, top_k=2, rng=rng))) <= 2


def test_sampling_follows_the_softmax_and_skips_zero_probability_tokens():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.0, 0.2, 0.8]]) + 1e-300).repeat(4000, axis=0)
    chosen = sample_logits(logits, rng=rng)
    assert 0 not in chosen
    assert abs((chosen == 2).mean() - 0.8) < 0.03


def test_same_seed_same_sample_and_different_seeds_differ(model):
    prompt = model.vocab.encode("a")
    first = generate(model, prompt, 30, temperature=1.5, rng=7)
    again = generate(model, prompt, 30, temperature=1.5, rng=np.random.default_rng(7))
    other = generate(model, prompt, 30, temperature=1.5, rng=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_batched_prompts_and_continuing_from_a_returned_state(model):
    prompts = np.stack([model.vocab.encode("de"), model.vocab.encode("re")], axis=1)
    tokens = generate(model, prompts, 6, temperature=0)
    assert tokens.shape == (6, 2)
    np.testing.assert_array_equal(tokens[:, 1], generate(model, prompts[:, 1], 6, temperature=0))

    head, state = generate(model, prompts[:, 0], 4, temperature=0, return_state=True)
    tail = generate(model, head[-1:], 3, temperature=0, state=state)
    np.testing.assert_array_equal(np.concatenate([head, tail]), generate(
        model, prompts[:, 0], 7, temperature=0))


def test_round_trip_through_save_and_load_model_gives_the_same_sample(model, tmp_path):
    path = tmp_path / "lm.safetensors"
    numrnn.save(model, path)
    reloaded = numrnn.load_model(path)
    assert isinstance(reloaded, CharLanguageModel)
    assert reloaded.vocab.itos == model.vocab.itos
    first = generate_text(model, "def ", 40, temperature=0.8, top_k=5, rng=3)
    assert generate_text(reloaded, "def ", 40, temperature=0.8, top_k=5, rng=3) == first
    assert len(first) == 40


def test_generation_leaves_the_training_mode_as_it_was(model):
    model.train()
    generate(model, model.vocab.encode("d"), 3)
    assert model.training and model.lstm.training


def test_bad_arguments_are_refused(model):
    with pytest.raises(ValueError, match="L >= 1"):
        generate(model, np.array([], dtype=np.int64), 3)
    with pytest.raises(TypeError, match="integer token ids"):
        generate(model, np.array([0.5]), 3)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, np.array([1]), 3, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, np.array([1]), 3, top_k=0)


def test_a_plain_function_is_a_model():
    # Greedy over a table whose most likely successor of token i is i + 1.
    table = np.eye(5)[[1, 2, 3, 4, 0]] * 10.0

    def successor(tokens, state):
        return table[tokens], state

    np.testing.assert_array_equal(generate(successor, np.array([2]), 6, temperature=0),
                                  [3, 4, 0, 1, 2, 3])


def test_top_p_samples_only_the_nucleus_in_proportion():
    rng = np.random.default_rng(0)
    probabilities = np.array([[0.1, 0.4, 0.2, 0.3]])
    logits = np.log(probabilities).repeat(6000, axis=0)
    # Sorted: 0.4 (token 1), 0.3 (token 3): mass 0.7 >= 0.5, so token 2 and 0 are out.
    chosen = sample_logits(logits, top_p=0.5, rng=rng)
    assert set(np.unique(chosen)) == {1, 3}
    assert abs((chosen == 1).mean() - 4 / 7) < 0.03
    # The nucleus stops at the token that reaches top_p exactly.
    assert set(np.unique(sample_logits(logits, top_p=0.7, rng=rng))) == {1, 3}
    assert set(np.unique(sample_logits(logits, top_p=1.0, rng=rng))) == {0, 1, 2, 3}
    # A tiny top_p keeps the most likely token only, ties going to the lower id.
    np.testing.assert_array_equal(sample_logits(logits[:50], top_p=1e-9, rng=rng), 1)
    ties = np.zeros((50, 4))
    np.testing.assert_array_equal(sample_logits(ties, top_p=0.2, rng=rng), 0)


def test_top_p_applies_after_temperature_and_top_k(model):
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]])).repeat(3000, axis=0)
    rng = np.random.default_rng(1)
    # A high temperature flattens the distribution, so 0.6 needs three tokens...
    flat = sample_logits(logits, temperature=100.0, top_p=0.6, rng=rng)
    assert set(np.unique(flat)) == {0, 1, 2}
    # ...unless top_k has already cut it to two.
    assert set(np.unique(sample_logits(logits, temperature=100.0, top_k=2, top_p=0.6,
                                       rng=rng))) == {0, 1}
    sample = generate(model, model.vocab.encode("de"), 8, top_p=0.9, rng=0)
    assert sample.shape == (8,)


@pytest.mark.parametrize("top_p", [0, -0.1, 1.5, True, "0.9", float("nan")])
def test_bad_top_p_is_refused(model, top_p):
    with pytest.raises(ArgumentError, match=r"top_p must be a number in \(0, 1\] or None"):
        generate(model, np.array([1]), 3, top_p=top_p)
    with pytest.raises(ArgumentError, match=r"sample_logits: top_p must be"):
        sample_logits(np.zeros((1, 3)), top_p=top_p)


def _forward_calls(model):
    """Record every call of ``model``'s forward (an instance attribute: its class is unchanged)."""
    calls = []
    forward = model.forward

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return forward(*args, **kwargs)

    model.forward = counted
    return calls


def test_a_char_language_model_samples_one_token_a_step_without_calling_its_forward(model):
    # The stepper (a Streamer over the LSTM) runs the prompt and every sampled token,
    # so sampling never compiles the sequence kernel a one-row call of the model takes.
    calls = _forward_calls(model.lstm)
    tokens, state = generate(model, model.vocab.encode("def "), 12, temperature=0,
                             return_state=True)
    assert calls == []
    assert tokens.shape == (12,)
    assert state[0].shape == state[1].shape == (2, 1, 16)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_the_stepper_gives_the_models_logits_and_state_to_rounding(dtype, tolerance):
    vocab = CharVocab.build(TEXT)
    model = CharLanguageModel(vocab=vocab, embedding_dim=8, hidden_size=16, num_layers=2,
                              dtype=dtype, rng=0)
    model.eval()
    tokens = np.stack([vocab.encode("def a"), vocab.encode("retur")], axis=1)
    start = tuple(numrnn.Tensor(np.random.default_rng(1).standard_normal((2, 2, 16))
                                .astype(dtype)) for _ in range(2))
    with numrnn.no_grad():
        logits, (h, c) = model(tokens, start)
        stepper = model.stepper(2, start)
        stepped = stepper.feed(tokens[:3])
        np.testing.assert_allclose(stepped.data[0], logits.data[2], rtol=tolerance,
                                   atol=tolerance)
        stepped = stepper.feed(tokens[3:])
    assert stepped.shape == (1, 2, len(vocab))
    np.testing.assert_allclose(stepped.data[0], logits.data[-1], rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(stepper.state[0].data, h.data, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(stepper.state[1].data, c.data, rtol=tolerance, atol=tolerance)


def test_a_subclass_with_its_own_forward_or_an_unfitting_state_is_called_instead(model):
    class Shifted(CharLanguageModel):
        def forward(self, tokens, state=None):
            logits, state = super().forward(tokens, state)
            return logits + 1.0, state

    shifted = Shifted(vocab=model.vocab, embedding_dim=8, hidden_size=16, num_layers=2, rng=0)
    assert shifted.stepper(1) is None
    # So is a forward set on the instance, an LSTM swapped for another module, no rows.
    patched = CharLanguageModel(vocab=model.vocab, embedding_dim=8, hidden_size=16,
                                num_layers=2, rng=0)
    _forward_calls(patched)
    assert patched.stepper(1) is None
    swapped = CharLanguageModel(vocab=model.vocab, embedding_dim=8, hidden_size=16,
                                num_layers=2, rng=0)
    swapped.lstm = numrnn.nn.GRU(8, 16, num_layers=2, rng=0)
    assert swapped.stepper(1) is None
    assert model.stepper(0) is None
    calls = _forward_calls(shifted)
    generate(shifted, shifted.vocab.encode("de"), 3, temperature=0)
    assert calls == [2, 1, 1]
    # A state the stepper cannot hold goes to the model's call, which judges it.
    assert model.stepper(1, state=(np.zeros((2, 1, 16)),) * 2) is None
    assert model.stepper(1, state=(np.zeros((1, 1, 16), np.float32),) * 2) is None
    calls = _forward_calls(model)
    with pytest.raises(ShapeError, match="h_0"):
        generate(model, model.vocab.encode("de"), 3,
                 state=(np.zeros((1, 1, 16), np.float32),) * 2)
    assert calls == [2]
