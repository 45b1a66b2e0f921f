"""Truncated backpropagation through time over long streams.

A stream too long to backpropagate through at once, ``(T_total, B, ...)``, is
cut into chunks of ``k`` steps. The recurrent state is carried from one chunk
to the next, so the model sees the whole history in its forward pass, but the
graph is cut at every chunk boundary (the state is detached), so each backward
pass spans at most ``k`` steps and memory stays ``O(k)``.

Three pieces, each usable alone:

- :func:`batchify` lays a 1-D token array out as ``B`` contiguous streams;
- :class:`StreamChunks` iterates the chunks in order, each with the rows whose
  state should restart from zeros (a new document);
- :class:`TruncatedBPTT` is the ``step`` for :func:`numrnn.training.fit`: it
  carries the detached state between calls.

:func:`evaluate_stream` runs the same chunking without gradients, for a
validation loss over a stream.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, NumrnnError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    import numpy.typing as npt

    from numrnn.nn.module import Module


def batchify(tokens: npt.ArrayLike, batch_size: int) -> npt.NDArray[Any]:
    """Lay ``tokens`` (N, ...) out as ``batch_size`` contiguous streams, shape (N // B, B, ...).

    Column ``b`` is the ``b``-th slice of ``N // B`` consecutive tokens, so a
    state carried down a column follows the text; the last ``N % B`` tokens
    are dropped.
    """
    tokens = np.asarray(tokens)
    batch_size = _positive_int("batchify", "batch_size", batch_size)
    if tokens.ndim < 1 or len(tokens) < batch_size:
        raise ShapeError(f"batchify: need at least batch_size={batch_size} tokens, "
                         f"got shape {tokens.shape}")
    steps = len(tokens) // batch_size
    streams = tokens[:steps * batch_size].reshape((batch_size, steps) + tokens.shape[1:])
    return np.ascontiguousarray(np.swapaxes(streams, 0, 1))


class Chunk:
    """One chunk of a stream: ``inputs`` and ``targets`` (k, B, ...) starting at step ``start``.

    ``index`` counts chunks from 0 within the pass; ``reset`` is a (B,) bool
    array of the rows whose state restarts from zeros before this chunk, or
    None for no row.
    """

    __slots__ = ("index", "start", "inputs", "targets", "reset")

    def __init__(self, index: int, start: int, inputs: npt.NDArray[Any], targets: npt.NDArray[Any],
                 reset: npt.NDArray[np.bool_] | None) -> None:
        self.index = index
        self.start = start
        self.inputs = inputs
        self.targets = targets
        self.reset = reset

    def __repr__(self):
        return (f"Chunk(index={self.index}, start={self.start}, "
                f"inputs={self.inputs.shape}, targets={self.targets.shape})")


class StreamChunks:
    """The chunks of ``chunk_length`` steps of a stream, in order; iterate once per epoch.

    Parameters
    ----------
    inputs : array (T_total, B, ...)
        E.g. ``batchify(ids, B)[:-1]`` for a language model.
    targets : array (T_total, B, ...)
        Aligned with ``inputs`` step by step (``batchify(ids, B)[1:]``).
    chunk_length : int
        ``k``, the steps per chunk; the last chunk may be shorter.
    reset_mask : array (n_chunks, B) of bool, or callable ``reset_mask(chunk) -> (B,)``
        Rows whose state restarts from zeros at the start of each chunk (a row
        whose stream begins a new document there). Resets happen at chunk
        boundaries only: align documents to chunk starts to reset exactly.
    """

    def __init__(
            self, inputs: npt.ArrayLike, targets: npt.ArrayLike, chunk_length: int,
            reset_mask: npt.ArrayLike | Callable[[Chunk], npt.ArrayLike] | None = None) -> None:
        self.inputs = np.asarray(inputs)
        self.targets = np.asarray(targets)
        if self.inputs.ndim < 2:
            raise ShapeError(f"StreamChunks: inputs must be (T_total, B, ...), "
                             f"got shape {self.inputs.shape}")
        if self.targets.shape[:2] != self.inputs.shape[:2]:
            raise ShapeError(f"StreamChunks: targets must start with the inputs' (T_total, B) = "
                             f"{self.inputs.shape[:2]}, got shape {self.targets.shape}")
        self.chunk_length = _positive_int("StreamChunks", "chunk_length", chunk_length)
        if reset_mask is not None and not callable(reset_mask):
            reset_mask = np.asarray(reset_mask, dtype=bool)
            expected = (len(self), self.batch_size)
            if reset_mask.shape != expected:
                raise ShapeError(f"StreamChunks: reset_mask must have shape {expected} "
                                 f"(n_chunks, B), got {reset_mask.shape}")
        self.reset_mask = reset_mask

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[1]

    def __len__(self) -> int:
        return -(-self.inputs.shape[0] // self.chunk_length)

    def __iter__(self) -> Iterator[Chunk]:
        for index in range(len(self)):
            start = index * self.chunk_length
            stop = start + self.chunk_length
            chunk = Chunk(index, start, self.inputs[start:stop], self.targets[start:stop], None)
            chunk.reset = self._reset_rows(chunk)
            yield chunk

    def _reset_rows(self, chunk):
        if self.reset_mask is None:
            return None
        if not callable(self.reset_mask):
            return self.reset_mask[chunk.index]
        rows = np.asarray(self.reset_mask(chunk), dtype=bool)
        if rows.shape != (self.batch_size,):
            raise ShapeError(f"StreamChunks: reset_mask(chunk) must return a ({self.batch_size},) "
                             f"bool array, got shape {rows.shape}")
        return rows


class TruncatedBPTT:
    """A ``step(model, chunk)`` for :func:`numrnn.training.fit` that carries the state.

    Each call runs ``outputs, state = forward(model, chunk.inputs, state)``
    from the previous chunk's final state, detached, with the rows in
    ``chunk.reset`` zeroed, and returns ``loss_fn(outputs, chunk.targets)``.
    The state is dropped (zeros) at chunk index 0, the start of each pass.

    Parameters
    ----------
    loss_fn : callable ``loss_fn(outputs, targets) -> Tensor``
        E.g. :func:`numrnn.functional.cross_entropy` for a language model.
    forward : callable ``forward(model, inputs, state) -> (outputs, state)``, optional
        Default ``model(inputs, state)``: the convention of ``nn.LSTM``/``GRU``/
        ``RNN`` and of :class:`~numrnn.CharLanguageModel`.
    state_batch_axis : int, default 1
        The batch axis of each state tensor: 1 for layers'
        ``(num_layers, B, H)`` states, 0 for cells' ``(B, H)``.

    Attributes
    ----------
    state : None, Tensor, or tuple of them
        The detached state after the latest chunk (``(h, c)`` for an LSTM).
    """

    def __init__(self, loss_fn: Callable[..., Any], forward: Callable[..., Any] | None = None,
                 state_batch_axis: int = 1) -> None:
        if not callable(loss_fn):
            raise ArgumentTypeError(f"TruncatedBPTT: loss_fn must be callable, got {loss_fn!r}")
        self.loss_fn = loss_fn
        self.forward = forward if forward is not None else _call_model
        self.state_batch_axis = state_batch_axis
        self.state = None

    def reset(self) -> None:
        """Forget the carried state: the next chunk starts from zeros."""
        self.state = None

    def __call__(self, model: Module, chunk: Chunk) -> Tensor:
        outputs, state = self.run(model, chunk)
        return self.loss_fn(outputs, chunk.targets)

    def run(self, model: Module, chunk: Chunk) -> tuple[Any, Any]:
        """The model's ``(outputs, state)`` on ``chunk``; keeps the state, detached, for later."""
        check_unidirectional(model)
        if chunk.index == 0:
            self.state = None
        state = self.state
        if state is not None and chunk.reset is not None and chunk.reset.any():
            state = reset_state_rows(state, chunk.reset, self.state_batch_axis)
        outputs, state = self.forward(model, chunk.inputs, state)
        # Detaching cuts the graph here: the next chunk's backward stops at this state.
        self.state = detach_state(state)
        return outputs, state


def evaluate_stream(model: Module, chunks: Iterable[Chunk], loss_fn: Callable[..., Any],
                    forward: Callable[..., Any] | None = None, state_batch_axis: int = 1) -> float:
    """The mean per-step ``loss_fn`` over all ``chunks``, carrying the state, without gradients.

    Each chunk's loss is weighted by its number of steps, so a short last
    chunk counts for what it holds. The model is put in eval mode for the
    pass and its previous mode restored.
    """
    carrier = TruncatedBPTT(loss_fn, forward, state_batch_axis)
    was_training = getattr(model, "training", False)
    model.eval()
    total, steps = 0.0, 0
    try:
        with no_grad():
            for chunk in chunks:
                length = len(chunk.inputs)
                total += carrier(model, chunk).item() * length
                steps += length
    finally:
        model.train(was_training)
    return total / steps if steps else float("nan")


def detach_state(state: Any) -> Any:
    """``state`` (a Tensor, or nested tuples/lists of them) with every Tensor detached."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(part) for part in state)
    raise ArgumentTypeError(f"detach_state: a state must be a Tensor or a tuple of them, "
                            f"got {type(state).__name__}")


def reset_state_rows(state: Any, rows: npt.ArrayLike, batch_axis: int = 1) -> Any:
    """``state`` with the batch rows where ``rows`` (B,) is True set to zero, as new leaves."""
    rows = np.asarray(rows, dtype=bool)
    if isinstance(state, Tensor):
        if state.ndim <= batch_axis or state.shape[batch_axis] != rows.shape[0]:
            raise ShapeError(f"reset_state_rows: a state of shape {state.shape} has no batch "
                             f"axis {batch_axis} of size {rows.shape[0]}")
        keep_shape = [1] * state.ndim
        keep_shape[batch_axis] = rows.shape[0]
        keep = (~rows).reshape(keep_shape)
        return Tensor(np.where(keep, state.data, 0).astype(state.dtype))
    if isinstance(state, (tuple, list)):
        return type(state)(reset_state_rows(part, rows, batch_axis) for part in state)
    raise ArgumentTypeError(f"reset_state_rows: a state must be a Tensor or a tuple of them, "
                            f"got {type(state).__name__}")


def check_unidirectional(model: Module) -> None:
    """Refuse a model holding a bidirectional layer: its state cannot carry forward in time."""
    for name, module in model.named_modules():
        if getattr(module, "bidirectional", False):
            where = f"'{name}' " if name else ""
            raise NumrnnError(
                f"truncated BPTT needs a unidirectional model, but the {type(module).__name__} "
                f"{where}is bidirectional: its reverse direction would need steps from chunks "
                "not seen yet. Train it on whole sequences instead")


def _call_model(model, inputs, state):
    return model(inputs, state)


def _positive_int(op, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ArgumentError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)
