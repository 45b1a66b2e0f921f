"""RNNBase: the stacked, optionally bidirectional layer behind RNN, LSTM and GRU.

The layer validates its arguments and weights once, then runs every layer and
direction as one tape op, :class:`~numrnn.functional.recurrent_stack.RecurrentStack`,
on the kernels of its cell kind (:mod:`numrnn.functional.cell_kinds`); under
``no_grad`` it calls the op's inference pass, ``RecurrentStack.infer``, on the
arrays directly, since nothing is recorded. The
reverse direction runs each row backwards over its valid steps only, as PyTorch
does with a packed sequence; the two directions' outputs are concatenated
along the features and feed the next layer, through dropout in training mode.

Parameters carry PyTorch's names, shapes and registration order
(``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, then
the same with ``_reverse``), so ``state_dict()`` keys match ``torch.nn.LSTM``'s
one for one and weights load unchanged.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import is_grad_enabled
from numrnn.autograd.tensor import Tensor, constant
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.functional.cell_kinds import kind_of, parameter_name
from numrnn.functional.checks import FLOAT_DTYPES, check_flag, check_lengths
from numrnn.functional.recurrent_stack import RecurrentStack, StackSpec
from numrnn.nn import init
from numrnn.nn.module import Module
from numrnn.nn.parameter import new_parameter
from numrnn.nn.parameter_checks import check_parameters, layer_specs
from numrnn.nn.streaming import Streamer
from numrnn.nn.variational_dropout import check_variational_rate, draw_variational_masks
from numrnn.nn.weight_dropout import check_weight_dropout, drop_recurrent_weights

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.typing import Seed

RECURRENT_INITS = ("uniform", "orthogonal", "identity")


def check_positive_int(op: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ArgumentError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def check_module_dtype(op, dtype):
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise DTypeError(f"{op}: dtype must be float32 or float64, got {dtype}")
    return dtype


def check_proj_size(op, value, hidden_size):
    """``proj_size``: an int in [0, hidden_size), 0 meaning no projection."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"{op}: proj_size must be an int, got {value!r}")
    if not 0 <= value < hidden_size:
        raise ArgumentError(f"{op}: proj_size must be in [0, hidden_size={hidden_size}) "
                            f"(0: no projection), got {value}")
    return int(value)


def checked_array(op, name, value, dtype):
    """The ndarray behind ``value`` (a Tensor or an ndarray) of the module's ``dtype``."""
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"{op}: {name} must be a Tensor or ndarray, "
                                f"got {type(value).__name__}")
    if array.dtype != dtype:
        raise DTypeError(f"{op}: {name} must have dtype {dtype} (the module's dtype), "
                         f"got {array.dtype}")
    return array


def as_tensor(op, name, value, dtype):
    """``value`` (Tensor or float ndarray) as a Tensor of the module's dtype."""
    array = checked_array(op, name, value, dtype)
    return value if isinstance(value, Tensor) else Tensor(array)


def reset_normalisation(names, parameters):
    """Set layer normalisation's gains (``ln_*_weight``) to 1 and shifts (``ln_*_bias``)
    to 0, as ``torch.nn.LayerNorm`` starts: the normalised values pass unscaled."""
    for name, parameter in zip(names, parameters):
        if name.startswith("ln_"):
            if name.endswith("_weight"):
                parameter.data[...] = 1
            else:
                init.zeros_(parameter)


# Rates a user may change on a built layer; each is checked again when set.
_RATES = ("dropout", "weight_dropout", "input_dropout", "recurrent_dropout")


class RNNBase(Module):
    """Shared constructor, parameters, validation and layer loop; see RNN, LSTM, GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, nonlinearity: str = "tanh",
                 dtype: npt.DTypeLike = np.float32, rng: Seed = None,
                 recurrent_init: str = "uniform", forget_bias: float | None = None,
                 reset_after: bool = True, proj_size: int = 0, peepholes: bool = False,
                 layer_norm: bool = False, weight_dropout: float = 0.0,
                 input_dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__()
        self.mode = mode
        self.kind = kind_of(mode)
        self.input_size = check_positive_int(mode, "input_size", input_size)
        self.hidden_size = check_positive_int(mode, "hidden_size", hidden_size)
        self.num_layers = check_positive_int(mode, "num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.dtype = check_module_dtype(mode, dtype)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0.0 <= dropout < 1.0:
            raise ArgumentError(f"{mode}: dropout must be a number in [0, 1), got {dropout!r}")
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{mode}: dropout={dropout} acts between stacked layers only, so it "
                          "has no effect with num_layers=1", UserWarning, stacklevel=3)
        self.dropout = float(dropout)
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"{mode}: nonlinearity must be 'tanh' or 'relu', "
                                f"got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.reset_after = check_flag(mode, "reset_after", reset_after)
        self.proj_size = check_proj_size(mode, proj_size, self.hidden_size)
        self.peepholes = check_flag(mode, "peepholes", peepholes)
        self.weight_dropout = check_weight_dropout(mode, weight_dropout)
        self.layer_norm = check_flag(mode, "layer_norm", layer_norm)
        self.input_dropout = check_variational_rate(mode, "input_dropout", input_dropout)
        self.recurrent_dropout = check_variational_rate(mode, "recurrent_dropout",
                                                        recurrent_dropout)
        refusal = self.kind.refusal(self.kind.options_of(self), self.recurrent_dropout)
        if refusal is not None:
            raise ArgumentError(f"{mode}: {refusal}")
        if recurrent_init not in RECURRENT_INITS:
            raise ArgumentError(f"{mode}: recurrent_init must be one of {RECURRENT_INITS}, "
                                f"got {recurrent_init!r}")
        if recurrent_init == "identity" and self.proj_size:
            raise ArgumentError(f"{mode}: recurrent_init='identity' needs square weight_hh "
                                f"blocks, so it cannot go with proj_size={self.proj_size}")
        self.recurrent_init = recurrent_init
        if forget_bias is not None and (isinstance(forget_bias, bool)
                                        or not isinstance(forget_bias, numbers.Real)):
            raise ArgumentTypeError(f"{mode}: forget_bias must be a number or None, "
                                    f"got {type(forget_bias).__name__}")
        if forget_bias is not None and not self.bias:
            raise ArgumentError(f"{mode}: forget_bias={forget_bias} needs bias=True")
        self.forget_bias = forget_bias
        # One generator for initialization and then for dropout masks: a seed
        # reproduces a whole training run.
        self.rng = init.as_generator(rng)
        # (layer, direction) -> names and shapes of its weights (numrnn.nn.parameter_checks),
        # and "stack" -> all of them in the order of the stack op.
        self._weight_specs = {}

        # One cell's parameter names in the kernels' order, biases included (absent
        # ones are looked up as None); registered in PyTorch's order, so state_dict
        # keys line up with torch's.
        options = self.kind.options_of(self)
        # h, c: (hidden_size, hidden_size), or h of proj_size with a projection.
        self._state_sizes = self.kind.state_sizes(self.hidden_size, options)
        self._cell_parameters = tuple(
            name for name, _ in self.kind.parameters(1, self.hidden_size, options))
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                for name, shape in self.kind.parameters(self._layer_width(layer),
                                                        self.hidden_size, options):
                    if self.bias or not name.startswith("bias"):
                        setattr(self, parameter_name(name, layer, reverse=direction == 1),
                                new_parameter(mode, shape, self.dtype))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _layer_width(self, layer):
        """Input features of ``layer``: the input's, then the directions' outputs side by side."""
        return self.input_size if layer == 0 else self._state_sizes[0] * self.num_directions

    def _weights(self, layer, direction):
        """One layer's and direction's parameters in the kernels' order (``weight_ih,
        weight_hh, bias_ih, bias_hh`` and any the kind's options add); biases may be None.

        Looked up by name at each call, so :func:`numrnn.nn.functional_call` can
        substitute tensors. Read from the registry directly: attribute access
        goes through ``Module.__getattr__`` after a failed normal lookup, which
        cost ~2 µs per weight, 10 µs of a small layer's call.
        """
        registry = self._parameters
        reverse = direction == 1
        return tuple(registry.get(parameter_name(name, layer, reverse))
                     for name in self._cell_parameters)

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)) as PyTorch does, then apply
        ``recurrent_init`` to each ``weight_hh`` and ``forget_bias`` to the LSTM biases.

        ``recurrent_init='identity'`` also sets every bias to zero, the IRNN start of
        Le, Jaitly & Hinton (2015): with ReLU units and no input, the state is then
        carried unchanged from step to step, and the gradient passed back undiminished.
        ``forget_bias``, applied after, still sets the LSTM forget gate's bias.
        Layer normalisation's gains start at 1 and its shifts at 0
        (:func:`reset_normalisation`).
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound, self.rng)
        gate_blocks = self.kind.gate_count
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                weight_hh, bias_ih, bias_hh = self._weights(layer, direction)[1:4]
                if self.recurrent_init == "orthogonal":
                    init.orthogonal_(weight_hh, gate_blocks=gate_blocks, rng=self.rng)
                elif self.recurrent_init == "identity":
                    init.identity_(weight_hh, gate_blocks=gate_blocks)
                    for bias in (bias_ih, bias_hh):
                        if bias is not None:
                            init.zeros_(bias)
                if self.forget_bias is not None:
                    init.forget_bias_(bias_ih, bias_hh, self.forget_bias)
                reset_normalisation(self._cell_parameters, self._weights(layer, direction))

    def extra_repr(self) -> str:
        parts = [str(self.input_size), str(self.hidden_size)]
        defaults: list[tuple[str, Any]] = [
            ("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
            ("bidirectional", False), ("weight_dropout", 0.0), ("input_dropout", 0.0),
            ("recurrent_dropout", 0.0)]
        for name, (default, _) in self.kind.options.items():
            defaults.insert(1, (name, default))
        defaults += [("recurrent_init", "uniform"), ("forget_bias", None)]
        parts += [f"{name}={getattr(self, name)!r}" for name, default in defaults
                  if getattr(self, name) != default]
        if self.dtype != np.float32:
            parts.append(f"dtype={self.dtype.name}")
        return ", ".join(parts)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON values, so ``numrnn.load_model`` can rebuild the layer."""
        config = {"input_size": self.input_size, "hidden_size": self.hidden_size,
                  "num_layers": self.num_layers, "bias": self.bias,
                  "batch_first": self.batch_first, "dropout": self.dropout,
                  "bidirectional": self.bidirectional, "dtype": self.dtype.name,
                  "recurrent_init": self.recurrent_init, "weight_dropout": self.weight_dropout,
                  "input_dropout": self.input_dropout,
                  "recurrent_dropout": self.recurrent_dropout}
        for name in self.kind.layer_options:
            value = getattr(self, name)
            numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
            # Sizes stay ints (proj_size); other numbers are floats (forget_bias).
            if numeric and name in self.kind.options and \
                    isinstance(self.kind.options[name][0], int):
                config[name] = int(value)
            else:
                config[name] = float(value) if numeric else value
        return config

    def streamer(self, batch_size: int = 1) -> Streamer:
        """A :class:`~numrnn.nn.streaming.Streamer`: step this layer one frame at a time.

        >>> stream = lstm.streamer(batch_size=1)
        >>> y = stream.step(frame)      # frame (1, input_size) -> y (1, hidden_size)
        """
        return Streamer(self, batch_size)

    # -- the forward pass ---------------------------------------------------------
    def _run(self, input, states, lengths, cell_states=False):
        """Validate, then run every layer and direction as one op.

        ``states`` is None (zeros) or a sequence of initial states: (h_0,) or
        (h_0, c_0). Returns the output and a list of final-state tensors, in the
        caller's layout, then with ``cell_states`` the last layer's c at every step.
        Input, states, lengths and weights are validated here, once; then
        :class:`~numrnn.functional.recurrent_stack.RecurrentStack` runs the layers,
        recording a tape node only when a gradient can flow (``no_grad`` or
        constants alone run the inference kernels and keep nothing). Under
        ``no_grad`` its inference pass, ``RecurrentStack.infer``, is called on
        the arrays directly, and the results are wrapped as constants.
        """
        x, batched, steps, batch = self._check_input(input)
        state_arrays = None if states is None else self._check_states(states, batch, batched)
        if lengths is not None:
            if not batched:
                raise ShapeError(f"{self.mode}: lengths needs a batched 3-D input, "
                                 "got an unbatched 2-D one")
            lengths = check_lengths(self.mode, lengths, steps, batch)
        spec = self._stack_spec(batched, cell_states)
        if lengths is not None:
            spec = spec._replace(lengths=lengths)
        # Under no_grad nothing is recorded, so the stack op's bookkeeping is skipped;
        # the per-step cell states come from the training kernel, through the op.
        untaped = not (cell_states or is_grad_enabled())
        # Every weight against the shape this layer declared, before any kernel runs:
        # the kernels trust them (Numba checks no bounds). Untaped, their arrays.
        dropped = self.training and self.weight_dropout > 0
        weights = check_parameters(self, self._stack_specs(), arrays=untaped and not dropped)
        if dropped:
            weights = drop_recurrent_weights(weights, self._cell_parameters,
                                             self.weight_dropout, self.rng)
            if untaped:
                weights = [None if weight is None else weight.data for weight in weights]
        if self.training and (self.input_dropout > 0 or self.recurrent_dropout > 0):
            # Variational dropout: fresh masks per call, drawn here in the calling
            # thread (after the weight-dropout masks, before the between-layer ones),
            # so the results do not depend on the kernels' thread count.
            widths = [self._layer_width(layer) for layer in range(self.num_layers)
                      for _ in self._directions]
            masks = draw_variational_masks(widths, self._state_sizes[0], batch, self.dtype,
                                           self.input_dropout, self.recurrent_dropout,
                                           self.rng)
            spec = spec._replace(masks=masks)
        if not untaped:
            initial = (None,) * len(spec.state_sizes) if states is None else states
            output, *finals = RecurrentStack.apply(input, *initial, *weights, spec=spec)
            return output, finals
        output, *finals = map(constant, RecurrentStack.infer(x, state_arrays, weights, spec))
        return output, finals

    def __setattr__(self, name, value):
        if name in _RATES and name in self.__dict__:
            # A rate changed after construction is checked as the constructor checks
            # it, before it is kept: the kernels trust it (1.0 would divide by zero
            # when scaling a mask), and a refused combination must not reach them.
            value = check_variational_rate(self.mode, name, value)
            if name == "recurrent_dropout":
                refusal = self.kind.refusal(self.kind.options_of(self), value)
                if refusal is not None:
                    raise ArgumentError(f"{self.mode}: {refusal}")
        super().__setattr__(name, value)
        # Any attribute may feed the stack's spec (training, dropout, rng, an option):
        # the specs made from the old values go. Set after the attribute, and a new
        # dict rather than cleared, so that a call in another thread that read the
        # old value stores its spec in the dict that is dropped, never in this one.
        object.__setattr__(self, "_stack_spec_cache", {})

    def _stack_spec(self, batched, cell_states):
        """The stack op's :class:`StackSpec` for an input without ``lengths``.

        It depends on the layer's attributes alone, so it is made once per
        ``(batched, cell_states)`` and kept until an attribute is set (see
        ``__setattr__``): the options dict and the spec cost ~1.5 µs of a
        small call. Parameters are not part of it; they are looked up and
        checked at every call.
        """
        # Read before the attributes: see __setattr__.
        cache = self.__dict__.get("_stack_spec_cache")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_stack_spec_cache", cache)
        spec = cache.get((batched, cell_states))
        if spec is None:
            spec = StackSpec(self.kind, self.kind.options_of(self), len(self._cell_parameters),
                             self.num_layers, self._directions, self.hidden_size, None,
                             self.dropout if self.training else 0.0, self.rng,
                             self.batch_first, batched, self._state_sizes, cell_states, {})
            cache[(batched, cell_states)] = spec
        return spec

    def _stack_specs(self):
        """Every layer's and direction's weight spec, in the stack op's order, made once."""
        specs = self._weight_specs.get("stack")
        if specs is None:
            specs = tuple(spec for layer in range(self.num_layers)
                          for direction in range(self.num_directions)
                          for spec in layer_specs(self, layer, direction))
            self._weight_specs["stack"] = specs
        return specs

    @property
    def _directions(self):
        """The reverse flag of each direction."""
        return (False, True) if self.bidirectional else (False,)

    def _check_input(self, input):
        """The input's array, in the caller's layout, checked, then whether it is
        batched, its steps and its batch rows: ``(x, batched, steps, batch)``."""
        x = input.data if isinstance(input, Tensor) else input
        if not isinstance(x, np.ndarray) or x.dtype != self.dtype:
            checked_array(self.mode, "input", input, self.dtype)  # raises, naming the problem
        shape = x.shape
        if len(shape) not in (2, 3):
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ShapeError(f"{self.mode}: input must be 3-D {layout} or 2-D (T, I) unbatched, "
                             f"got {x.ndim}-D with shape {shape}")
        if shape[-1] != self.input_size:
            raise ShapeError(f"{self.mode}: input feature size must be {self.input_size} "
                             f"(input_size), got {shape[-1]}")
        if x.size == 0:
            raise ShapeError(f"{self.mode}: input must have at least one time step and one "
                             f"batch row, got shape {shape}")
        if len(shape) == 2:
            return x, False, shape[0], 1
        if self.batch_first:
            return x, True, shape[1], shape[0]
        return x, True, shape[0], shape[1]

    def _check_states(self, states, batch, batched):
        """Check the initial states (None means zeros) in the caller's layout."""
        if states is None:
            return
        names = tuple(f"{state}_0" for state in self.kind.states)
        layers = self.num_layers * self.num_directions
        checked = []
        for name, state, size in zip(names, states, self._state_sizes):
            expected = (layers, batch, size) if batched else (layers, size)
            state = checked_array(self.mode, name, state, self.dtype)
            if state.shape != expected:
                layout = "(num_layers*num_directions, B, H)" if batched \
                    else "(num_layers*num_directions, H) for an unbatched input"
                raise ShapeError(f"{self.mode}: {name} must have shape {expected} {layout}, "
                                 f"got {state.shape}")
            checked.append(state)
        return checked
