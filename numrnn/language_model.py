"""CharLanguageModel: Embedding → LSTM (stacked) → Linear, predicting the next token.

Small enough to train on a CPU in a minute (``numrnn demo``), and complete: it
carries its vocabulary in its config, so ``numrnn.load_model(path)`` gives
back a model that can encode a prompt and decode its samples.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.data.vocab import CharVocab, Vocab, WordVocab
from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.io.config import register_model
from numrnn.nn import init
from numrnn.nn.dropout import Dropout
from numrnn.nn.embedding import Embedding
from numrnn.nn.linear import Linear
from numrnn.nn.module import Module
from numrnn.nn.recurrent import LSTM
from numrnn.nn.streaming import Streamer

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.typing import Seed, TensorLike

_VOCAB_KINDS = {cls.kind: cls for cls in (Vocab, CharVocab, WordVocab)}


@register_model
class CharLanguageModel(Module):
    """A next-token model: ``logits, state = model(tokens, state)``.

    Parameters
    ----------
    vocab_size : int
        Number of token ids; with ``vocab``, may be None (taken from it).
    embedding_dim : int, default 64
    hidden_size : int, default 256
    num_layers : int, default 1
        Stacked LSTM layers.
    dropout : float in [0, 1), default 0
        Between stacked layers and before the output layer, in training mode.
    vocab : Vocab or its ``to_dict()``, optional, keyword-only
        Kept as ``model.vocab`` and saved in the config, so a reloaded model
        can encode and decode text (:func:`numrnn.generate.generate_text`).
    forget_bias : float or None, default 1.0, keyword-only
        Initial forget-gate bias of every LSTM layer (see ``nn.LSTM``).
    dtype : float32 (default) or float64, keyword-only
    rng : numpy Generator, int seed or None, keyword-only
        Initial weights and dropout masks.

    Calling
    -------
    ``tokens``: int array (T, B) (or (T,) for one sequence); ``state``: None
    (zeros) or the ``(h, c)`` pair returned by the previous call, each
    ``(num_layers, B, hidden_size)``. Returns ``logits`` (T, B, vocab_size)
    (or (T, vocab_size)) and the final ``(h, c)``: feeding it back in the next
    call continues the sequence, which is how generation and truncated BPTT
    work.

    >>> model = CharLanguageModel(len(vocab), hidden_size=128, vocab=vocab, rng=0)
    >>> logits, state = model(vocab.encode("def f(")[:, None])
    """

    def __init__(self, vocab_size: int | None = None, embedding_dim: int = 64,
                 hidden_size: int = 256, num_layers: int = 1, dropout: float = 0.0, *,
                 vocab: CharVocab | None = None, forget_bias: float = 1.0,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        super().__init__()
        self.vocab = _as_vocab(vocab)
        if vocab_size is None:
            if self.vocab is None:
                raise ArgumentError("CharLanguageModel: give vocab_size or vocab")
            vocab_size = len(self.vocab)
        if self.vocab is not None and vocab_size != len(self.vocab):
            raise ArgumentError(f"CharLanguageModel: vocab_size must equal len(vocab) = "
                                f"{len(self.vocab)}, got {vocab_size}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0.0 <= dropout < 1.0:
            raise ArgumentError(f"CharLanguageModel: dropout must be in [0, 1), got {dropout!r}")
        rng = init.as_generator(rng)
        self.dropout = float(dropout)
        self.embedding = Embedding(vocab_size, embedding_dim, dtype=dtype, rng=rng)
        # LSTM dropout acts between stacked layers only, and warns when there are none.
        self.lstm = LSTM(embedding_dim, hidden_size, num_layers,
                         dropout=self.dropout if num_layers > 1 else 0.0,
                         forget_bias=forget_bias, dtype=dtype, rng=rng)
        self.output_dropout = Dropout(self.dropout, rng=rng)
        self.decoder = Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    @property
    def hidden_size(self) -> int:
        return self.lstm.hidden_size

    @property
    def num_layers(self) -> int:
        return self.lstm.num_layers

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.lstm.dtype

    def forward(self, tokens: TensorLike,
                state: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``(logits, (h, c))`` for int ``tokens`` (T, B) or (T,); see the class docstring."""
        embedded = self.embedding(tokens)
        hidden, state = self.lstm(embedded, state)
        return self.decoder(self.output_dropout(hidden)), state

    def stepper(self, batch_size: int = 1, state: Any = None) -> TokenStepper | None:
        """A :class:`TokenStepper` of ``batch_size`` rows starting from ``state``, for sampling.

        None where this model's call is not the one the stepper repeats (a subclass or
        an instance overriding ``forward``, an ``lstm`` replaced by another module or
        one the :class:`~numrnn.nn.Streamer` cannot step, no rows) or ``state`` is not
        an ``(h, c)`` pair of Tensors or
        arrays of this model's state shape and dtype: :func:`numrnn.generate.generate`
        then calls the model, which accepts or refuses that state as it always has.
        """
        if (type(self).forward is not CharLanguageModel.forward or "forward" in vars(self)
                or not isinstance(self.lstm, LSTM) or batch_size < 1):
            return None
        shape = (self.num_layers, batch_size, self.hidden_size)
        if state is not None and not (isinstance(state, tuple) and len(state) == 2 and all(
                isinstance(array, np.ndarray) and array.shape == shape
                and array.dtype == self.dtype
                for array in (part.data if isinstance(part, Tensor) else part
                              for part in state))):
            return None
        try:
            return TokenStepper(self, batch_size, state)
        except ArgumentError:  # an LSTM the Streamer cannot step: the model's call can
            return None

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON values, vocabulary included, for ``numrnn.load_model``."""
        return {"vocab_size": self.vocab_size,
                "embedding_dim": self.embedding.embedding_dim,
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "vocab": None if self.vocab is None else self.vocab.to_dict(),
                "forget_bias": None if self.lstm.forget_bias is None
                else float(self.lstm.forget_bias),
                "dtype": self.dtype.name}

    def extra_repr(self) -> str:
        return "" if self.vocab is None else f"vocab={self.vocab!r}"


class TokenStepper:
    """Feeds tokens to a :class:`CharLanguageModel` one step at a time, its LSTM state kept.

    What :func:`numrnn.generate.generate` runs instead of calling the model once
    per sampled token: the LSTM steps through a :class:`numrnn.nn.Streamer`
    (weights packed once, one small serial kernel per step), while the embedding
    and the decoder are the model's own modules. The sequence kernel a call of
    the model takes at one row (``kernels.lstm._forward``, a parallel kernel
    with its own block and row functions) is then never compiled by sampling:
    about a third of ``numrnn demo``'s compile time with an empty kernel cache
    (docs/performance.md, "Cold start"). The streamer computes the same
    function with its own order of additions, so logits match the model's
    call to rounding, not to the bit. Run it without gradients and in eval
    mode (the streamer applies no dropout).
    """

    def __init__(self, model: CharLanguageModel, batch_size: int, state: Any = None) -> None:
        self._model = model
        self._streamer = Streamer(model.lstm, batch_size)
        if state is not None:
            h, c = (part.data if isinstance(part, Tensor) else part for part in state)
            self._streamer.h[...] = h
            self._streamer.c[...] = c

    def feed(self, tokens: npt.NDArray[np.int64]) -> Tensor:
        """The logits (1, B, V) after feeding every step of ``tokens`` (T, B) in turn."""
        model, streamer = self._model, self._streamer
        embedded = model.embedding(tokens).data
        for step in range(embedded.shape[0]):
            hidden = streamer.step(embedded[step])
        return model.decoder(Tensor(hidden[None]))

    @property
    def state(self) -> tuple[Tensor, Tensor]:
        """``(h, c)`` after the tokens fed so far, copies shaped as the model's call returns."""
        return Tensor(self._streamer.h.copy()), Tensor(self._streamer.c.copy())


def _as_vocab(vocab):
    if vocab is None or isinstance(vocab, Vocab):
        return vocab
    if isinstance(vocab, dict):
        cls = _VOCAB_KINDS.get(vocab.get("kind"))
        if cls is None:
            # Cut: the value may come from a file, and be as long as the file.
            raise ArgumentError(f"CharLanguageModel: unknown vocabulary kind "
                                f"{repr(vocab.get('kind'))[:80]}; expected one of "
                                f"{sorted(_VOCAB_KINDS)}")
        return cls.from_dict(vocab)
    raise ArgumentTypeError(f"CharLanguageModel: vocab must be a Vocab or its to_dict(), "
                            f"got {type(vocab).__name__}")
