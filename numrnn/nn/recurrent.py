"""Multi-layer recurrent layers with PyTorch's interface: RNN, LSTM, GRU.

Common constructor arguments (PyTorch's, in PyTorch's positional order)
-----------------------------------------------------------------------
input_size, hidden_size : int
num_layers : int, default 1
    Stacked layers; layer ``k > 0`` reads the previous layer's output.
bias : bool, default True
    Without it, no ``bias_*`` parameters exist (as in PyTorch).
batch_first : bool, default False
    Input and output are ``(B, T, features)`` instead of ``(T, B, features)``;
    states stay ``(num_layers * num_directions, B, H)``.
dropout : float in [0, 1), default 0
    Dropout on each layer's output except the last, in training mode only.
bidirectional : bool, default False

numrnn's keyword-only additions
-------------------------------
dtype : np.float32 (default) or np.float64
    Of every parameter; inputs and states must match it.
rng : numpy Generator, int seed or None
    Source of the initial weights and, later, of the dropout masks.
recurrent_init : 'uniform' (default), 'orthogonal' or 'identity'
    After PyTorch's U(-1/sqrt(H), 1/sqrt(H)) draw, replace every ``weight_hh``
    gate block by an orthogonal matrix or by the identity. 'identity' also
    zeroes every bias: with ``RNN(..., nonlinearity='relu')`` that is the IRNN of
    Le, Jaitly & Hinton (2015). Functions for finer control live in
    :mod:`numrnn.nn.init`.

Calling
-------
``output, h_n = rnn(input, hx=None, lengths=None)`` with ``hx`` the initial state
``h_0``; ``output, (h_n, c_n) = lstm(input, hx=None, lengths=None)`` with ``hx``
the pair ``(h_0, c_0)``; ``lstm(..., return_cell_states=True)`` adds the last
layer's c at every step.

- ``input``: ``(T, B, I)``, ``(B, T, I)`` with batch_first, or ``(T, I)`` unbatched.
- ``h_0`` / ``c_0``: ``(num_layers * num_directions, B, H)``, layer-major
  (forward then reverse direction of layer 0, then layer 1, ...), or
  ``(num_layers * num_directions, H)`` unbatched; None means zeros.
- ``lengths``: int array ``(B,)`` of valid steps per row (1..T). Steps past a
  row's length give zero outputs, ``h_n`` holds each row's state at its last
  valid step, and the reverse direction starts at that step. This replaces
  ``pack_padded_sequence`` / ``pad_packed_sequence`` (which pad only to the
  longest row; numrnn keeps all T steps, zero past every length).
- ``output``: ``(T, B, num_directions * H)``, forward features then reverse.
- ``h_n`` (and ``c_n``): ``(num_layers * num_directions, B, H)``.
"""

import numpy as np

from numrnn.errors import ArgumentError
from numrnn.functional.checks import check_flag
from numrnn.nn.rnn_base import RNNBase

__all__ = ["GRU", "LSTM", "RNN"]


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, act tanh or relu.

    Parameters per layer ``k`` (suffix ``_reverse`` for the reverse direction):
    ``weight_ih_l{k}`` (H, in), ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (H,), where ``in`` is input_size for k = 0 and
    ``num_directions * H`` after.

    >>> rnn = RNN(8, 16, nonlinearity="relu", recurrent_init="identity", rng=0)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, dtype=np.float32,
                 rng=None, recurrent_init="uniform"):
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, nonlinearity=nonlinearity, dtype=dtype, rng=rng,
                         recurrent_init=recurrent_init)

    def forward(self, input, hx=None, lengths=None):
        """``(output, h_n)``; see the module docstring for shapes."""
        output, (h_n,) = self._run(input, None if hx is None else (hx,), lengths)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory, gates in PyTorch's order ``i, f, g, o``::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     f = sigmoid(... f rows ...)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)        o = sigmoid(... o rows ...)
        c' = f * c + i * g                             h' = o * tanh(c')

    Parameters per layer ``k``: ``weight_ih_l{k}`` (4H, in), ``weight_hh_l{k}``
    (4H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,), rows stacked i, f, g, o.

    ``proj_size`` (PyTorch's, default 0: none): with ``0 < P < H`` each step
    ends with ``h' = W_hr (o * tanh(c'))``, so ``h`` has P features and ``c``
    keeps H. Each layer and direction then has ``weight_hh_l{k}`` (4H, P) and
    ``weight_hr_l{k}`` (P, H), registered after the biases; layer ``k > 0``
    reads ``num_directions * P`` features; ``output`` is (T, B, D * P), ``h_0``
    and ``h_n`` (L * D, B, P), ``c_0`` and ``c_n`` (L * D, B, H).

    ``forget_bias`` (keyword, default None): when given, every layer's total
    forget-gate bias starts at this value (``bias_ih`` forget rows = value,
    ``bias_hh`` forget rows = 0), the common 1.0 of Jozefowicz et al. (2015).

    >>> lstm = LSTM(10, 20, num_layers=2, bidirectional=True, forget_bias=1.0, rng=0)
    >>> output, (h_n, c_n) = lstm(x)        # x: (T, B, 10)
    >>> output, (h_n, c_n), cells = lstm(x, return_cell_states=True)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, *, dtype=np.float32, rng=None,
                 recurrent_init="uniform", forget_bias=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, rng=rng, recurrent_init=recurrent_init,
                         forget_bias=forget_bias, proj_size=proj_size)

    def forward(self, input, hx=None, lengths=None, return_cell_states=False):
        """``(output, (h_n, c_n))``; ``hx`` is None or the pair ``(h_0, c_0)``.

        With ``return_cell_states=True``, ``(output, (h_n, c_n), cell_states)``:
        the last layer's c after every step, laid out as ``output`` with H
        features per direction ((T, B, D * H), or (B, T, D * H) with
        batch_first), zeros past each row's length. It comes from the same pass
        (no second run) and gradients flow back through it.
        """
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ArgumentError(f"LSTM: hx must be None or a pair (h_0, c_0), "
                                f"got {type(hx).__name__}")
        cell_states = check_flag("LSTM", "return_cell_states", return_cell_states)
        output, (h_n, c_n, *cells) = self._run(input, hx, lengths, cell_states)
        if cell_states:
            return output, (h_n, c_n), cells[0]
        return output, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit, gates in PyTorch's order ``r, z, n``::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Parameters per layer ``k``: ``weight_ih_l{k}`` (3H, in), ``weight_hh_l{k}``
    (3H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,), rows stacked r, z, n.

    ``reset_after`` (keyword, default True): False applies the reset gate
    before the recurrent product, ``n = tanh(W_in x + b_in + W_hn (r * h) +
    b_hn)``: the GRU of Cho et al. (2014), Keras's ``reset_after=False`` and
    ONNX's ``linear_before_reset=0``. Same parameters and shapes.

    >>> gru = GRU(10, 20, reset_after=False, rng=0)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, dtype=np.float32, rng=None,
                 recurrent_init="uniform", reset_after=True):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, rng=rng, recurrent_init=recurrent_init,
                         reset_after=reset_after)

    def forward(self, input, hx=None, lengths=None):
        """``(output, h_n)``; see the module docstring for shapes."""
        output, (h_n,) = self._run(input, None if hx is None else (hx,), lengths)
        return output, h_n
