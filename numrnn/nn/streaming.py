"""Streaming inference: feed a recurrent layer one time step at a time, state kept.

A server that receives a frame at a time cannot wait for a whole sequence::

    stream = lstm.streamer(batch_size=1)       # or Streamer(lstm, batch_size=1)
    for frame in frames:                       # frame: (1, input_size) ndarray
        y = stream.step(frame)                 # (1, hidden_size): last layer's h
    stream.reset()                             # next utterance, zero state

``step`` allocates nothing: the weights are packed once, when the streamer is
made, and every step writes into the same preallocated state, scratch and
output arrays through one jitted kernel for the whole stack
(:mod:`numrnn.kernels.streaming`). The array ``step`` returns is that output
buffer, overwritten by the next step: copy it to keep it.

Threads: a streamer owns all it writes and the kernels release the GIL, so
many threads can each run their own streamer at once. One streamer must not be
stepped from two threads at the same time (its state would interleave).

The streamer holds a copy of the layer's weights taken at creation, each
checked then against the shape and dtype the layer declared (a replaced weight
of another shape raises ``ShapeError`` or ``DTypeError`` naming it): training
the layer afterwards does not change it; make a new streamer to pick changes up.
Stepping ``T`` frames gives the same outputs and final states as the layer run
in eval mode over the ``T``-step sequence (to rounding): a streamer is for
inference and applies no dropout of any kind. Only unidirectional layers stream:
a reverse direction needs the future.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.functional.cell_kinds import CellKind
from numrnn.kernels import streaming as kernels
from numrnn.nn.parameter_checks import check_parameters, layer_specs

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.nn.module import Module
    from numrnn.typing import TensorLike

__all__ = ["Streamer"]



class Streamer:
    """Stateful single-step runner of an ``RNN``, ``LSTM`` or ``GRU`` layer.

    Parameters
    ----------
    layer : numrnn.nn.RNN, LSTM or GRU, unidirectional, any ``num_layers``
    batch_size : int, default 1
        Rows stepped together (independent streams).

    Attributes
    ----------
    h : ndarray (num_layers, batch_size, hidden_size)
        Hidden state, a live view: writing into it sets the state. A projected
        LSTM's has ``proj_size`` features.
    c : ndarray (num_layers, batch_size, hidden_size) (LSTM only)
        Cell state, a live view.
    """

    def __init__(self, layer: Module, batch_size: int = 1) -> None:
        kind = getattr(layer, "kind", None)
        if not isinstance(kind, CellKind) or not hasattr(layer, "bidirectional"):
            raise ArgumentTypeError(f"Streamer: layer must be a numrnn.nn RNN, LSTM or GRU, "
                                    f"got {type(layer).__name__}")
        mode = kind.name
        if layer.bidirectional:
            raise ArgumentError(f"Streamer: a bidirectional {mode} cannot stream: its reverse "
                                "direction reads the sequence from the end; use the layer on "
                                "whole sequences instead")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ArgumentError(f"Streamer: batch_size must be a positive int, got {batch_size!r}")
        # First: a variant without a streaming kernel is refused before anything is packed.
        options = kind.options_of(layer)
        self._kernel = kind.streaming_step(options)
        self.mode = mode
        self.kind = kind
        self.input_size = layer.input_size
        self.hidden_size = hidden = layer.hidden_size
        self.num_layers = layer.num_layers
        self.batch_size = int(batch_size)
        self.dtype = layer.dtype
        # h's size as the cell table gives it (a projected LSTM's is proj_size); every
        # state is stored hidden_size wide, h in its first columns.
        self._h_size = kind.state_sizes(hidden, options)[0]
        self._weights, self._layout = self._pack(layer)
        self._state = np.zeros((self.num_layers, len(kind.states), self.batch_size, hidden),
                               dtype=self.dtype)
        self._gates = np.zeros((self.batch_size, kind.streaming_columns * hidden),
                               dtype=self.dtype)
        self._output = np.zeros((self.batch_size, self._h_size), dtype=self.dtype)
        self._input = np.zeros((self.batch_size, self.input_size), dtype=self.dtype)
        self._input_shape = self._input.shape

    def _pack(self, layer):
        """Flat weight vector and its (num_layers, 3) int64 layout; see the kernels' doc.

        Every weight is checked against the shape and dtype the layer declared
        first: the layout is computed from the shapes and the step kernels read
        the flat vector unchecked, so a replaced weight of another shape would
        be read out of place.
        """
        weights = [check_parameters(layer, layer_specs(layer, index, 0))
                   for index in range(self.num_layers)]
        blocks, layout, offset = [], [], 0
        columns = layer.hidden_size * self.kind.gate_count
        for weight_ih, weight_hh, bias_ih, bias_hh, *extra in weights:
            block = kernels.pack_layer(weight_ih, weight_hh, bias_ih, bias_hh,
                                       self.kind.split_recurrent_bias)
            # Parameters an option adds (peepholes, W_hr, gains and shifts) follow the
            # bias in kernel order, a matrix transposed as W_ih and W_hh are.
            block = np.concatenate([block] + [weight.T.ravel() for weight in extra])
            n_in, n_recurrent = weight_ih.shape[1], weight_hh.shape[1]
            layout.append((offset, offset + n_in * columns,
                           offset + (n_in + n_recurrent) * columns))
            blocks.append(block)
            offset += block.size
        return np.concatenate(blocks), np.array(layout, dtype=np.int64)

    @property
    def h(self) -> npt.NDArray[Any]:
        return self._state[:, 0, :, :self._h_size]

    @property
    def c(self) -> npt.NDArray[Any]:
        if "c" not in self.kind.states:
            raise AttributeError(f"Streamer: a {self.mode} has no cell state c")
        return self._state[:, 1]

    def step(self, x: TensorLike) -> npt.NDArray[Any]:
        """Advance one time step: ``x`` (batch_size, input_size) -> the last layer's new h.

        Returns the streamer's output buffer, (batch_size, hidden_size) (``proj_size``
        for a projected LSTM), which the next call overwrites.
        """
        # The common case (a C-contiguous ndarray of the right shape and dtype) is
        # checked with identity and tuple tests only: at batch 1 the whole step is
        # a few microseconds, and each numpy attribute lookup is ~0.1 of one.
        if x.__class__ is not np.ndarray or x.dtype is not self.dtype \
                or x.shape != self._input_shape or not x.flags.c_contiguous:
            x = self._checked_input(x)
        self._kernel(x, self._weights, self._layout, self._state, self._gates, self._output)
        return self._output

    def _checked_input(self, x):
        """Validate ``x``; a Tensor, list or non-contiguous array is copied into the
        streamer's own input buffer."""
        if isinstance(x, Tensor):
            x = x.data
        if not isinstance(x, np.ndarray):
            x = np.asarray(x, dtype=self.dtype)
        if x.dtype != self.dtype:
            raise DTypeError(f"Streamer: x must have dtype {self.dtype} (the layer's dtype), "
                             f"got {x.dtype}")
        if x.shape != self._input_shape:
            raise ShapeError(f"Streamer: x must have shape {self._input_shape} "
                             f"(batch_size, input_size), got {x.shape}")
        self._input[...] = x
        return self._input

    def reset(self, rows: npt.ArrayLike | None = None) -> None:
        """Zero the state of every row, or of ``rows`` (an int or a sequence of ints)."""
        if rows is None:
            self._state[...] = 0
            return
        indices = np.atleast_1d(np.asarray(rows))
        if indices.dtype.kind not in "iu" or indices.ndim != 1:
            raise ArgumentError(f"Streamer.reset: rows must be an int or a sequence of ints, "
                                f"got {rows!r}")
        if indices.size and (indices.min() < -self.batch_size
                             or indices.max() >= self.batch_size):
            raise ArgumentError(f"Streamer.reset: rows must be in [0, {self.batch_size}), "
                                f"got {rows!r}")
        self._state[:, :, indices] = 0

    def __repr__(self):
        return (f"Streamer({self.mode}, input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_size={self.batch_size}, dtype={self.dtype.name})")
