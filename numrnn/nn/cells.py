"""Single-step cells with PyTorch's interface: RNNCell, LSTMCell, GRUCell.

A cell advances one time step; loop over steps yourself (decoders, custom
recurrences). Parameters are ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H),
``bias_ih`` and ``bias_hh`` (G*H,), with the gate blocks of the matching layer
(:mod:`numrnn.nn.recurrent`): G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).

Calling: ``h = cell(x, h)``, ``(h, c) = lstm_cell(x, (h, c))``; ``x`` is (B, I)
or (I,) unbatched, states (B, H) or (H,); a missing state means zeros.
"""

import math

import numpy as np

from numrnn import functional as F
from numrnn.autograd.grad_mode import is_grad_enabled
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ShapeError
from numrnn.functional import cell_kinds
from numrnn.functional.cell_kinds import PARAMETERS
from numrnn.nn import init
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import cell_specs, check_parameters
from numrnn.nn.rnn_base import (
    as_tensor,
    check_module_dtype,
    check_positive_int,
    checked_array,
    requires_grad,
)
from numrnn.nn.rnn_untaped import run_cell_untaped

__all__ = ["GRUCell", "LSTMCell", "RNNCell"]


class _Cell(Module):
    """Constructor, parameters, initialization and validation shared by the cells."""

    kind = None  # the cell kind's record (numrnn.functional.cell_kinds), set by each cell

    def __init__(self, input_size, hidden_size, bias, dtype, rng):
        super().__init__()
        name = type(self).__name__
        self.input_size = check_positive_int(name, "input_size", input_size)
        self.hidden_size = check_positive_int(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = check_module_dtype(name, dtype)
        self.rng = init.as_generator(rng)
        self._weight_specs = None  # names and shapes of the weights (nn.parameter_checks)
        gate_rows = self.kind.gate_count * self.hidden_size
        self.weight_ih = new_parameter(name, (gate_rows, self.input_size), self.dtype)
        self.weight_hh = new_parameter(name, (gate_rows, self.hidden_size), self.dtype)
        if self.bias:
            self.bias_ih = new_parameter(name, (gate_rows,), self.dtype)
            self.bias_hh = new_parameter(name, (gate_rows,), self.dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as PyTorch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound, self.rng)

    @property
    def mode(self):
        """The cell kind's name: "RNN", "LSTM" or "GRU"."""
        return self.kind.name

    def _weights(self):
        registry = self._parameters
        return tuple(registry.get(name) for name in PARAMETERS)

    def extra_repr(self):
        parts = [str(self.input_size), str(self.hidden_size)]
        if not self.bias:
            parts.append("bias=False")
        for name, (default, _) in self.kind.options.items():
            if getattr(self, name) != default:
                parts.append(f"{name}={getattr(self, name)!r}")
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self):
        """Constructor arguments as JSON values, so ``numrnn.load_model`` can rebuild the cell."""
        config = {"input_size": self.input_size, "hidden_size": self.hidden_size,
                  "bias": self.bias, "dtype": self.dtype.name}
        config.update(self.kind.options_of(self))
        return config

    def _step(self, input, states):
        """Validate, then advance one step: the new states, in the caller's layout.

        ``states`` holds one entry per state (None meaning zeros). When no
        gradient can flow (``no_grad``, or nothing requires one), the step runs
        without the tape (:func:`numrnn.nn.rnn_untaped.run_cell_untaped`), with
        the same kernel and results; decoders step cells once per token. All
        validation happens here, before the path is chosen, so both paths accept
        and refuse exactly the same calls.
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
        arrays = [self._check_state(state_name, state, batch, batched)
                  for state_name, state in zip(names, states)]
        # The fused op can only check the weights against each other, not against
        # the shapes this cell declared; the kernels trust them.
        weights = check_parameters(self, cell_specs(self))
        if self._needs_tape(input, states):
            return self._taped_step(as_tensor(name, "input", input, self.dtype), states, batch,
                                    batched)
        new = run_cell_untaped(self, x.reshape(batch, self.input_size), arrays, weights)
        if not batched:
            new = [Tensor(state.data.reshape(self.hidden_size)) for state in new]
        return new

    def _needs_tape(self, input, states):
        if not is_grad_enabled():
            return False
        return requires_grad(input) or any(map(requires_grad, states)) or \
            any(requires_grad(weight) for weight in self._weights())

    def _taped_step(self, x, states, batch, batched):
        """The step as a tape op, so that backward reaches every input; validated by
        :meth:`_step`, as for the untaped step."""
        if not batched:
            x = F.reshape(x, (1, self.input_size))
        tensors = []
        for state in states:
            if state is None:
                tensors.append(Tensor(np.zeros((batch, self.hidden_size), dtype=self.dtype)))
                continue
            state = as_tensor(type(self).__name__, "state", state, self.dtype)
            tensors.append(state if batched else F.reshape(state, (1, self.hidden_size)))
        new = self.kind.step(x, tensors, self._weights(), self.kind.options_of(self))
        return new if batched else [F.reshape(state, (self.hidden_size,)) for state in new]

    def _check_state(self, state_name, state, batch, batched):
        """A state's array as (B, H), checked; None (zeros) stays None."""
        if state is None:
            return None
        name = type(self).__name__
        array = checked_array(name, state_name, state, self.dtype)
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if array.shape != expected:
            raise ShapeError(f"{name}: {state_name} must have shape {expected}, "
                             f"got {array.shape}")
        return array.reshape(batch, self.hidden_size)


class RNNCell(_Cell):
    """``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with act ``'tanh'`` or ``'relu'``."""

    kind = cell_kinds.RNN

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *,
                 dtype=np.float32, rng=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                                f"got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype, rng)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        (h,) = self._step(input, [hx])
        return h


class LSTMCell(_Cell):
    """One LSTM step (gates i, f, g, o): ``(h', c') = cell(x, (h, c))``."""

    kind = cell_kinds.LSTM

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=np.float32, rng=None):
        super().__init__(input_size, hidden_size, bias, dtype, rng)

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        elif not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ArgumentError(f"LSTMCell: hx must be None or a pair (h, c), "
                                f"got {type(hx).__name__}")
        h, c = self._step(input, list(hx))
        return h, c


class GRUCell(_Cell):
    """One GRU step (gates r, z, n): ``h' = cell(x, h)``."""

    kind = cell_kinds.GRU

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=np.float32, rng=None):
        super().__init__(input_size, hidden_size, bias, dtype, rng)

    def forward(self, input, hx=None):
        (h,) = self._step(input, [hx])
        return h

