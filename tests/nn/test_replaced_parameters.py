"""Every path that computes with a module's parameters checks them first.

A parameter's ``.data`` replaced by an array of another shape or dtype (or not an
array at all) is refused by the layers taped and untaped, the cells, the
Streamer, the embedding, linear, attention and normalization layers,
``hidden_gradient_norms``, decoding and generation, with the parameter's name,
the declared shape and dtype, and what was found, before any kernel runs.
"""

import contextlib
import re

import numpy as np
import pytest

from numrnn import ArgumentTypeError, DTypeError, ShapeError, nn, no_grad
from numrnn.data import CharVocab
from numrnn.diagnostics import hidden_gradient_norms
from numrnn.generate import generate
from numrnn.kernels import lstm as lstm_kernel
from numrnn.language_model import CharLanguageModel


def wrong_shape(array):
    """The same dtype, one more column (one more element for a vector)."""
    shape = array.shape[:-1] + (array.shape[-1] + 1,)
    return np.zeros(shape, dtype=array.dtype)


def wrong_dtype(array):
    return array.astype(np.float64)


REPLACEMENTS = {
    "shape": (wrong_shape, ShapeError, "float32 array of shape {}"),
    "dtype": (wrong_dtype, DTypeError, "float64 array of shape {}"),
    "list": (lambda array: array.tolist(), ArgumentTypeError, "list"),
}


def expect_refusal(module, name, replacement, run):
    """Replace ``module.<name>.data`` as ``replacement`` says; ``run()`` must be refused."""
    make, error, got = REPLACEMENTS[replacement]
    parameter = getattr(module, name)
    declared = parameter.data.shape
    parameter.data = make(parameter.data)
    new = parameter.data
    message = (f"{type(module).__name__}: {name} must be a float32 array of shape {declared}, "
               f"got " + got.format(getattr(new, "shape", None)))
    with pytest.raises(error, match=re.escape(message)):
        run()


def recording(taped):
    """Grad mode on (the taped path: parameters require gradients) or off (untaped)."""
    return contextlib.nullcontext() if taped else no_grad()


def sequence(steps=4, batch=2, features=3):
    return np.random.default_rng(0).standard_normal((steps, batch, features)).astype(np.float32)


LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}
LAYER_PARAMETERS = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l1"]


@pytest.mark.parametrize("replacement", REPLACEMENTS)
@pytest.mark.parametrize("name", LAYER_PARAMETERS)
@pytest.mark.parametrize("kind", LAYERS)
def test_streamer(kind, name, replacement):
    layer = LAYERS[kind](3, 4, num_layers=2, rng=0)
    frame = np.ones((1, 3), dtype=np.float32)
    expect_refusal(layer, name, replacement, lambda: layer.streamer(1).step(frame))


@pytest.mark.parametrize("kind", LAYERS)
def test_streamer_uses_non_contiguous_weights_as_they_are(kind):
    layer = LAYERS[kind](3, 4, num_layers=2, rng=0)
    frames = sequence(5, 1)
    contiguous = layer.streamer(1)
    expected = [contiguous.step(frame).copy() for frame in frames]
    for parameter in layer.parameters():
        parameter.data = np.asfortranarray(parameter.data) if parameter.ndim == 2 \
            else np.repeat(parameter.data, 2)[::2]
        assert not parameter.data.flags.c_contiguous
    stream = layer.streamer(1)
    for frame, output in zip(frames, expected):
        np.testing.assert_array_equal(stream.step(frame), output)


@pytest.mark.parametrize("taped", [True, False])
@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("name", LAYER_PARAMETERS)
@pytest.mark.parametrize("kind", LAYERS)
def test_recurrent_layers(kind, name, replacement, taped):
    layer = LAYERS[kind](3, 4, num_layers=2, rng=0)

    def run():
        with recording(taped):
            return layer(sequence())

    expect_refusal(layer, name, replacement, run)


@pytest.mark.parametrize("taped", [True, False])
def test_a_bad_weight_of_a_later_layer_is_refused_before_any_kernel_runs(taped, monkeypatch):
    layer = nn.LSTM(3, 4, num_layers=2, rng=0)
    layer.weight_hh_l1.data = wrong_shape(layer.weight_hh_l1.data)
    calls = []
    # Both paths reach the LSTM's kernels through this one function.
    original = lstm_kernel._run
    monkeypatch.setattr(lstm_kernel, "_run", lambda *args, **kw: calls.append(1)
                        or original(*args, **kw))
    with recording(taped), pytest.raises(ShapeError, match="LSTM: weight_hh_l1 must be"):
        layer(sequence())
    assert calls == []


CELLS = {"LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell, "RNNCell": nn.RNNCell}


@pytest.mark.parametrize("taped", [True, False])
@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("name", ["weight_ih", "weight_hh", "bias_hh"])
@pytest.mark.parametrize("kind", CELLS)
def test_cells(kind, name, replacement, taped):
    cell = CELLS[kind](3, 4, rng=0)
    x = np.ones((2, 3), dtype=np.float32)

    def run():
        with recording(taped):
            return cell(x)

    expect_refusal(cell, name, replacement, run)


@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("name, layer", [("weight_ih_l0", "LSTM"), ("bias_hh_l1", "GRU"),
                                         ("weight_hh", "LSTMCell")])
def test_hidden_gradient_norms(name, layer, replacement):
    module = LAYERS[layer](3, 4, num_layers=2, rng=0) if layer in LAYERS else CELLS[layer](3, 4)
    expect_refusal(module, name, replacement,
                   lambda: hidden_gradient_norms(module, sequence(), lambda output: output.sum()))


@pytest.mark.parametrize("taped", [True, False])
@pytest.mark.parametrize("replacement", ["shape", "dtype"])
def test_embedding(replacement, taped):
    embedding = nn.Embedding(10, 4, rng=0)

    def run():
        with recording(taped):
            return embedding(np.array([1, 2]))

    expect_refusal(embedding, "weight", replacement, run)


def test_an_embedding_table_with_fewer_rows_is_refused_even_for_ids_it_has():
    embedding = nn.Embedding(10, 4, rng=0)
    embedding.weight.data = np.zeros((5, 4), dtype=np.float32)
    with pytest.raises(ShapeError, match=re.escape(
            "Embedding: weight must be a float32 array of shape (10, 4), got float32 array of "
            "shape (5, 4)")):
        embedding(np.array([1, 2]))


@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("name", ["weight", "bias"])
def test_linear(name, replacement):
    linear = nn.Linear(3, 4, rng=0)
    expect_refusal(linear, name, replacement, lambda: linear(np.ones((2, 3), dtype=np.float32)))


def test_a_linear_weight_with_more_rows_is_refused_without_a_bias():
    linear = nn.Linear(3, 4, bias=False, rng=0)
    linear.weight.data = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(ShapeError, match=re.escape(
            "Linear: weight must be a float32 array of shape (4, 3), got float32 array of "
            "shape (5, 3)")):
        linear(np.ones((2, 3), dtype=np.float32))


@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("method, name", [("general", "weight"), ("additive", "query_weight"),
                                          ("additive", "key_weight"), ("additive", "bias"),
                                          ("additive", "v")])
def test_attention(method, name, replacement):
    attention = nn.Attention(4, 5, method=method, rng=0)
    query, keys = np.ones((2, 4), dtype=np.float32), np.ones((3, 2, 5), dtype=np.float32)
    expect_refusal(attention, name, replacement, lambda: attention(query, keys))


@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("name", ["weight", "bias"])
def test_layer_norm(name, replacement):
    norm = nn.LayerNorm(4)
    expect_refusal(norm, name, replacement, lambda: norm(np.ones((2, 4), dtype=np.float32)))


@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("beam_size", [1, 3])
def test_seq2seq_decoding(beam_size, replacement):
    model = nn.Seq2Seq(nn.GRU(4, 6, rng=0), 9, 7, rng=0).eval()
    src = np.array([[4, 5], [6, 4], [5, 0]])
    expect_refusal(model.tgt_embedding, "weight", replacement,
                   lambda: model.beam_search(src, [3, 2], beam_size=beam_size, max_length=4))


@pytest.mark.parametrize("replacement", ["shape", "dtype"])
@pytest.mark.parametrize("name", ["embedding.weight", "lstm.weight_hh_l1", "decoder.bias"])
def test_generate(name, replacement):
    vocab = CharVocab.build("abcdef")
    model = CharLanguageModel(vocab=vocab, embedding_dim=4, hidden_size=6, num_layers=2, rng=0)
    owner_name, parameter_name = name.split(".")
    expect_refusal(getattr(model, owner_name), parameter_name, replacement,
                   lambda: generate(model, vocab.encode("abc"), 3, rng=0))
