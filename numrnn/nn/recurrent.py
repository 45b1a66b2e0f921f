"""Multi-layer recurrent layers with PyTorch's interface: RNN, LSTM, GRU.

Each class's docstring lists its constructor arguments (PyTorch's, in PyTorch's
positional order, then numrnn's keyword-only additions) and its ``forward`` the
shapes of inputs and outputs and what ``lengths`` does, so that ``help(nn.LSTM)``
says it all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError
from numrnn.functional.checks import check_flag
from numrnn.nn.rnn_base import RNNBase

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Seed, TensorLike

__all__ = ["GRU", "LSTM", "RNN"]


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, act tanh or relu.

    Parameters
    ----------
    input_size : int
        Features per step of the input.
    hidden_size : int
        H, features of the state of each layer and direction.
    num_layers : int, default 1
        Stacked layers; layer ``k > 0`` reads the previous layer's output.
    nonlinearity : {'tanh', 'relu'}, default 'tanh'
        The activation ``act``.
    bias : bool, default True
        Without it, no ``bias_*`` parameters exist (as in PyTorch).
    batch_first : bool, default False
        Input and output are ``(B, T, features)`` instead of ``(T, B, features)``;
        states stay ``(num_layers * num_directions, B, H)``.
    dropout : float in [0, 1), default 0
        Dropout on each layer's output except the last, in training mode only.
    bidirectional : bool, default False
        A reverse direction per layer; outputs hold both, forward first.
    dtype : np.float32 (default) or np.float64, keyword-only
        Of every parameter; inputs and states must match it.
    rng : numpy Generator, int seed or None, keyword-only
        Source of the initial weights and, later, of the dropout masks.
    recurrent_init : {'uniform', 'orthogonal', 'identity'}, default 'uniform', keyword-only
        After PyTorch's U(-1/sqrt(H), 1/sqrt(H)) draw, replace every ``weight_hh``
        gate block by an orthogonal matrix or by the identity. 'identity' also
        zeroes every bias: with ``RNN(..., nonlinearity='relu')`` that is the IRNN
        of Le, Jaitly & Hinton (2015). ``numrnn.nn.init`` has finer control.
    weight_dropout : float in [0, 1), default 0, keyword-only
        DropConnect on the recurrent weights (AWD-LSTM, Merity et al. 2018): in
        training mode each ``weight_hh`` is multiplied by a fresh mask per forward
        (kept with probability ``1 - p``, scaled by ``1 / (1 - p)``), drawn from
        ``rng``; the gradient reaches the undropped weight. None in evaluation mode.
    input_dropout, recurrent_dropout : float in [0, 1), default 0, keyword-only
        Variational dropout (Gal & Ghahramani 2016; Keras's ``dropout`` and
        ``recurrent_dropout``): in training mode each layer and direction draws,
        per forward, one mask per batch row for its input and one for its state h,
        kept for every step (scaled by ``1 / (1 - p)``, drawn from ``rng``); the
        recurrent one multiplies ``h_{t-1}`` before ``W_hh`` inside the kernel.
        Nothing is dropped in evaluation mode (``numrnn.nn.variational_dropout``).

    Notes
    -----
    Parameters per layer ``k`` (suffix ``_reverse`` for the reverse direction):
    ``weight_ih_l{k}`` (H, in), ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (H,), where ``in`` is input_size for k = 0 and
    ``num_directions * H`` after.

    Examples
    --------
    >>> rnn = RNN(8, 16, nonlinearity="relu", recurrent_init="identity", rng=0)
    >>> output, h_n = rnn(x, lengths=lengths)   # x (T, B, 8): output (T, B, 16), h_n (1, B, 16)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None,
                 recurrent_init: str = "uniform", weight_dropout: float = 0.0,
                 input_dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, nonlinearity=nonlinearity, dtype=dtype, rng=rng,
                         recurrent_init=recurrent_init, weight_dropout=weight_dropout,
                         input_dropout=input_dropout, recurrent_dropout=recurrent_dropout)

    def forward(self, input: TensorLike, hx: TensorLike | None = None,
                lengths: npt.ArrayLike | None = None) -> tuple[Tensor, Tensor]:
        """Run the whole sequence through every layer and direction.

        Parameters
        ----------
        input : Tensor or float ndarray
            ``(T, B, input_size)``, ``(B, T, input_size)`` with ``batch_first``, or
            ``(T, input_size)`` unbatched.
        hx : Tensor or float ndarray, optional
            The initial state ``h_0``: each ``(num_layers * num_directions, B, H)``,
            layer-major (forward then reverse direction of layer 0, then layer 1,
            ...), or ``(num_layers * num_directions, H)`` unbatched. None means zeros.
        lengths : int array (B,), optional
            Valid steps of each row of a padded batch, each in 1..T. Steps past a
            row's length give zero outputs, the final state is each row's state at
            its last valid step, and the reverse direction starts at that step.
            This replaces PyTorch's ``pack_padded_sequence`` /
            ``pad_packed_sequence`` (numrnn keeps all T steps, zero past every
            length). None means every row has all T steps.

        Returns
        -------
        output : Tensor
            ``(T, B, num_directions * H)`` (``(B, T, ...)`` with ``batch_first``):
            the last layer's features at every step, forward then reverse.
        h_n : Tensor
            ``(num_layers * num_directions, B, H)`` (``(..., H)`` unbatched): the
            final state of each layer and direction, the forward direction's at
            each row's last valid step, the reverse direction's at step 0.

        Raises
        ------
        ShapeError
            Input, states or lengths of the wrong shape, or lengths outside 1..T.
        DTypeError
            Input or states of another dtype than the layer's.
        """
        output, (h_n,) = self._run(input, None if hx is None else (hx,), lengths)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory, gates in PyTorch's order ``i, f, g, o``::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     f = sigmoid(... f rows ...)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)        o = sigmoid(... o rows ...)
        c' = f * c + i * g                             h' = o * tanh(c')

    Parameters
    ----------
    input_size : int
        Features per step of the input.
    hidden_size : int
        H, features of the state of each layer and direction.
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
        A reverse direction per layer; outputs hold both, forward first.
    proj_size : int, default 0
        PyTorch's projection: with ``0 < P < H`` each step ends with ``h' = W_hr (o *
        tanh(c'))``, so ``h`` has P features and ``c`` keeps H; ``output`` is (T, B,
        D * P), ``h_0`` and ``h_n`` (L * D, B, P), ``c_0`` and ``c_n`` (L * D, B, H).
        Does not combine with ``peepholes`` or ``layer_norm``.
    dtype : np.float32 (default) or np.float64, keyword-only
        Of every parameter; inputs and states must match it.
    rng : numpy Generator, int seed or None, keyword-only
        Source of the initial weights and, later, of the dropout masks.
    recurrent_init : {'uniform', 'orthogonal', 'identity'}, default 'uniform', keyword-only
        After PyTorch's U(-1/sqrt(H), 1/sqrt(H)) draw, replace every ``weight_hh``
        gate block by an orthogonal matrix or by the identity. 'identity' also
        zeroes every bias: with ``RNN(..., nonlinearity='relu')`` that is the IRNN
        of Le, Jaitly & Hinton (2015). ``numrnn.nn.init`` has finer control.
    forget_bias : float, optional, keyword-only
        When given, every layer's total forget-gate bias starts at this value
        (``bias_ih`` forget rows = value, ``bias_hh`` forget rows = 0), the common
        1.0 of Jozefowicz et al. (2015). Needs ``bias=True``.
    peepholes : bool, default False, keyword-only
        The peephole LSTM with ONNX's semantics: ``i`` and ``f`` add ``p_i * c`` and
        ``p_f * c`` (the previous cell state) to their pre-activations and ``o`` adds
        ``p_o * c'`` (the new one), with one more parameter per layer and direction,
        ``weight_peephole_l{k}`` (3H,), blocks ``p_i, p_f, p_o``. Does not combine with
        ``proj_size`` or ``layer_norm``.
    layer_norm : bool, default False, keyword-only
        The layer-normalised LSTM of Ba, Kiros & Hinton (2016): ``W_ih x`` and
        ``W_hh h`` are normalised separately, each gate block over its H units (eps
        1e-5), with gains and shifts ``ln_ih_weight_l{k}``, ``ln_ih_bias_l{k}``,
        ``ln_hh_weight_l{k}``, ``ln_hh_bias_l{k}`` (4H,), before the biases are
        added; and ``h' = o * tanh(LN(c'))`` with ``ln_cell_weight_l{k}``,
        ``ln_cell_bias_l{k}`` (H,), while ``c'`` carries on unnormalised. Gains start
        at 1, shifts at 0. Does not combine with ``proj_size`` or ``peepholes``. Equations:
        ``docs/cell_variants.md``.
    weight_dropout : float in [0, 1), default 0, keyword-only
        DropConnect on the recurrent weights (AWD-LSTM, Merity et al. 2018): in
        training mode each ``weight_hh`` is multiplied by a fresh mask per forward
        (kept with probability ``1 - p``, scaled by ``1 / (1 - p)``), drawn from
        ``rng``; the gradient reaches the undropped weight. None in evaluation mode.
    input_dropout, recurrent_dropout : float in [0, 1), default 0, keyword-only
        Variational dropout (Gal & Ghahramani 2016; Keras's ``dropout`` and
        ``recurrent_dropout``): in training mode each layer and direction draws,
        per forward, one mask per batch row for its input and one for its state h,
        kept for every step (scaled by ``1 / (1 - p)``, drawn from ``rng``); the
        recurrent one multiplies ``h_{t-1}`` before ``W_hh`` inside the kernel.
        Nothing is dropped in evaluation mode (``numrnn.nn.variational_dropout``).
        With ``proj_size`` the recurrent mask covers the projected h (``proj_size``
        features); with ``peepholes`` it covers h, not c. Both rates combine with
        every option.

    Notes
    -----
    Parameters per layer ``k`` (suffix ``_reverse`` for the reverse direction):
    ``weight_ih_l{k}`` (4H, in), ``weight_hh_l{k}`` (4H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (4H,), rows stacked i, f, g, o; ``in`` is input_size for
    k = 0 and ``num_directions * H`` after (``num_directions * P`` with a
    projection). With ``proj_size`` P, ``weight_hh_l{k}`` is (4H, P) and
    ``weight_hr_l{k}`` (P, H) follows the biases, as in PyTorch.

    Examples
    --------
    >>> lstm = LSTM(10, 20, num_layers=2, bidirectional=True, forget_bias=1.0, rng=0)
    >>> output, (h_n, c_n) = lstm(x, lengths=lengths)   # x (T, B, 10): output (T, B, 40)
    >>> output, (h_n, c_n), cells = lstm(x, return_cell_states=True)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, *, dtype: npt.DTypeLike = np.float32, rng: Seed = None,
                 recurrent_init: str = "uniform", forget_bias: float | None = None,
                 peepholes: bool = False, layer_norm: bool = False,
                 weight_dropout: float = 0.0, input_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, rng=rng, recurrent_init=recurrent_init,
                         forget_bias=forget_bias, proj_size=proj_size, peepholes=peepholes,
                         layer_norm=layer_norm, weight_dropout=weight_dropout,
                         input_dropout=input_dropout, recurrent_dropout=recurrent_dropout)

    def forward(self, input: TensorLike, hx: tuple[TensorLike, TensorLike] | None = None,
                lengths: npt.ArrayLike | None = None, return_cell_states: bool = False) -> Any:
        """Run the whole sequence through every layer and direction.

        Parameters
        ----------
        input : Tensor or float ndarray
            ``(T, B, input_size)``, ``(B, T, input_size)`` with ``batch_first``, or
            ``(T, input_size)`` unbatched.
        hx : pair (h_0, c_0) of Tensors or float ndarrays, optional
            The initial state and cell: each ``(num_layers * num_directions, B, H)``,
            layer-major (forward then reverse direction of layer 0, then layer 1,
            ...), or ``(num_layers * num_directions, H)`` unbatched. None means zeros.
        lengths : int array (B,), optional
            Valid steps of each row of a padded batch, each in 1..T. Steps past a
            row's length give zero outputs, the final state is each row's state at
            its last valid step, and the reverse direction starts at that step.
            This replaces PyTorch's ``pack_padded_sequence`` /
            ``pad_packed_sequence`` (numrnn keeps all T steps, zero past every
            length). None means every row has all T steps.
        return_cell_states : bool, default False
            Also return the last layer's c after every step (not with ``peepholes``
            or ``layer_norm`` yet).

        Returns
        -------
        output : Tensor
            ``(T, B, num_directions * H)`` (``(B, T, ...)`` with ``batch_first``):
            the last layer's features at every step, forward then reverse.
        state : pair (h_n, c_n) of Tensors
            Each ``(num_layers * num_directions, B, H)`` (``(..., H)`` unbatched):
            the final state of each layer and direction, the forward direction's at
            each row's last valid step, the reverse direction's at step 0. With
            ``proj_size`` P, ``h_n`` has P features.
        cell_states : Tensor, only with ``return_cell_states=True``
            The last layer's c after every step, laid out as ``output`` with H
            features per direction ((T, B, D * H), or (B, T, D * H) with
            ``batch_first``), zeros past each row's length. It comes from the same
            pass (no second run) and gradients flow back through it.

        Raises
        ------
        ShapeError
            Input, states or lengths of the wrong shape, or lengths outside 1..T.
        DTypeError
            Input or states of another dtype than the layer's.
        ArgumentError
            ``return_cell_states=True`` with ``peepholes`` or ``layer_norm``.
        """
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ArgumentError(f"LSTM: hx must be None or a pair (h_0, c_0), "
                                f"got {type(hx).__name__}")
        cell_states = return_cell_states is not False and \
            check_flag("LSTM", "return_cell_states", return_cell_states)
        if cell_states and (self.peepholes or self.layer_norm):
            raise ArgumentError("LSTM: return_cell_states=True is not available with "
                                "peepholes or layer_norm yet")
        output, finals = self._run(input, hx, lengths, cell_states)
        if cell_states:
            return output, tuple(finals[:2]), finals[2]
        return output, tuple(finals)


class GRU(RNNBase):
    """Gated recurrent unit, gates in PyTorch's order ``r, z, n``::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Parameters
    ----------
    input_size : int
        Features per step of the input.
    hidden_size : int
        H, features of the state of each layer and direction.
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
        A reverse direction per layer; outputs hold both, forward first.
    dtype : np.float32 (default) or np.float64, keyword-only
        Of every parameter; inputs and states must match it.
    rng : numpy Generator, int seed or None, keyword-only
        Source of the initial weights and, later, of the dropout masks.
    recurrent_init : {'uniform', 'orthogonal', 'identity'}, default 'uniform', keyword-only
        After PyTorch's U(-1/sqrt(H), 1/sqrt(H)) draw, replace every ``weight_hh``
        gate block by an orthogonal matrix or by the identity. 'identity' also
        zeroes every bias: with ``RNN(..., nonlinearity='relu')`` that is the IRNN
        of Le, Jaitly & Hinton (2015). ``numrnn.nn.init`` has finer control.
    reset_after : bool, default True, keyword-only
        False applies the reset gate before the recurrent product, ``n = tanh(W_in
        x + b_in + W_hn (r * h) + b_hn)``: the GRU of Cho et al. (2014), Keras's
        ``reset_after=False`` and ONNX's ``linear_before_reset=0``. Same
        parameters and shapes.
    layer_norm : bool, default False, keyword-only
        The layer-normalised GRU: ``W_ih x`` and ``W_hh h`` normalised separately,
        each gate block over its H units (eps 1e-5), with gains and shifts
        ``ln_ih_weight_l{k}``, ``ln_ih_bias_l{k}``, ``ln_hh_weight_l{k}``,
        ``ln_hh_bias_l{k}`` (3H,); r multiplies the whole normalised recurrent part
        of n, ``n = tanh(LN(W_in x) + b_in + r * (LN(W_hn h) + b_hn))``. Needs
        ``reset_after=True``. Equations: ``docs/cell_variants.md``.
    weight_dropout : float in [0, 1), default 0, keyword-only
        DropConnect on the recurrent weights (AWD-LSTM, Merity et al. 2018): in
        training mode each ``weight_hh`` is multiplied by a fresh mask per forward
        (kept with probability ``1 - p``, scaled by ``1 / (1 - p)``), drawn from
        ``rng``; the gradient reaches the undropped weight. None in evaluation mode.
    input_dropout, recurrent_dropout : float in [0, 1), default 0, keyword-only
        Variational dropout (Gal & Ghahramani 2016; Keras's ``dropout`` and
        ``recurrent_dropout``): in training mode each layer and direction draws,
        per forward, one mask per batch row for its input and one for its state h,
        kept for every step (scaled by ``1 / (1 - p)``, drawn from ``rng``); the
        recurrent one, m, multiplies h wherever it enters a product with ``W_hh``
        (with ``reset_after=False``, ``W_hn (r * (m * h))``) inside the kernel,
        while ``z * h_{t-1}`` keeps h unmasked, as in Keras. Nothing is dropped in
        evaluation mode (``numrnn.nn.variational_dropout``). Both combine with
        ``reset_after`` and ``layer_norm``.

    Notes
    -----
    Parameters per layer ``k`` (suffix ``_reverse`` for the reverse direction):
    ``weight_ih_l{k}`` (3H, in), ``weight_hh_l{k}`` (3H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (3H,), rows stacked r, z, n; ``in`` is input_size for
    k = 0 and ``num_directions * H`` after.

    Examples
    --------
    >>> gru = GRU(10, 20, reset_after=False, rng=0)
    >>> output, h_n = gru(x, lengths=lengths)   # x (T, B, 10): output (T, B, 20), h_n (1, B, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None,
                 recurrent_init: str = "uniform", reset_after: bool = True,
                 layer_norm: bool = False, weight_dropout: float = 0.0,
                 input_dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, rng=rng, recurrent_init=recurrent_init,
                         reset_after=reset_after, layer_norm=layer_norm,
                         weight_dropout=weight_dropout, input_dropout=input_dropout,
                         recurrent_dropout=recurrent_dropout)

    def forward(self, input: TensorLike, hx: TensorLike | None = None,
                lengths: npt.ArrayLike | None = None) -> tuple[Tensor, Tensor]:
        """Run the whole sequence through every layer and direction.

        Parameters
        ----------
        input : Tensor or float ndarray
            ``(T, B, input_size)``, ``(B, T, input_size)`` with ``batch_first``, or
            ``(T, input_size)`` unbatched.
        hx : Tensor or float ndarray, optional
            The initial state ``h_0``: each ``(num_layers * num_directions, B, H)``,
            layer-major (forward then reverse direction of layer 0, then layer 1,
            ...), or ``(num_layers * num_directions, H)`` unbatched. None means zeros.
        lengths : int array (B,), optional
            Valid steps of each row of a padded batch, each in 1..T. Steps past a
            row's length give zero outputs, the final state is each row's state at
            its last valid step, and the reverse direction starts at that step.
            This replaces PyTorch's ``pack_padded_sequence`` /
            ``pad_packed_sequence`` (numrnn keeps all T steps, zero past every
            length). None means every row has all T steps.

        Returns
        -------
        output : Tensor
            ``(T, B, num_directions * H)`` (``(B, T, ...)`` with ``batch_first``):
            the last layer's features at every step, forward then reverse.
        h_n : Tensor
            ``(num_layers * num_directions, B, H)`` (``(..., H)`` unbatched): the
            final state of each layer and direction, the forward direction's at
            each row's last valid step, the reverse direction's at step 0.

        Raises
        ------
        ShapeError
            Input, states or lengths of the wrong shape, or lengths outside 1..T.
        DTypeError
            Input or states of another dtype than the layer's.
        """
        output, (h_n,) = self._run(input, None if hx is None else (hx,), lengths)
        return output, h_n
