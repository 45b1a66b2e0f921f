"""The error hierarchy, and one class per kind of refusal across the library.

Every case in ``REFUSED_OPTIONS`` raised ``ShapeError`` or ``DTypeError`` before
``ArgumentError`` existed, with the same message: a bad option value is neither a
shape nor a dtype problem.
"""

import re

import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.data import CharVocab, adding_problem, bucket_batches, pad_sequences, stdlib_corpus
from numrnn.diagnostics import hidden_gradient_norms
from numrnn.errors import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    NumrnnError,
    ShapeError,
)
from numrnn.generate import generate
from numrnn.optim import SGD, Adam, RMSprop, clip_grad_norm_
from numrnn.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from numrnn.training import TruncatedBPTT, fit


def test_argument_error_is_a_value_error_and_neither_a_shape_nor_a_dtype_error():
    assert issubclass(ArgumentError, NumrnnError)
    assert issubclass(ArgumentError, ValueError)
    assert not issubclass(ArgumentError, (ShapeError, DTypeError, TypeError))
    # Catching a refused option must not swallow data that does not fit.
    assert not issubclass(ShapeError, ArgumentError)
    assert not issubclass(DTypeError, ArgumentError)


def test_argument_type_error_is_a_type_error_and_an_argument_error_but_no_dtype_error():
    assert issubclass(ArgumentTypeError, ArgumentError)
    assert issubclass(ArgumentTypeError, TypeError)
    assert issubclass(ArgumentTypeError, ValueError)
    assert not issubclass(ArgumentTypeError, (DTypeError, ShapeError))


def test_index_out_of_range_error_keeps_its_bases_and_its_old_import_path():
    from numrnn.autograd.ops.indexing import IndexOutOfRangeError as from_indexing

    assert from_indexing is IndexOutOfRangeError
    assert IndexOutOfRangeError.__bases__ == (ShapeError, IndexError)
    with pytest.raises(IndexOutOfRangeError, match="Sequential: index must be in -1..0"):
        nn.Sequential(nn.Linear(2, 2))[1]


def test_the_package_exports_every_error_class():
    classes = [name for name, value in vars(numrnn.errors).items()
               if isinstance(value, type) and issubclass(value, numrnn.errors.NumrnnError)]
    assert len(classes) >= 11
    for name in classes:
        assert getattr(numrnn, name) is getattr(numrnn.errors, name)
        assert name in numrnn.__all__


def _parameters():
    return [numrnn.tensor(np.zeros(2), requires_grad=True)]


def _optimizer():
    return SGD(_parameters(), lr=0.1)


def _logits_and_targets():
    return np.zeros((3, 2, 4)), np.zeros((3, 2), np.int64)


def _mse_step(model, batch):
    inputs, targets = batch
    return F.mse_loss(model(inputs), targets)


def _saved_linear(tmp_path):
    path = tmp_path / "linear.safetensors"
    numrnn.save(nn.Linear(2, 3), path)
    return path


# (id, call(tmp_path), class, the message's start); the class is checked exactly.
REFUSED_OPTIONS = [
    ("LSTM hidden_size", lambda _: nn.LSTM(3, 0), ArgumentError,
     "LSTM: hidden_size must be a positive int, got 0"),
    ("GRU num_layers", lambda _: nn.GRU(3, 4, num_layers=-1), ArgumentError,
     "GRU: num_layers must be a positive int, got -1"),
    ("LSTM dropout", lambda _: nn.LSTM(3, 4, num_layers=2, dropout=1.5), ArgumentError,
     "LSTM: dropout must be a number in [0, 1), got 1.5"),
    ("RNN nonlinearity", lambda _: nn.RNN(3, 4, nonlinearity="gelu"), ArgumentError,
     "RNN: nonlinearity must be 'tanh' or 'relu', got 'gelu'"),
    ("GRU recurrent_init", lambda _: nn.GRU(3, 4, recurrent_init="zeros"), ArgumentError,
     "GRU: recurrent_init must be one of"),
    ("LSTM forget_bias type", lambda _: nn.LSTM(3, 4, forget_bias="1"), ArgumentTypeError,
     "LSTM: forget_bias must be a number or None, got str"),
    ("LSTM forget_bias without bias", lambda _: nn.LSTM(3, 4, bias=False, forget_bias=1.0),
     ArgumentError, "LSTM: forget_bias=1.0 needs bias=True"),
    ("LSTM input type", lambda _: nn.LSTM(2, 3)([[[0.0, 0.0]]]), ArgumentTypeError,
     "LSTM: input must be a Tensor or ndarray, got list"),
    ("LSTM hx", lambda _: nn.LSTM(2, 3)(np.zeros((1, 1, 2), np.float32), "state"),
     ArgumentError, "LSTM: hx must be None or a pair (h_0, c_0), got str"),
    ("RNNCell nonlinearity", lambda _: nn.RNNCell(3, 4, nonlinearity="gelu"), ArgumentError,
     "RNNCell: nonlinearity must be 'tanh' or 'relu', got 'gelu'"),
    ("GRUCell input_size", lambda _: nn.GRUCell(0, 4), ArgumentError,
     "GRUCell: input_size must be a positive int, got 0"),
    ("Linear in_features", lambda _: nn.Linear(-1, 3), ArgumentError,
     "Linear: in_features must be a non-negative int, got -1"),
    ("Embedding padding_idx range", lambda _: nn.Embedding(10, 3, padding_idx=10), ArgumentError,
     "Embedding: padding_idx must be in -10..9 (num_embeddings=10), got 10"),
    ("Embedding padding_idx type", lambda _: nn.Embedding(10, 3, padding_idx=1.0),
     ArgumentTypeError, "Embedding: padding_idx must be an int or None, got float"),
    ("Dropout p", lambda _: nn.Dropout(1.0), ArgumentError,
     "Dropout: p must be in [0, 1), got 1.0"),
    ("Dropout p type", lambda _: nn.Dropout("0.5"), ArgumentTypeError,
     "Dropout: p must be a real number, got str"),
    ("LayerNorm eps", lambda _: nn.LayerNorm(4, eps=-1.0), ArgumentError,
     "LayerNorm: eps must be a positive real number, got -1.0"),
    ("Attention method", lambda _: nn.Attention(3, 3, method="cosine"), ArgumentError,
     "Attention: method must be one of"),
    ("Sequential child", lambda _: nn.Sequential(nn.Linear(2, 2), "relu"), ArgumentTypeError,
     "Sequential: every child must be a Module, got str"),
    ("Seq2Seq decoder_mode", lambda _: nn.Seq2Seq(nn.GRU(3, 4), 9, 7, decoder_mode="lstm"),
     ArgumentError, "Seq2Seq: decoder_mode must be one of"),
    ("Streamer batch_size", lambda _: nn.LSTM(2, 3).streamer(batch_size=0), ArgumentError,
     "Streamer: batch_size must be a positive int, got 0"),
    ("Streamer bidirectional", lambda _: nn.GRU(2, 3, bidirectional=True).streamer(),
     ArgumentError, "Streamer: a bidirectional GRU cannot stream"),
    ("Streamer.reset rows", lambda _: nn.LSTM(2, 3).streamer(batch_size=2).reset(rows=2),
     ArgumentError, "Streamer.reset: rows must be in [0, 2), got 2"),
    ("SGD lr", lambda _: SGD(_parameters(), lr=-1.0), ArgumentError,
     "SGD: lr must be >= 0, got -1.0"),
    ("SGD nesterov", lambda _: SGD(_parameters(), lr=0.1, nesterov=True), ArgumentError,
     "SGD: nesterov momentum needs momentum > 0 and dampening == 0"),
    ("Adam betas", lambda _: Adam(_parameters(), betas=(0.9, 1.0)), ArgumentError,
     "Adam: betas must be two numbers in [0, 1), got (0.9, 1.0)"),
    ("RMSprop alpha", lambda _: RMSprop(_parameters(), alpha=-0.5), ArgumentError,
     "RMSprop: alpha must be >= 0, got -0.5"),
    ("Adam empty", lambda _: Adam([]), ArgumentError, "Adam: got an empty parameter list"),
    ("Adam single tensor", lambda _: Adam(_parameters()[0]), ArgumentTypeError,
     "Adam: params must be an iterable of Tensors or of dicts, got a single Tensor"),
    ("clip norm_type", lambda _: clip_grad_norm_(_parameters(), 1.0, norm_type=0),
     ArgumentError, "clip_grad_norm_: norm_type must be > 0 or inf, got 0.0"),
    ("StepLR step_size", lambda _: StepLR(_optimizer(), step_size=0), ArgumentError,
     "StepLR: step_size must be a positive integer, got 0"),
    ("ReduceLROnPlateau mode", lambda _: ReduceLROnPlateau(_optimizer(), mode="up"),
     ArgumentError, "ReduceLROnPlateau: mode must be 'min' or 'max', got 'up'"),
    ("StepLR optimizer", lambda _: StepLR(object(), step_size=1), ArgumentTypeError,
     "StepLR: expected an Optimizer, got object"),
    ("cross_entropy reduction", lambda _: F.cross_entropy(np.zeros((1, 2)), np.array([0]),
                                                          reduction="avg"),
     ArgumentError, "cross_entropy: reduction must be one of"),
    ("cross_entropy ignore_index", lambda _: F.cross_entropy(np.zeros((1, 2)), np.array([0]),
                                                             ignore_index=-1.0),
     ArgumentTypeError, "cross_entropy: ignore_index must be an int, got float"),
    ("sequence loss lengths and mask",
     lambda _: F.sequence_cross_entropy(*_logits_and_targets(), lengths=[1, 1],
                                        mask=np.ones((3, 2), bool)),
     ArgumentError, "sequence_cross_entropy: pass lengths or mask, not both"),
    ("dropout p", lambda _: F.dropout(np.ones(3), 1.5), ArgumentError,
     "dropout: p must be in [0, 1), got 1.5"),
    ("sum keepdims", lambda _: F.sum(numrnn.tensor(np.ones(3)), keepdims=1), ArgumentTypeError,
     "sum: keepdims must be True or False, got 1"),
    ("fit epochs", lambda _: fit(nn.Linear(3, 1), [], _mse_step, _optimizer(), epochs=0),
     ArgumentError, "fit: epochs must be a positive int, got 0"),
    ("fit mode", lambda _: fit(nn.Linear(3, 1), [], _mse_step, _optimizer(), mode="up"),
     ArgumentError, "fit: mode must be 'min' or 'max', got 'up'"),
    ("TruncatedBPTT loss_fn", lambda _: TruncatedBPTT(loss_fn=3), ArgumentTypeError,
     "TruncatedBPTT: loss_fn must be callable, got 3"),
    ("bucket_batches batch_size", lambda _: bucket_batches([1, 2], 0), ArgumentError,
     "bucket_batches: batch_size must be a positive integer, got 0"),
    ("pad_sequences empty", lambda _: pad_sequences([]), ArgumentError,
     "pad_sequences: got no sequences; need at least one"),
    ("adding_problem steps", lambda _: adding_problem(4, 1), ArgumentError,
     "adding_problem: steps must be >= 2 to hold two markers, got 1"),
    ("stdlib_corpus max_chars", lambda _: stdlib_corpus(max_chars=-1), ArgumentError,
     "stdlib_corpus: max_chars must be >= 0, got -1"),
    ("Vocab unk_token", lambda _: CharVocab("ab", specials=["<pad>"]), ArgumentError,
     "CharVocab: unk_token '<unk>' must be one of the specials ['<pad>']"),
    ("generate temperature", lambda _: generate(None, np.array([1]), 3, temperature=-1),
     ArgumentError, "generate: temperature must be a number >= 0, got -1"),
    ("generate top_k", lambda _: generate(None, np.array([1]), 3, top_k=0), ArgumentError,
     "generate: top_k must be a positive int or None, got 0"),
    ("hidden_gradient_norms layer",
     lambda _: hidden_gradient_norms(nn.Linear(3, 4), np.zeros((2, 1, 3), np.float32), F.sum),
     ArgumentTypeError, "hidden_gradient_norms: layer must be an nn.RNN/LSTM/GRU"),
    ("save what", lambda tmp_path: numrnn.save([np.zeros(2)], tmp_path / "x.safetensors"),
     ArgumentTypeError, "save: expected a Module or a dict of arrays, got list"),
    ("load module", lambda tmp_path: numrnn.load(_saved_linear(tmp_path), module="linear"),
     ArgumentTypeError, "load: module must be a numrnn Module, got str"),
]


@pytest.mark.parametrize("call, error, message",
                         [case[1:] for case in REFUSED_OPTIONS],
                         ids=[case[0] for case in REFUSED_OPTIONS])
def test_a_bad_option_raises_argument_error_with_its_message(tmp_path, call, error, message):
    with pytest.raises(ArgumentError, match="^" + re.escape(message)) as info:
        call(tmp_path)
    assert type(info.value) is error
    assert not isinstance(info.value, (ShapeError, DTypeError))


@pytest.mark.parametrize("bad, error", [(0, ArgumentError), (1.5, ArgumentTypeError)])
def test_set_num_threads_refuses_with_the_argument_classes(bad, error):
    previous = numrnn.get_num_threads()
    with pytest.raises(error, match="^set_num_threads: threads must be"):
        numrnn.set_num_threads(bad)
    assert numrnn.get_num_threads() == previous


def test_data_that_does_not_fit_stays_a_shape_error():
    with pytest.raises(ShapeError, match=r"LSTM: input feature size must be 2 \(input_size\)") \
            as info:
        nn.LSTM(2, 3)(np.zeros((1, 1, 5), np.float32))
    assert not isinstance(info.value, ArgumentError)
    with pytest.raises(ShapeError, match=r"embedding: every index must be in 0\.\.3") as info:
        F.embedding(np.zeros((4, 2)), np.array([4]))
    assert not isinstance(info.value, ArgumentError)
