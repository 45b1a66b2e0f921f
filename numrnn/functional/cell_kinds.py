"""The table of cell kinds: what makes an LSTM an LSTM, a GRU a GRU and an Elman RNN an RNN.

Everything above the kernels that depends on the kind of a recurrent cell reads
it from one :class:`CellKind` record here: the layers and cells (``nn``), the
streaming runner, the gradient diagnostics, the sequence-to-sequence models,
the weight files and the peers of ``perf/``. A new kind is a new record (with
its kernel file and its tests), not a new branch in each of those.

A record holds:

- ``gates``: the gate blocks stacked along the rows of ``weight_ih`` and
  ``weight_hh``, in numrnn's (PyTorch's) order;
- ``states``: the recurrent states, ``h`` first (an LSTM also carries ``c``);
- the kernels: the module of its forward kernels and the module of its
  backward, both keeping the one contract of :mod:`numrnn.kernels.recurrent`
  and called through :meth:`CellKind.forward_train`,
  :meth:`CellKind.forward_infer` and :meth:`CellKind.backward`, and its
  streaming step kernels, one per streamable combination of options, keyed by
  their values or by ``streaming_variant(options)``
  (:meth:`CellKind.streaming_step`). The tape ops of
  :mod:`numrnn.functional.recurrent` and the stack of
  :mod:`numrnn.functional.recurrent_stack` run every kind through these;
- ``options``: options of the computation itself (the Elman RNN's
  ``nonlinearity``, the GRU's ``reset_after``: PyTorch's variant, or r applied
  before the recurrent product, and its ``layer_norm``; the LSTM's ``proj_size``,
  ``peepholes`` and ``layer_norm``), with their default and allowed values (the ones
  :mod:`numrnn.warmup` compiles, for an option whose range the layer checks);
  ``layer_options``: constructor options only this kind's layers take;
- the gate orders of other layouts (ONNX, Keras, oneDNN), as gate names, so
  weights can be permuted block-wise (:meth:`CellKind.gate_permutation`).

- ``parameter_layout``: the names and shapes of one cell's parameters, in the
  order the kernels take them (:meth:`CellKind.parameters`). Every kind starts
  with the four of :data:`PARAMETERS` (:func:`standard_parameters`); an option
  that adds weights (a projection, peepholes, normalisation gains) appends its
  own after them, so PyTorch's registration order is kept. Names are
  PyTorch's, made per layer and direction by :func:`parameter_name`; a name
  starting with ``bias`` is left out of a layer built with ``bias=False`` and
  reaches the kernels as None. The LSTM's and GRU's ``layer_norm`` option
  appends its gains and shifts (:func:`layer_norm_parameters`). ``h`` feeds
  back through ``weight_hh``, so its size is ``weight_hh``'s columns
  (:meth:`CellKind.state_sizes`): an LSTM with ``proj_size`` P has ``h`` of size
  P and ``c`` of size H.
- ``option_refusal``: None, or a function of the options giving why a
  combination of them is refused (None when it is not): :meth:`CellKind.refusal`.
- ``recurrent_dropout_refusal``: the same for options that do not go with
  variational recurrent dropout, for a kind whose kernels apply no recurrent mask;
  None for every kind today (every LSTM, GRU and Elman kernel applies one); also
  read by :meth:`CellKind.refusal`, given the layer's ``recurrent_dropout``.
"""

from dataclasses import dataclass
from types import ModuleType

from numrnn.errors import ArgumentError
from numrnn.kernels import elman as elman_kernels
from numrnn.kernels import elman_backward, gru_backward, lstm_backward, streaming_layer_norm
from numrnn.kernels import gru as gru_kernels
from numrnn.kernels import lstm as lstm_kernels
from numrnn.kernels import streaming as streaming_kernels

__all__ = ["GRU", "KINDS", "LSTM", "PARAMETERS", "PEEPHOLE_GATES", "RNN", "CellKind",
           "kind_of", "layer_norm_parameters", "lstm_parameters", "parameter_name",
           "standard_parameters"]

# One cell's parameters, in the order every op and kernel takes them.
PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def parameter_name(name, layer=None, reverse=False):
    """PyTorch's name of a parameter: ``weight_ih`` in a cell, ``weight_ih_l1_reverse``
    for layer 1's reverse direction in a layer."""
    if layer is None:
        return name
    return f"{name}_l{layer}{'_reverse' if reverse else ''}"


def standard_parameters(kind, width, hidden, options):
    """The four parameters every kind has: ``weight_ih`` (G*H, width), ``weight_hh``
    (G*H, H), ``bias_ih`` and ``bias_hh`` (G*H,), with G the kind's gate count."""
    rows = kind.gate_count * hidden
    return (("weight_ih", (rows, width)), ("weight_hh", (rows, hidden)),
            ("bias_ih", (rows,)), ("bias_hh", (rows,)))


# The gates whose pre-activations a peephole LSTM adds p * c to, in the order of
# its peephole vector ``weight_peephole`` (3H,): i and f look at c_{t-1}, o at c_t.
PEEPHOLE_GATES = ("i", "f", "o")


def layer_norm_parameters(kind, width, hidden, options):
    """The standard four, then with ``layer_norm`` the gains and shifts of the
    normalised input and recurrent products, ``ln_ih_weight``, ``ln_ih_bias``,
    ``ln_hh_weight``, ``ln_hh_bias`` (G*H,), and for a kind with a cell state
    those of the normalised cell, ``ln_cell_weight``, ``ln_cell_bias`` (H,)."""
    layout = standard_parameters(kind, width, hidden, options)
    if not options.get("layer_norm", False):
        return layout
    rows = kind.gate_count * hidden
    layout += (("ln_ih_weight", (rows,)), ("ln_ih_bias", (rows,)),
               ("ln_hh_weight", (rows,)), ("ln_hh_bias", (rows,)))
    if "c" in kind.states:
        layout += (("ln_cell_weight", (hidden,)), ("ln_cell_bias", (hidden,)))
    return layout


def lstm_parameters(kind, width, hidden, options):
    """The LSTM's parameters: those of :func:`layer_norm_parameters`; or with
    ``proj_size`` P > 0 (PyTorch's projection) the standard four with ``weight_hh``
    (4H, P), then ``weight_hr`` (P, H); or with ``peepholes`` the standard four and
    the peephole weights ``weight_peephole`` (3H,), blocks in
    :data:`PEEPHOLE_GATES` order. The three options do not combine."""
    proj_size = options.get("proj_size", 0)
    if proj_size:
        weight_ih, (name, (rows, _)), *biases = standard_parameters(kind, width, hidden,
                                                                    options)
        return (weight_ih, (name, (rows, proj_size)), *biases,
                ("weight_hr", (proj_size, hidden)))
    if options.get("peepholes", False):
        return standard_parameters(kind, width, hidden, options) + (
            ("weight_peephole", (len(PEEPHOLE_GATES) * hidden,)),)
    return layer_norm_parameters(kind, width, hidden, options)


def _lstm_option_refusal(options):
    chosen = [name for name in ("proj_size", "peepholes", "layer_norm") if options.get(name)]
    if len(chosen) > 1:
        return (f"{' and '.join(chosen)} do not combine yet: each has its own kernel, and "
                "none computes them together")
    return None


def _gru_option_refusal(options):
    if options.get("layer_norm") and not options.get("reset_after", True):
        return ("layer_norm=True needs reset_after=True: the layer-normalised GRU applies r "
                "after the recurrent product only")
    return None


def _lstm_streaming_variant(options):
    # One projected step serves every proj_size: P is the width of its output.
    return (bool(options.get("proj_size", 0)), options.get("peepholes", False),
            options.get("layer_norm", False))


@dataclass(frozen=True)
class CellKind:
    """One kind of recurrent cell; see the module's docstring for the fields."""

    name: str
    gates: tuple
    states: tuple
    # Looked up at each call rather than bound once, so the kernels can be
    # replaced (by a test's spy, say) in one place.
    forward_kernels: ModuleType
    backward_kernels: ModuleType
    streaming_kernels: dict
    # Scratch columns a streaming step needs per hidden unit, and whether the
    # bias of the recurrent product is kept apart from the input's (the GRU's
    # reset gate multiplies the hidden part of n, bias included).
    streaming_columns: int
    split_recurrent_bias: bool
    options: dict
    layer_options: tuple
    onnx_gates: tuple
    keras_gates: tuple
    onednn_gates: tuple
    parameter_layout: object = standard_parameters
    option_refusal: object = None
    # Options -> the key of ``streaming_kernels`` (default: the values in order).
    streaming_variant: object = None
    recurrent_dropout_refusal: object = None

    # A record is a constant of the library: copying or pickling a layer that
    # holds one must give back the same record, not copies of its kernels.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return kind_of, (self.name,)

    @property
    def gate_count(self):
        """Gate blocks: rows of ``weight_ih`` and ``weight_hh`` per hidden unit."""
        return len(self.gates)

    def parameters(self, width, hidden, options):
        """``((name, shape), ...)`` of one cell's parameters in kernel order, for an
        input of ``width`` features, ``hidden`` units and the kind's ``options``."""
        return self.parameter_layout(self, width, hidden, options)

    def parameter_count(self, options):
        """How many parameters (biases included) one cell takes with ``options``."""
        return len(self.parameters(1, 1, options))

    def options_of(self, owner):
        """The values of this kind's options held by ``owner`` (a layer or a cell); the
        default for one it does not hold (``LSTMCell`` has no ``proj_size``)."""
        return {name: getattr(owner, name, default)
                for name, (default, _) in self.options.items()}

    def state_sizes(self, hidden, options):
        """The size of each state, ``h`` first: ``weight_hh``'s columns for ``h`` (what
        feeds back through it), ``hidden`` for the others."""
        recurrent = dict(self.parameters(1, hidden, options))["weight_hh"][1]
        return (recurrent,) + (hidden,) * (len(self.states) - 1)

    def forward_train(self, x, states, weights, lengths=None, reverse=False, options=None,
                      recurrent_mask=None):
        """The forward kernel keeping residuals: ``(output, finals, saved)``; with
        ``recurrent_mask`` (B, H), recurrent dropout (:mod:`numrnn.kernels.recurrent`)."""
        return self.forward_kernels.forward_train(x, states, weights, lengths, reverse, options,
                                                  recurrent_mask)

    def forward_infer(self, x, states, weights, lengths=None, reverse=False, options=None,
                      recurrent_mask=None):
        """The forward kernel keeping none: ``(output, finals)``."""
        return self.forward_kernels.forward_infer(x, states, weights, lengths, reverse, options,
                                                  recurrent_mask)

    def backward(self, grad_output, grad_finals, x, states, weights, saved, lengths=None,
                 reverse=False, options=None, needs=None, grad_cells=None, recurrent_mask=None):
        """The backward kernel: ``(grad_x, *grad_states, *grad_weights)``; ``grad_cells``
        is the gradient of :meth:`cell_states`, if any; ``recurrent_mask`` the one the
        forward ran with."""
        if grad_cells is None:
            return self.backward_kernels.backward(grad_output, grad_finals, x, states, weights,
                                                  saved, lengths, reverse, options, needs,
                                                  recurrent_mask)
        return self.backward_kernels.cell_states_backward(grad_cells, grad_output, grad_finals,
                                                          x, states, weights, saved, lengths,
                                                          reverse, options, needs,
                                                          recurrent_mask)

    def cell_states(self, saved, options):
        """A kind with a cell state: c at every position, (T, B, H), zeros past each
        row's length, from what :meth:`forward_train` saved with ``options``."""
        return self.forward_kernels.cell_states(saved, options)

    def refusal(self, options, recurrent_dropout=0.0):
        """Why this combination of ``options`` (with a layer's ``recurrent_dropout``
        rate) is refused, or None when it is not."""
        reason = None if self.option_refusal is None else self.option_refusal(options)
        if reason is None and recurrent_dropout > 0 and self.recurrent_dropout_refusal:
            reason = self.recurrent_dropout_refusal(options)
        return reason

    def _streaming_key(self, options):
        if self.streaming_variant is None:
            return tuple(options.values())
        return self.streaming_variant(options)

    def streams(self, options):
        """Whether a streaming kernel exists for these options."""
        return self._streaming_key(options) in self.streaming_kernels

    def streaming_step(self, options):
        """The streaming kernel (:mod:`numrnn.kernels.streaming`) for these options."""
        if not self.streams(options):
            chosen = ", ".join(f"{name}={value!r}" for name, value in options.items())
            raise ArgumentError(f"Streamer: a {self.name} with {chosen} cannot stream yet; "
                                "run the layer on whole sequences instead")
        return self.streaming_kernels[self._streaming_key(options)]

    def gate_permutation(self, layout):
        """Indices of numrnn's gate blocks in the order of ``layout`` ("onnx", "keras"
        or "onednn"): block ``k`` of that layout is numrnn's block ``permutation[k]``."""
        order = {"onnx": self.onnx_gates, "keras": self.keras_gates,
                 "onednn": self.onednn_gates}.get(layout)
        if order is None:
            raise ArgumentError(f"gate_permutation: layout must be 'onnx', 'keras' or "
                                f"'onednn', got {layout!r}")
        return [self.gates.index(gate) for gate in order]


# Gate names are numrnn's (PyTorch's): i input, f forget, g cell candidate, o output;
# r reset, z update, n new (candidate). Other layouts name the same gates
# differently (ONNX's "c" and Keras's "c" are numrnn's g, their "h" the GRU's n).
LSTM = CellKind(
    name="LSTM", gates=("i", "f", "g", "o"), states=("h", "c"),
    forward_kernels=lstm_kernels, backward_kernels=lstm_backward,
    streaming_kernels={(False, False, False): streaming_kernels.lstm_step,
                       (False, True, False): streaming_kernels.lstm_peephole_step,
                       (True, False, False): streaming_kernels.lstm_projection_step,
                       (False, False, True): streaming_layer_norm.lstm_layer_norm_step},
    # The layer-normalised step keeps both products (8H), LN(c) (H) and an rstd.
    streaming_columns=10, split_recurrent_bias=False,
    streaming_variant=_lstm_streaming_variant,
    # proj_size: any int in [0, hidden_size), checked by the layer. The kernels' paths
    # follow hidden_size, not P, so warmup's one P > 0 compiles what every P runs.
    options={"proj_size": (0, (0, 8)), "peepholes": (False, (False, True)),
             "layer_norm": (False, (False, True))},
    layer_options=("forget_bias", "proj_size", "peepholes", "layer_norm"),
    onnx_gates=("i", "o", "f", "g"), keras_gates=("i", "f", "g", "o"),
    onednn_gates=("i", "f", "g", "o"), parameter_layout=lstm_parameters,
    option_refusal=_lstm_option_refusal)

GRU = CellKind(
    name="GRU", gates=("r", "z", "n"), states=("h",),
    forward_kernels=gru_kernels, backward_kernels=gru_backward,
    streaming_kernels={(True, False): streaming_kernels.gru_step,
                       (False, False): streaming_kernels.gru_reset_before_step,
                       (True, True): streaming_layer_norm.gru_layer_norm_step},
    # Input and recurrent parts (6H), and the layer-normalised step's rstd.
    streaming_columns=7, split_recurrent_bias=True,
    options={"reset_after": (True, (True, False)), "layer_norm": (False, (False, True))},
    layer_options=("reset_after", "layer_norm"),
    onnx_gates=("z", "r", "n"), keras_gates=("z", "r", "n"), onednn_gates=("z", "r", "n"),
    parameter_layout=layer_norm_parameters, option_refusal=_gru_option_refusal)

RNN = CellKind(
    name="RNN", gates=("h",), states=("h",),
    forward_kernels=elman_kernels, backward_kernels=elman_backward,
    streaming_kernels={("tanh",): streaming_kernels.rnn_tanh_step,
                       ("relu",): streaming_kernels.rnn_relu_step},
    streaming_columns=1, split_recurrent_bias=False,
    options={"nonlinearity": ("tanh", ("tanh", "relu"))}, layer_options=("nonlinearity",),
    onnx_gates=("h",), keras_gates=("h",), onednn_gates=("h",))

KINDS = {kind.name: kind for kind in (LSTM, GRU, RNN)}


def kind_of(name):
    """The :class:`CellKind` called ``name`` ("LSTM", "GRU" or "RNN")."""
    kind = KINDS.get(name)
    if kind is None:
        raise ArgumentError(f"unknown cell kind {name!r}; expected one of {sorted(KINDS)}")
    return kind
