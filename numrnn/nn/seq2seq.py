"""Seq2Seq: an encoder–decoder with attention for token sequences (translation-style tasks).

The parts, in order of use::

    src ids (S, B) -> src_embedding -> encoder (any RNN / LSTM / GRU: stacked,
                      bidirectional) -> memory (S, B, D*H_enc) and final states
    final states   -> bridge: concatenate every layer and direction, Linear, tanh
                      -> the decoder's initial states (any number of layers, any size)
    each target step t:
        x_t   = [tgt_embedding(y_{t-1}); h~_{t-1}]        (h~ only with input_feeding)
        h_t   = stacked decoder cells (LSTMCell / GRUCell / RNNCell)
        c_t, a_t = attention(h_t of the top layer, memory)  (padding gets weight 0)
        h~_t  = tanh(combine([c_t; h_t]))                    (Luong's attentional state)
        logits_t = output(h~_t)

This is Luong et al. (2015)'s global attention with input feeding; the score
function ('dot', 'general' or Bahdanau's 'additive') is a constructor choice.

Conventions: token arrays are time-major, ``src`` ``(S, B)`` and ``tgt``
``(T, B)``, with lengths ``(B,)``; a target sequence is ``<bos> y_1 .. y_n
<eos>``, so the decoder reads ``tgt[:-1]`` and predicts ``tgt[1:]``. Decoding
results (:mod:`numrnn.nn.seq2seq_decode`) are batch-major, for people.
"""

from __future__ import annotations

import inspect
import numbers
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from numrnn import functional as F
from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.ops.embedding import integer_array
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.functional.checks import check_lengths
from numrnn.nn import init
from numrnn.nn.attention import Attention
from numrnn.nn.cells import GRUCell, LSTMCell, RNNCell
from numrnn.nn.dropout import Dropout
from numrnn.nn.embedding import Embedding
from numrnn.nn.linear import Linear
from numrnn.nn.module import Module
from numrnn.nn.rnn_base import RNNBase, check_positive_int, check_proj_size
from numrnn.nn.seq2seq_decode import beam_search, greedy_search

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.nn.attention import AttentionMemory
    from numrnn.typing import Seed, TensorLike, TensorOrArray

__all__ = ["DecoderState", "Seq2Seq"]

_CELLS = {cell.kind.name: cell for cell in (LSTMCell, GRUCell, RNNCell)}


def _checked_decoder_options(mode, options, hidden_size):
    """``options`` of a ``mode`` decoder of ``hidden_size`` units, checked against the cell
    table before anything is built: each a cell option of the kind (refused combinations
    refused), defaults left out so a model's description names what differs."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ArgumentTypeError(f"Seq2Seq: decoder_options must be a dict, got "
                                f"{type(options).__name__}")
    cell = _CELLS[mode]
    kind = cell.kind
    taken = [name for name in kind.options if name in inspect.signature(cell).parameters]
    options = dict(options)
    for name, value in options.items():
        if name not in taken:
            held = f" ({mode} cells have no {name}, as in PyTorch)" if name in kind.options \
                else ""
            raise ArgumentError(f"Seq2Seq: decoder_options of decoder_mode={mode!r} take "
                                f"{', '.join(taken)}; got {name!r}{held}")
        allowed = kind.options[name][1]
        if name == "proj_size":
            # A range the cell checks, not a list of values (those are warmup's).
            options[name] = check_proj_size(f"Seq2Seq: decoder_options[{name!r}]", value,
                                            hidden_size)
        elif isinstance(value, bool) != isinstance(allowed[0], bool) or value not in allowed:
            raise ArgumentError(f"Seq2Seq: decoder_options[{name!r}] must be one of "
                                f"{', '.join(map(repr, allowed))}, got {value!r}")
    refusal = kind.refusal({**{name: default for name, (default, _) in kind.options.items()},
                            **options})
    if refusal is not None:
        raise ArgumentError(f"Seq2Seq: decoder_options: {refusal}")
    return {name: value for name, value in options.items() if value != kind.options[name][0]}


class DecoderState(NamedTuple):
    """The decoder's recurrent state between steps.

    ``hidden``: one (B, H) Tensor per decoder layer (B, P for a projected LSTM
    decoder); ``cell``: one (B, H) per layer for an LSTM decoder, else None;
    ``feed``: the previous attentional vector h~ (the size of h) with input
    feeding, else None.
    """

    hidden: tuple[Tensor, ...]
    cell: Any
    feed: Any

    def select(self, rows: npt.ArrayLike) -> DecoderState:
        """The state of batch rows ``rows`` (repeats allowed): beams reorder with this."""
        rows = np.asarray(rows, dtype=np.int64)
        cell = None if self.cell is None else tuple(t[rows] for t in self.cell)
        return DecoderState(tuple(t[rows] for t in self.hidden), cell,
                            None if self.feed is None else self.feed[rows])


class Seq2Seq(Module):
    """Encoder–decoder with attention, bridge and input feeding; see the module docstring.

    Parameters
    ----------
    encoder : RNN, LSTM or GRU
        Any numrnn recurrent layer (stacked, bidirectional, batch_first or not);
        its ``input_size`` is the source embedding size and its dtype is the model's.
    src_vocab_size, tgt_vocab_size : int
    embedding_dim : int, optional
        Target embedding size; defaults to the encoder's ``input_size``.
    decoder_mode : {'LSTM', 'GRU', 'RNN'}, default 'LSTM'
    decoder_hidden_size : int, optional
        Defaults to the encoder's ``hidden_size``.
    decoder_layers : int, default 1
    decoder_options : dict, optional
        Options of the decoder's cell kind, as the table of cell kinds
        (:mod:`numrnn.functional.cell_kinds`) lists them and its cells take:
        ``{"reset_after": False}`` or ``{"layer_norm": True}`` for a GRU decoder,
        ``{"peepholes": True}`` or ``{"layer_norm": True}`` for an LSTM one,
        ``{"nonlinearity": "relu"}`` for an RNN one, ``{"proj_size": P}`` (P in
        [0, decoder_hidden_size)) for a projected LSTM decoder, whose h of P
        features is then the attention's query, h~'s size and the output layer's
        input (c keeps ``decoder_hidden_size``). The encoder's options are its
        own: any layer's, ``proj_size`` included (the memory and the bridge are
        sized from its states).
    attention : {'dot', 'general', 'additive'}, default 'general'
        'dot' needs the decoder's h size (its ``proj_size`` if it has one, else
        ``decoder_hidden_size``) equal to the memory's width, ``num_directions``
        times the encoder's h size (its ``proj_size`` if it has one, else ``hidden_size``).
    attention_size : int, optional
        Hidden size of additive attention (defaults to ``decoder_hidden_size``).
    input_feeding : bool, default True
        Feed h~_{t-1} to the first decoder layer with the embedding (Luong).
    bridge : bool, default True
        Initial decoder states from the encoder's final states; False starts the
        decoder from zeros, leaving attention as the only path from the source.
    dropout : float in [0, 1), default 0
        On h~ (before the output layer and the input feeding), training mode only.
    pad_index, bos_index, eos_index : int, defaults 0, 2, 3
        The ids of :class:`numrnn.data.Vocab`'s specials; the padding rows of both
        embeddings stay zero.
    rng : numpy Generator, int seed or None
        For the new layers' initial weights, dropout and scheduled sampling.

    Examples
    --------
    >>> encoder = nn.LSTM(32, 64, num_layers=2, bidirectional=True, rng=0)
    >>> model = Seq2Seq(encoder, len(src_vocab), len(tgt_vocab), decoder_hidden_size=128, rng=0)
    >>> loss = model.loss(src, src_lengths, tgt, tgt_lengths)
    >>> result = model.beam_search(src, src_lengths, beam_size=5, alpha=0.6)
    """

    def __init__(self, encoder: Module, src_vocab_size: int, tgt_vocab_size: int,
                 embedding_dim: int | None = None, *, decoder_mode: str = "LSTM",
                 decoder_hidden_size: int | None = None, decoder_layers: int = 1,
                 decoder_options: dict[str, Any] | None = None, attention: str = "general",
                 attention_size: int | None = None, input_feeding: bool = True,
                 bridge: bool = True, dropout: float = 0.0, pad_index: int = 0,
                 bos_index: int = 2, eos_index: int = 3, rng: Seed = None) -> None:
        super().__init__()
        if not isinstance(encoder, RNNBase):
            raise ArgumentTypeError(f"Seq2Seq: encoder must be a numrnn RNN, LSTM or GRU, "
                                    f"got {type(encoder).__name__}")
        if decoder_mode not in _CELLS:
            raise ArgumentError(f"Seq2Seq: decoder_mode must be one of {tuple(_CELLS)}, "
                                f"got {decoder_mode!r}")
        self.src_vocab_size = check_positive_int("Seq2Seq", "src_vocab_size", src_vocab_size)
        self.tgt_vocab_size = check_positive_int("Seq2Seq", "tgt_vocab_size", tgt_vocab_size)
        self.embedding_dim = check_positive_int(
            "Seq2Seq", "embedding_dim", encoder.input_size if embedding_dim is None
            else embedding_dim)
        self.decoder_mode = decoder_mode
        # An LSTM decoder carries a cell state beside h (DecoderState.cell).
        self._decoder_has_cell = "c" in _CELLS[decoder_mode].kind.states
        self.decoder_hidden_size = check_positive_int(
            "Seq2Seq", "decoder_hidden_size", encoder.hidden_size if decoder_hidden_size is None
            else decoder_hidden_size)
        self.decoder_options = _checked_decoder_options(decoder_mode, decoder_options,
                                                        self.decoder_hidden_size)
        self.decoder_layers = check_positive_int("Seq2Seq", "decoder_layers", decoder_layers)
        self.input_feeding = bool(input_feeding)
        self.bridge = bool(bridge)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0.0 <= dropout < 1.0:
            raise ArgumentError(f"Seq2Seq: dropout must be a number in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        for name, value in (("pad_index", pad_index), ("bos_index", bos_index),
                            ("eos_index", eos_index)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
                    or not 0 <= value < min(self.src_vocab_size, self.tgt_vocab_size):
                raise ArgumentError(f"Seq2Seq: {name} must be an id valid in both vocabularies "
                                    f"(0..{min(self.src_vocab_size, self.tgt_vocab_size) - 1}), "
                                    f"got {value!r}")
        self.pad_index, self.bos_index, self.eos_index = int(pad_index), int(bos_index), \
            int(eos_index)
        self.dtype = encoder.dtype
        self.rng = init.as_generator(rng)
        options = {"dtype": self.dtype, "rng": self.rng}
        hidden = self.decoder_hidden_size
        # The decoder's h, what it outputs (proj_size features in a projected LSTM
        # decoder, else hidden_size), is also the attention's query and h~'s size.
        decoder_kind = _CELLS[decoder_mode].kind
        self._decoder_sizes = decoder_kind.state_sizes(
            hidden, {name: self.decoder_options.get(name, default)
                     for name, (default, _) in decoder_kind.options.items()})
        output_size = self._decoder_sizes[0]
        # The encoder's states as the cell table sizes them: h has proj_size features in
        # a projected LSTM, c hidden_size ones. A GRU or RNN encoder's h seeds the cells.
        sizes = encoder.kind.state_sizes(encoder.hidden_size, encoder.kind.options_of(encoder))
        memory_size = encoder.num_directions * sizes[0]
        finals = encoder.num_layers * encoder.num_directions

        self.src_embedding = Embedding(self.src_vocab_size, encoder.input_size,
                                       padding_idx=self.pad_index, **options)
        self.encoder = encoder
        self.tgt_embedding = Embedding(self.tgt_vocab_size, self.embedding_dim,
                                       padding_idx=self.pad_index, **options)
        if self.bridge:
            self.bridge_h = Linear(finals * sizes[0], self.decoder_layers * output_size,
                                   **options)
            if self._decoder_has_cell:
                self.bridge_c = Linear(finals * sizes[-1],
                                       self.decoder_layers * self._decoder_sizes[-1], **options)
        for layer in range(self.decoder_layers):
            first_input = self.embedding_dim + (output_size if self.input_feeding else 0)
            cell = _CELLS[decoder_mode](first_input if layer == 0 else output_size, hidden,
                                        **self.decoder_options, **options)
            setattr(self, f"decoder_l{layer}", cell)
        self.attention = Attention(output_size, memory_size, method=attention,
                                   attention_size=attention_size, **options)
        self.combine = Linear(memory_size + output_size, output_size, **options)
        if self.dropout > 0:
            self.dropout_layer = Dropout(self.dropout, rng=self.rng)
        self.output = Linear(output_size, self.tgt_vocab_size, **options)

    @property
    def decoder_cells(self) -> list[Module]:
        return [getattr(self, f"decoder_l{layer}") for layer in range(self.decoder_layers)]

    # -- encoding --------------------------------------------------------------------
    def encode(self, src: TensorOrArray,
               src_lengths: npt.ArrayLike) -> tuple[AttentionMemory, DecoderState]:
        """Run the encoder; returns ``(memory, state)``: the prepared attention memory
        (:class:`~numrnn.nn.attention.AttentionMemory`) and the decoder's initial state."""
        src = integer_array("Seq2Seq", "src", src)
        if src.ndim != 2:
            raise ShapeError(f"Seq2Seq: src must be 2-D (S, B) token ids, got shape {src.shape}")
        src_lengths = check_lengths("Seq2Seq", src_lengths, src.shape[0], src.shape[1])
        embedded = self.src_embedding(src)
        if self.encoder.batch_first:
            embedded = F.transpose(embedded, (1, 0, 2))
        output, final = self.encoder(embedded, lengths=src_lengths)
        if self.encoder.batch_first:
            output = F.transpose(output, (1, 0, 2))
        memory = self.attention.prepare(output, lengths=src_lengths)
        return memory, self.initial_state(final, src.shape[1])

    def initial_state(self, encoder_final: Any, batch: int) -> DecoderState:
        """The decoder's first :class:`DecoderState` from the encoder's final state(s)."""
        h_size, c_size = self._decoder_sizes[0], self._decoder_sizes[-1]
        zeros = lambda size: Tensor(np.zeros((batch, size), dtype=self.dtype))  # noqa: E731
        h_n, c_n = encoder_final if "c" in self.encoder.kind.states else (encoder_final, None)
        is_lstm = self._decoder_has_cell
        if not self.bridge:
            hiddens = tuple(zeros(h_size) for _ in range(self.decoder_layers))
            cells = tuple(zeros(c_size) for _ in range(self.decoder_layers)) if is_lstm \
                else None
        else:
            hiddens = self._bridge(self.bridge_h, h_n, batch, h_size)
            # A GRU or RNN encoder has no cell state: its hidden states seed the cells.
            cells = self._bridge(self.bridge_c, h_n if c_n is None else c_n, batch, c_size) \
                if is_lstm else None
        return DecoderState(hiddens, cells, zeros(h_size) if self.input_feeding else None)

    def _bridge(self, linear, final, batch, size):
        # (L*D, B, H) -> (B, L*D*H): every layer and direction informs every decoder layer,
        # which is what lets the encoder and decoder differ in depth, width and direction.
        flat = F.reshape(F.transpose(final, (1, 0, 2)), (batch, -1))
        states = F.reshape(F.tanh(linear(flat)), (batch, self.decoder_layers, size))
        return tuple(states[:, layer] for layer in range(self.decoder_layers))

    # -- decoding ----------------------------------------------------------------------
    def decode_step(self, tokens: TensorLike, state: DecoderState,
                    memory: AttentionMemory) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoder step for previous tokens ``(B,)``.

        Returns ``(attentional, state, weights)``: h~ ``(B, H)`` (``output(h~)``
        gives the logits), the next :class:`DecoderState`, and the attention
        weights ``(B, S)``.
        """
        x = self.tgt_embedding(tokens)
        if self.input_feeding:
            x = F.concatenate([x, state.feed], axis=1)
        hiddens, cells = [], []
        for layer, cell in enumerate(self.decoder_cells):
            if self._decoder_has_cell:
                x, c = cell(x, (state.hidden[layer], state.cell[layer]))
                cells.append(c)
            else:
                x = cell(x, state.hidden[layer])
            hiddens.append(x)
        context, weights = self.attention.attend(x, memory)
        attentional = F.tanh(self.combine(F.concatenate([context, x], axis=1)))
        if self.dropout > 0:
            attentional = self.dropout_layer(attentional)
        new_state = DecoderState(tuple(hiddens), tuple(cells) if cells else None,
                                 attentional if self.input_feeding else None)
        return attentional, new_state, weights

    def forward(self, src: TensorLike, src_lengths: npt.ArrayLike, tgt_in: TensorLike,
                teacher_forcing_ratio: float = 1.0, rng: Seed = None,
                return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Logits ``(T, B, V)`` for decoder inputs ``tgt_in`` ``(T, B)`` (``<bos> y_1 ..``).

        ``teacher_forcing_ratio`` < 1 is scheduled sampling (Bengio et al., 2015):
        at each step after the first, each row independently reads the model's
        own previous prediction (its argmax) instead of ``tgt_in[t]`` with
        probability ``1 - ratio``, drawn from ``rng`` (default: the model's
        generator). With ``return_attention``, also the weights ``(T, B, S)``.
        """
        if isinstance(teacher_forcing_ratio, bool) or not isinstance(
                teacher_forcing_ratio, numbers.Real) or not 0 <= teacher_forcing_ratio <= 1:
            raise ArgumentError(f"Seq2Seq: teacher_forcing_ratio must be in [0, 1], "
                                f"got {teacher_forcing_ratio!r}")
        memory, state = self.encode(src, src_lengths)
        tgt_in = integer_array("Seq2Seq", "tgt_in", tgt_in)
        if tgt_in.ndim != 2 or tgt_in.shape[1] != memory.batch_size or tgt_in.shape[0] < 1:
            raise ShapeError(f"Seq2Seq: tgt_in must be 2-D (T, B) with B = {memory.batch_size} "
                             f"like src and T >= 1, got shape {tgt_in.shape}")
        generator = self.rng if rng is None else init.as_generator(rng)
        attentionals, weights = [], []
        for step in range(tgt_in.shape[0]):
            tokens = tgt_in[step]
            if step > 0 and teacher_forcing_ratio < 1:
                own = generator.random(len(tokens)) >= teacher_forcing_ratio
                if own.any():
                    with no_grad():
                        predicted = np.argmax(self.output(attentionals[-1].detach()).data, axis=1)
                    tokens = np.where(own, predicted, tokens)
            attentional, state, step_weights = self.decode_step(tokens, state, memory)
            attentionals.append(attentional)
            weights.append(step_weights)
        # One (T*B, H) x (H, V) product for all steps instead of T small ones.
        logits = self.output(F.stack(attentionals, axis=0))
        return (logits, F.stack(weights, axis=0)) if return_attention else logits

    def loss(self, src: TensorLike, src_lengths: npt.ArrayLike, tgt: TensorOrArray,
             tgt_lengths: npt.NDArray[Any], teacher_forcing_ratio: float = 1.0,
             rng: Seed = None) -> Tensor:
        """Mean cross-entropy per valid target step (a Tensor to call ``backward`` on).

        ``tgt`` ``(T, B)`` holds ``<bos> y_1 .. y_n <eos>`` padded, and
        ``tgt_lengths`` counts both markers (n + 2, at least 2). Steps past a
        row's end do not count (:func:`numrnn.functional.sequence_cross_entropy`).
        """
        tgt = integer_array("Seq2Seq", "tgt", tgt)
        if tgt.ndim != 2 or tgt.shape[0] < 2:
            raise ShapeError(f"Seq2Seq: tgt must be 2-D (T, B) with T >= 2 (<bos> ... <eos>), "
                             f"got shape {tgt.shape}")
        tgt_lengths = check_lengths("Seq2Seq", tgt_lengths, tgt.shape[0], tgt.shape[1])
        if tgt_lengths.min() < 2:
            raise ShapeError(f"Seq2Seq: every target needs at least <bos> and <eos> "
                             f"(length >= 2), got lengths {tgt_lengths.tolist()}")
        logits = self(src, src_lengths, tgt[:-1], teacher_forcing_ratio, rng)
        return F.sequence_cross_entropy(logits, tgt[1:], lengths=tgt_lengths - 1)

    def greedy_decode(self, src: TensorLike, src_lengths: npt.ArrayLike,
                      max_length: int | None = None, alpha: float = 0.0) -> Any:
        """Most likely token at each step; see :func:`numrnn.nn.seq2seq_decode.greedy_search`."""
        return greedy_search(self, src, src_lengths, max_length=max_length, alpha=alpha)

    def beam_search(self, src: TensorLike, src_lengths: npt.ArrayLike, beam_size: int = 5,
                    max_length: int | None = None, alpha: float = 0.0) -> Any:
        """Batched beam search; see :func:`numrnn.nn.seq2seq_decode.beam_search`."""
        return beam_search(self, src, src_lengths, beam_size=beam_size, max_length=max_length,
                           alpha=alpha)

    # -- description -----------------------------------------------------------------
    def extra_repr(self) -> str:
        options = "".join(f", {name}={value!r}" for name, value in self.decoder_options.items())
        return (f"src_vocab_size={self.src_vocab_size}, tgt_vocab_size={self.tgt_vocab_size}, "
                f"decoder_mode={self.decoder_mode!r}{options}, "
                f"input_feeding={self.input_feeding}, bridge={self.bridge}")

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, the encoder included as a nested module spec, so that
        ``numrnn.load_model`` rebuilds the whole model."""
        return {"encoder": self.encoder, "src_vocab_size": self.src_vocab_size,
                "tgt_vocab_size": self.tgt_vocab_size, "embedding_dim": self.embedding_dim,
                "decoder_mode": self.decoder_mode,
                "decoder_hidden_size": self.decoder_hidden_size,
                "decoder_layers": self.decoder_layers,
                "decoder_options": dict(self.decoder_options),
                "attention": self.attention.method,
                "attention_size": self.attention.attention_size,
                "input_feeding": self.input_feeding, "bridge": self.bridge,
                "dropout": self.dropout, "pad_index": self.pad_index,
                "bos_index": self.bos_index, "eos_index": self.eos_index}
