"""Single-step cells with PyTorch's interface: RNNCell, LSTMCell, GRUCell.

A cell advances one time step; loop over steps yourself (decoders, custom
recurrences). Parameters are ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H),
``bias_ih`` and ``bias_hh`` (G*H,), with the gate blocks of the matching layer
(:mod:`numrnn.nn.recurrent`): G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).

Calling: ``h = cell(x, h)``, ``(h, c) = lstm_cell(x, (h, c))``; ``x`` is (B, I)
or (I,) unbatched, states (B, H) or (H,); a missing state means zeros.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

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
    checked_array,
    reset_normalisation,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, ClassVar

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import Seed, TensorLike

__all__ = ["GRUCell", "LSTMCell", "RNNCell"]


class _Cell(Module):
    """Constructor, parameters, initialization and validation shared by the cells."""

    # The cell kind's record (numrnn.functional.cell_kinds), set by each cell.
    kind: ClassVar[cell_kinds.CellKind]

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype: npt.DTypeLike,
                 rng: Seed, **options: Any) -> None:
        super().__init__()
        name = type(self).__name__
        # The kind's options first: they decide which parameters the cell has.
        for option, value in options.items():
            setattr(self, option, value)
        refusal = self.kind.refusal(self.kind.options_of(self))
        if refusal is not None:
            raise ArgumentError(f"{name}: {refusal}")
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
        for name, value in self.kind.options_of(self).items():
            if value != self.kind.options[name][0]:
                parts.append(f"{name}={value!r}")
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON values, so ``numrnn.load_model`` can rebuild the cell."""
        config = {"input_size": self.input_size, "hidden_size": self.hidden_size,
                  "bias": self.bias, "dtype": self.dtype.name}
        # The kind's options this cell takes (LSTMCell has no proj_size, as PyTorch's).
        config.update({name: value for name, value in self.kind.options_of(self).items()
                       if hasattr(self, name)})
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
        for state_name, state in zip(names, states):
            self._check_state(state_name, state, batch, batched)
        # The op can only check the weights against each other, not against the
        # shapes this cell declared; the kernels trust them.
        weights = checked_parameters(self, cell_specs(self))
        new = RecurrentStep.apply(input, *states, *weights, kind=self.kind,
                                  options=self.kind.options_of(self), batched=batched)
        return list(new) if isinstance(new, tuple) else [new]

    def _check_state(self, state_name, state, batch, batched):
        """Check a state: (B, H), or (H,) for an unbatched input; None means zeros."""
        if state is None:
            return
        name = type(self).__name__
        array = checked_array(name, state_name, state, self.dtype)
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if array.shape != expected:
            raise ShapeError(f"{name}: {state_name} must have shape {expected}, "
                             f"got {array.shape}")


class RNNCell(_Cell):
    """``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with act ``'tanh'`` or ``'relu'``."""

    kind = cell_kinds.RNN

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", *, dtype: npt.DTypeLike = np.float32,
                 rng: Seed = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                                f"got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, rng, nonlinearity=nonlinearity)

    def forward(self, input: TensorLike, hx: TensorLike | None = None) -> Tensor:
        (h,) = self._step(input, [hx])
        return h


class LSTMCell(_Cell):
    """One LSTM step (gates i, f, g, o): ``(h', c') = cell(x, (h, c))``; ``peepholes=True``
    adds the peephole weights ``weight_peephole`` (3H,) and ``layer_norm=True`` makes it
    the layer-normalised step, as :class:`~numrnn.nn.LSTM` does."""

    kind = cell_kinds.LSTM

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 peepholes: bool = False, layer_norm: bool = False,
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        peepholes = check_flag("LSTMCell", "peepholes", peepholes)
        layer_norm = check_flag("LSTMCell", "layer_norm", layer_norm)
        super().__init__(input_size, hidden_size, bias, dtype, rng, peepholes=peepholes,
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
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None) -> None:
        reset_after = check_flag("GRUCell", "reset_after", reset_after)
        layer_norm = check_flag("GRUCell", "layer_norm", layer_norm)
        super().__init__(input_size, hidden_size, bias, dtype, rng, reset_after=reset_after,
                         layer_norm=layer_norm)

    def forward(self, input: TensorLike, hx: TensorLike | None = None) -> Tensor:
        (h,) = self._step(input, [hx])
        return h

