"""Single-step cells with PyTorch's interface: RNNCell, LSTMCell, GRUCell.

A cell advances one time step; loop over steps yourself (decoders, custom
recurrences). Parameters are ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H),
``bias_ih`` and ``bias_hh`` (G*H,), with the gate blocks of the matching layer
(:mod:`numrnn.nn.recurrent`): G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n);
the options of the cell table add theirs after them (a projected LSTMCell's
``weight_hr`` (P, H), with ``weight_hh`` (4H, P)).

Calling: ``h = cell(x, h)``, ``(h, c) = lstm_cell(x, (h, c))``; ``x`` is (B, I)
or (I,) unbatched, states (B, H) or (H,) (a projected LSTMCell's h (B, P)); a
missing state means zeros.

Variational dropout (``input_dropout=p``, ``recurrent_dropout=q``: Keras's cells'
``dropout`` and ``recurrent_dropout``, :mod:`numrnn.nn.variational_dropout`) needs
one pair of masks per sequence while a cell sees one step per call, so the cell
holds them between calls. In training mode, a call whose state is None (a
sequence starting from zeros) draws fresh masks from the cell's generator, input
mask first, as the layers draw theirs; a call with a state reuses the masks held,
drawing them only when none are (the first call, or after
:meth:`~_Cell.reset_dropout_masks`, which a sequence starting from a given state
calls first). The input mask multiplies ``x``, the recurrent mask ``h`` before the
recurrent product (inside the kernel, as in the layers). In evaluation mode
nothing is drawn nor applied.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional import cell_kinds
from numrnn.functional.checks import check_flag
from numrnn.functional.recurrent import RecurrentStep
from numrnn.nn import init
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import cell_specs, checked_parameters
from numrnn.nn.rnn_base import (
    check_module_dtype,
    check_positive_int,
    check_proj_size,
    checked_array,
    reset_normalisation,
)
from numrnn.nn.variational_dropout import check_variational_rate, draw_variational_masks

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, ClassVar

    import numpy.typing as npt

    from numrnn.typing import Seed, TensorLike

__all__ = ["GRUCell", "LSTMCell", "RNNCell"]

# The variational rates, checked again when set on a built cell.
_RATES = ("input_dropout", "recurrent_dropout")


class _Cell(Module):
    """Constructor, parameters, initialization and validation shared by the cells."""

    # The cell kind's record (numrnn.functional.cell_kinds), set by each cell.
    kind: ClassVar[cell_kinds.CellKind]

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype: npt.DTypeLike,
                 rng: Seed, input_dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 **options: Any) -> None:
        super().__init__()
        name = type(self).__name__
        # The kind's options first: they decide which parameters the cell has.
        for option, value in options.items():
            setattr(self, option, value)
        self.input_dropout = check_variational_rate(name, "input_dropout", input_dropout)
        self.recurrent_dropout = check_variational_rate(name, "recurrent_dropout",
                                                        recurrent_dropout)
        refusal = self.kind.refusal(self.kind.options_of(self), self.recurrent_dropout)
        if refusal is not None:
            raise ArgumentError(f"{name}: {refusal}")
        # (input mask or None, recurrent mask or None) of the sequence running, or None.
        self._dropout_masks = None
        self.input_size = check_positive_int(name, "input_size", input_size)
        self.hidden_size = check_positive_int(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = check_module_dtype(name, dtype)
        self.rng = init.as_generator(rng)
        self._weight_specs = None  # names and shapes of the weights (nn.parameter_checks)
        parameters = self.kind.parameters(self.input_size, self.hidden_size,
                                          self.kind.options_of(self))
        self._cell_parameters = tuple(name for name, _ in parameters)
        for parameter, shape in parameters:
            if self.bias or not parameter.startswith("bias"):
                setattr(self, parameter, new_parameter(name, shape, self.dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as PyTorch does; then layer
        normalisation's gains 1 and shifts 0."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound, self.rng)
        reset_normalisation(self._cell_parameters, self._weights())

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _RATES and name in self.__dict__:
            # As the constructor checks it, before it is kept: the kernels trust it.
            value = check_variational_rate(type(self).__name__, name, value)
            if name == "recurrent_dropout":
                refusal = self.kind.refusal(self.kind.options_of(self), value)
                if refusal is not None:
                    raise ArgumentError(f"{type(self).__name__}: {refusal}")
            # Masks drawn at the old rate are not this rate's.
            self.__dict__["_dropout_masks"] = None
        super().__setattr__(name, value)

    def reset_dropout_masks(self) -> None:
        """Forget the variational dropout masks held: the next call in training mode
        draws fresh ones. Call it before the first step of a sequence that starts
        from a given state (a call with no state draws fresh masks by itself)."""
        self._dropout_masks = None

    @property
    def dropout_masks(self) -> tuple[np.ndarray | None, np.ndarray | None] | None:
        """The variational masks the cell holds: ``(input mask (B, I), recurrent mask
        (B, size of h))``, each None where its rate is 0; None before any is drawn."""
        return self._dropout_masks

    @property
    def mode(self) -> str:
        """The cell kind's name: "RNN", "LSTM" or "GRU"."""
        return self.kind.name

    def _weights(self):
        registry = self._parameters
        return tuple(registry.get(name) for name in self._cell_parameters)

    def extra_repr(self) -> str:
        parts = [str(self.input_size), str(self.hidden_size)]
        if not self.bias:
            parts.append("bias=False")
        parts += [f"{rate}={getattr(self, rate)!r}" for rate in _RATES if getattr(self, rate)]
        for name, value in self.kind.options_of(self).items():
            if value != self.kind.options[name][0]:
                parts.append(f"{name}={value!r}")
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON values, so ``numrnn.load_model`` can rebuild the cell."""
        config = {"input_size": self.input_size, "hidden_size": self.hidden_size,
                  "bias": self.bias, "dtype": self.dtype.name,
                  "input_dropout": self.input_dropout,
                  "recurrent_dropout": self.recurrent_dropout}
        # An unprojected LSTMCell's config names no proj_size, as before the projection:
        # its files and descriptions stay those of PyTorch's arguments.
        config.update({name: value for name, value in self.kind.options_of(self).items()
                       if name != "proj_size" or value})
        return config

    def _step(self, input, states):
        """Validate, then advance one step: the new states, in the caller's layout.

        ``states`` holds one entry per state (None meaning zeros). All
        validation happens here; then one op,
        :class:`~numrnn.functional.recurrent.RecurrentStep`, runs the step,
        recording a tape node only when a gradient can flow.
        """
        name = type(self).__name__
        x = checked_array(name, "input", input, self.dtype)
        if x.ndim not in (1, 2):
            raise ShapeError(f"{name}: input must be 2-D (B, I) or 1-D (I,) unbatched, "
                             f"got {x.ndim}-D with shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input feature size must be {self.input_size} "
                             f"(input_size), got {x.shape[-1]}")
        batched = x.ndim == 2
        batch = x.shape[0] if batched else 1
        if batch == 0:
            raise ShapeError(f"{name}: input must have at least one batch row, "
                             f"got shape {x.shape}")
        names = self.kind.states if len(self.kind.states) > 1 else ("hx",)
        # A projected LSTMCell's h has proj_size features, its c hidden_size.
        sizes = self.kind.state_sizes(self.hidden_size, self.kind.options_of(self))
        for state_name, state, size in zip(names, states, sizes):
            self._check_state(state_name, state, size, batch, batched)
        # The op can only check the weights against each other, not against the
        # shapes this cell declared; the kernels trust them.
        weights = checked_parameters(self, cell_specs(self))
        recurrent_mask = None
        if self.training and (self.input_dropout > 0 or self.recurrent_dropout > 0):
            starts = all(state is None for state in states)
            input_mask, recurrent_mask = self._masks_for(batch, starts)
            if input_mask is not None:
                # The same at every step: a tape op before the fused one, as in the layers.
                input = (input if isinstance(input, Tensor) else Tensor(x)) \
                    * (input_mask if batched else input_mask[0])
        new = RecurrentStep.apply(input, *states, *weights, kind=self.kind,
                                  options=self.kind.options_of(self), batched=batched,
                                  recurrent_mask=recurrent_mask)
        return list(new) if isinstance(new, tuple) else [new]

    def _masks_for(self, batch, sequence_starts):
        """The masks of this step: fresh ones when a sequence starts from zeros or none
        are held, else those held, which must be of this batch's rows."""
        name = type(self).__name__
        if sequence_starts or self._dropout_masks is None:
            options = self.kind.options_of(self)
            state_size = self.kind.state_sizes(self.hidden_size, options)[0]
            drawn = draw_variational_masks([self.input_size], state_size, batch, self.dtype,
                                           self.input_dropout, self.recurrent_dropout,
                                           self.rng)
            self._dropout_masks = (drawn.inputs[0], drawn.recurrent[0])
        held = next(mask for mask in self._dropout_masks if mask is not None)
        if held.dtype != self.dtype:
            # A cell converted with .to(dtype) mid-sequence keeps its masks' values.
            self._dropout_masks = tuple(None if mask is None else mask.astype(self.dtype)
                                        for mask in self._dropout_masks)
        if held.shape[0] != batch:
            raise ShapeError(f"{name}: the dropout masks held were drawn for a batch of "
                             f"{held.shape[0]} rows, the input has {batch}: call "
                             "reset_dropout_masks() before a new sequence that starts from "
                             "a given state")
        return self._dropout_masks

    def _check_state(self, state_name, state, size, batch, batched):
        """Check a state: (B, size), or (size,) for an unbatched input; None means zeros."""
        if state is None:
            return
        name = type(self).__name__
        array = checked_array(name, state_name, state, self.dtype)
        expected = (batch, size) if batched else (size,)
        if array.shape != expected:
            raise ShapeError(f"{name}: {state_name} must have shape {expected}, "
                             f"got {array.shape}")


class RNNCell(_Cell):
    """``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with act ``'tanh'`` or ``'relu'``."""

    kind = cell_kinds.RNN

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", *, input_dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, dtype: npt.DTypeLike = np.float32,
                 rng: Seed = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                                f"got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, rng, input_dropout,
                         recurrent_dropout, nonlinearity=nonlinearity)

    def forward(self, input: TensorLike, hx: TensorLike | None = None) -> Tensor:
        (h,) = self._step(input, [hx])
        return h


class LSTMCell(_Cell):
    """One LSTM step (gates i, f, g, o): ``(h', c') = cell(x, (h, c))``; ``peepholes=True``
    adds the peephole weights ``weight_peephole`` (3H,) and ``layer_norm=True`` makes it
    the layer-normalised step, as :class:`~numrnn.nn.LSTM` does.

    ``proj_size=P`` (an int in [0, hidden_size), 0 meaning none) is the step of
    :class:`~numrnn.nn.LSTM` with ``proj_size``, PyTorch's projected LSTM:
    ``h' = W_hr (o * tanh(c'))`` with ``weight_hr`` (P, H), ``weight_hh`` (4H, P),
    so ``h`` has P features and ``c`` H. It does not combine with ``peepholes`` or
    ``layer_norm``, as in the layer; ``recurrent_dropout`` masks its P features."""

    kind = cell_kinds.LSTM

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 proj_size: int = 0, peepholes: bool = False, layer_norm: bool = False,
                 input_dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        proj_size = check_proj_size(
            "LSTMCell", proj_size, check_positive_int("LSTMCell", "hidden_size", hidden_size))
        peepholes = check_flag("LSTMCell", "peepholes", peepholes)
        layer_norm = check_flag("LSTMCell", "layer_norm", layer_norm)
        super().__init__(input_size, hidden_size, bias, dtype, rng, input_dropout,
                         recurrent_dropout, proj_size=proj_size, peepholes=peepholes,
                         layer_norm=layer_norm)

    def forward(self, input: TensorLike,
                hx: Sequence[TensorLike | None] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            hx = (None, None)
        elif not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ArgumentError(f"LSTMCell: hx must be None or a pair (h, c), "
                                f"got {type(hx).__name__}")
        h, c = self._step(input, list(hx))
        return h, c


class GRUCell(_Cell):
    """One GRU step (gates r, z, n): ``h' = cell(x, h)``; ``reset_after=False`` applies
    r before the recurrent product and ``layer_norm=True`` normalises, as
    :class:`~numrnn.nn.GRU` does."""

    kind = cell_kinds.GRU

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 reset_after: bool = True, layer_norm: bool = False,
                 input_dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        reset_after = check_flag("GRUCell", "reset_after", reset_after)
        layer_norm = check_flag("GRUCell", "layer_norm", layer_norm)
        super().__init__(input_size, hidden_size, bias, dtype, rng, input_dropout,
                         recurrent_dropout, reset_after=reset_after, layer_norm=layer_norm)

    def forward(self, input: TensorLike, hx: TensorLike | None = None) -> Tensor:
        (h,) = self._step(input, [hx])
        return h

