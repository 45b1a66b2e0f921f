"""ONNX ``RNN``/``LSTM``/``GRU`` nodes as numrnn layers: checked, built, and run.

:func:`recurrent_layer` checks a node against the ONNX row table
(:mod:`numrnn.onnx.graph`) and its weights against its declared ``hidden_size``,
then builds a one-layer numrnn layer holding them, gate blocks reordered from
ONNX's to numrnn's. :func:`run_recurrent` runs that layer on the node's inputs
and returns the node's outputs in ONNX's shapes (``Y`` is
``(T, D, B, H)``, or ``(B, T, D, H)`` with ``layout=1``).
"""

import numpy as np

from numrnn import functional as F
from numrnn.errors import FormatError
from numrnn.functional.cell_kinds import kind_of, parameter_name
from numrnn.nn.recurrent import GRU, LSTM, RNN
from numrnn.onnx.graph import DEFAULT_ACTIVATIONS, MAX_INPUTS, cell_of_node, peephole_permutation
from numrnn.onnx.read import describe

LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
DIRECTIONS = ("forward", "reverse", "bidirectional")
ATTRIBUTES = {"hidden_size": "int", "direction": "string", "layout": "int",
              "activations": "strings", "clip": "float", "input_forget": "int",
              "linear_before_reset": "int", "activation_alpha": "floats",
              "activation_beta": "floats"}
# The position of the LSTM's peephole input P among a node's inputs.
PEEPHOLE_INPUT = 7


def recurrent_layer(node, attributes, constants, where):
    """A numrnn layer computing ``node``, and the node's settings for :func:`run_recurrent`."""
    def refuse(message):
        raise FormatError(f"{where}: node {describe(node)}: {message}")

    for name in ("clip", "activation_alpha", "activation_beta"):
        if name in attributes:
            refuse(f"attribute '{name}' is not supported (numrnn's cells have no {name})")
    if attributes.get("input_forget", 0) != 0:
        refuse("attribute 'input_forget'=1 (coupled input and forget gates) is not supported")
    direction = attributes.get("direction", "forward")
    if direction not in DIRECTIONS:
        refuse(f"attribute 'direction' must be one of {DIRECTIONS}, got {direction[:40]!r}")
    layout = attributes.get("layout", 0)
    if layout not in (0, 1):
        refuse(f"attribute 'layout' must be 0 or 1, got {layout}")
    directions = 2 if direction == "bidirectional" else 1
    defaults = DEFAULT_ACTIVATIONS[node.op_type]
    activations = attributes.get("activations", list(defaults) * directions)
    per_direction = len(activations) // directions
    if len(activations) % directions or activations[:per_direction] * directions != activations:
        refuse(f"attribute 'activations' {activations[:8]} differs between directions; "
               "numrnn runs both directions with one cell")
    extra = {"linear_before_reset": attributes["linear_before_reset"]} \
        if attributes.get("linear_before_reset", 0) != 0 else {}
    inputs = list(node.input)
    most = MAX_INPUTS[node.op_type]
    if len(inputs) > most:
        refuse(f"{node.op_type} takes at most {most} inputs, got {len(inputs)}")
    peepholes = len(inputs) > PEEPHOLE_INPUT and bool(inputs[PEEPHOLE_INPUT])
    row = cell_of_node(node.op_type, extra, activations[:per_direction], peepholes)
    if row is None:
        refuse(f"attributes 'activations'={activations[:per_direction]} with "
               f"'linear_before_reset'={attributes.get('linear_before_reset', 0)} have no numrnn "
               "cell (numrnn runs the default activations, and ReLU for an RNN)")
    labels = (("W", 1), ("R", 2), ("B", 3)) + ((("P", PEEPHOLE_INPUT),) if peepholes else ())
    weights = []
    for label, position in labels:
        name = inputs[position] if len(inputs) > position else ""
        if not name:
            if label != "B":
                refuse(f"input '{label}' is missing")
            weights.append(None)
            continue
        if name not in constants:
            refuse(f"input '{label}' must be an initializer (numrnn loads weights, not "
                   "weights computed at run time)")
        weights.append(constants[name])
    kind = kind_of(row.kind)
    weight_ih, weight_hh, bias = weights[:3]
    if weight_ih.ndim != 3:
        refuse(f"input 'W' must be 3-D (num_directions, gates*hidden_size, input_size), "
               f"got shape {weight_ih.shape}")
    hidden = attributes.get("hidden_size", weight_ih.shape[1] // kind.gate_count)
    if hidden < 1 or weight_ih.shape[2] < 1:
        refuse(f"hidden_size and the input size must be positive, got {hidden} and "
               f"{weight_ih.shape[2]}")
    # Against the weights the file holds, before any layer is built from the sizes.
    expected = {"W": (directions, kind.gate_count * hidden, weight_ih.shape[2]),
                "R": (directions, kind.gate_count * hidden, hidden),
                "B": (directions, 2 * kind.gate_count * hidden),
                "P": (directions, 3 * hidden)}
    for (label, _), array in zip(labels, weights):
        if array is not None and array.shape != expected[label]:
            refuse(f"input '{label}' must have shape {expected[label]} (direction "
                   f"'{direction}', hidden_size {hidden}), got {array.shape}")
    if weight_ih.dtype.kind != "f" or len({array.dtype for array in weights
                                           if array is not None}) != 1:
        refuse("W, R, B and P must be float tensors of one dtype")
    layer = LAYERS[row.kind](weight_ih.shape[2], hidden, bias=bias is not None,
                             batch_first=layout == 1, bidirectional=directions == 2,
                             dtype=weight_ih.dtype, rng=0, **dict(row.options))
    _set_weights(layer, weight_ih, weight_hh, bias)
    if peepholes:
        _set_peepholes(layer, weights[3])
    return layer, {"layout": layout, "reverse": direction == "reverse"}


def _set_weights(layer, weight_ih, weight_hh, bias):
    """Copy ONNX's stacked weights into ``layer``, gate blocks in numrnn's order."""
    kind, hidden = layer.kind, layer.hidden_size
    # Block k of numrnn's order is ONNX's block inverse[k].
    inverse = np.argsort(kind.gate_permutation("onnx"))
    gate_rows = kind.gate_count * hidden

    def numrnn_order(array):
        blocks = array.reshape((kind.gate_count, hidden) + array.shape[1:])
        return blocks[inverse].reshape(array.shape)

    for direction in range(layer.num_directions):
        reverse = direction == 1
        parts = {"weight_ih": weight_ih[direction], "weight_hh": weight_hh[direction]}
        if bias is not None:
            parts.update(bias_ih=bias[direction, :gate_rows], bias_hh=bias[direction, gate_rows:])
        for name, array in parts.items():
            getattr(layer, parameter_name(name, 0, reverse)).data[...] = numrnn_order(array)


def _set_peepholes(layer, peephole):
    """Copy ONNX's P (D, 3H) into ``layer``'s ``weight_peephole``, blocks in numrnn's order."""
    inverse = np.argsort(peephole_permutation(layer.kind))
    for direction in range(layer.num_directions):
        blocks = peephole[direction].reshape(len(inverse), layer.hidden_size)
        name = parameter_name("weight_peephole", 0, direction == 1)
        getattr(layer, name).data[...] = blocks[inverse].reshape(-1)


def run_recurrent(layer, inputs, settings):
    """The node's outputs ``[Y, Y_h(, Y_c)]`` from its inputs (None where absent)."""
    x = inputs[0]
    sequence_lens = inputs[4] if len(inputs) > 4 else None
    batch_first = settings["layout"] == 1
    lengths = None if sequence_lens is None else np.asarray(sequence_lens).astype(np.int64)
    batch = x.shape[0] if batch_first else x.shape[1]
    states = []
    for position in range(5, 5 + len(layer.kind.states)):
        state = inputs[position] if len(inputs) > position else None
        if state is not None and batch_first:
            state = F.transpose(state, (1, 0, 2))
        states.append(state)
    if all(state is None for state in states):
        hx = None
    else:
        shape = (layer.num_directions, batch, layer.hidden_size)
        states = [np.zeros(shape, layer.dtype) if state is None else state for state in states]
        hx = tuple(states) if len(states) == 2 else states[0]
    if settings["reverse"]:
        x = _reversed_steps(x, lengths, batch_first)
    output, finals = layer(x, hx, lengths=lengths)
    if settings["reverse"]:
        output = _reversed_steps(output, lengths, batch_first)
    finals = finals if isinstance(finals, tuple) else (finals,)
    leading = output.shape[:2]
    y = F.reshape(output, leading + (layer.num_directions, layer.hidden_size))
    if batch_first:
        finals = tuple(F.transpose(final, (1, 0, 2)) for final in finals)
    else:
        y = F.transpose(y, (0, 2, 1, 3))
    return [y, *finals]


def _reversed_steps(x, lengths, batch_first):
    """Each row's valid steps in reverse order; steps past its length stay where they are."""
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    valid = np.full(batch, steps) if lengths is None else lengths
    time = np.arange(steps)[:, None]
    order = np.where(time < valid[None, :], valid[None, :] - 1 - time, time)
    rows = np.arange(batch)
    if batch_first:
        return F.getitem(x, (rows[:, None], order.T))
    return F.getitem(x, (order, rows[None, :]))
