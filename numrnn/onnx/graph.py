"""What numrnn's ONNX exporter and loader share: the onnx import, the opset, and the
table of ONNX recurrent ops, one row per cell kind and options.

A row says which ONNX op computes a numrnn cell kind with given options, and with
which attributes beyond the defaults; the gate order comes from the cell table
(:meth:`~numrnn.functional.cell_kinds.CellKind.gate_permutation` with "onnx").
The exporter looks a layer up by its kind and options, the loader an ONNX node by
its op and attributes, so a new variant that ONNX can express (the reset-before
GRU is ``linear_before_reset=0``, the peephole LSTM a node with input ``P``) is
one more row.
"""

import importlib
from dataclasses import dataclass

from numrnn.errors import ArgumentError
from numrnn.functional.cell_kinds import PEEPHOLE_GATES

# Opset 14 is the first whose RNN, LSTM and GRU take the ``layout`` attribute.
OPSET = 17
# ONNX TensorProto element types of numrnn's parameter dtypes.
FLOAT_TYPES = {"float32": 1, "float64": 11}


def require_onnx():
    """The ``onnx`` module, or an :class:`ArgumentError` naming the extra that installs it."""
    try:
        return importlib.import_module("onnx")
    except ImportError as error:
        raise ArgumentError("numrnn.onnx needs the 'onnx' package: pip install "
                            "'numrnn[onnx]' (or pip install onnx)") from error


@dataclass(frozen=True)
class OnnxCell:
    """One row: numrnn's ``kind`` with ``options`` is ONNX's ``op`` with ``attributes``.

    ``activations`` holds the per-direction activation list the row needs when it is
    not the op's default (ONNX repeats it once per direction); ``peepholes`` whether
    the node takes the LSTM's input ``P``.
    """

    kind: str
    options: tuple
    op: str
    attributes: tuple = ()
    activations: tuple = ()
    peepholes: bool = False


# ONNX's default activations per op, for one direction.
DEFAULT_ACTIVATIONS = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"),
                       "LSTM": ("Sigmoid", "Tanh", "Tanh")}

# Inputs each op takes: X, W, R, B, sequence_lens, initial_h, then the LSTM's
# initial_c and P (peepholes).
MAX_INPUTS = {"RNN": 6, "GRU": 6, "LSTM": 8}

ONNX_CELLS = (
    OnnxCell("RNN", (("nonlinearity", "tanh"),), "RNN"),
    OnnxCell("RNN", (("nonlinearity", "relu"),), "RNN", activations=("Relu",)),
    OnnxCell("LSTM", (("proj_size", 0), ("peepholes", False), ("layer_norm", False)), "LSTM"),
    OnnxCell("LSTM", (("proj_size", 0), ("peepholes", True), ("layer_norm", False)), "LSTM",
             peepholes=True),
    # numrnn's default GRU applies the reset gate after the recurrent product, as
    # PyTorch does (ONNX's linear_before_reset=1); reset_after=False is ONNX's default.
    OnnxCell("GRU", (("layer_norm", False), ("reset_after", True)), "GRU",
             attributes=(("linear_before_reset", 1),)),
    OnnxCell("GRU", (("layer_norm", False), ("reset_after", False)), "GRU"),
)


def onnx_cell_of(kind, options):
    """The row for a layer of ``kind`` (a CellKind) with ``options`` (a dict), or None."""
    wanted = tuple(sorted(options.items()))
    for row in ONNX_CELLS:
        if row.kind == kind.name and tuple(sorted(row.options)) == wanted:
            return row
    return None


def cell_of_node(op, attributes, activations, peepholes=False):
    """The row for an ONNX recurrent node, or None.

    ``attributes`` holds the node's non-default attributes among those rows use,
    ``activations`` its activations for one direction (the op's default if absent),
    ``peepholes`` whether it has the input ``P``.
    """
    for row in ONNX_CELLS:
        if row.op != op or row.peepholes != peepholes:
            continue
        row_activations = row.activations or DEFAULT_ACTIVATIONS[op]
        if dict(row.attributes) == attributes and tuple(row_activations) == tuple(activations):
            return row
    return None


def peephole_permutation(kind):
    """Indices of numrnn's peephole blocks (:data:`PEEPHOLE_GATES`: i, f, o) in the order
    of ONNX's ``P``, which follows its gate order (i, o, f): block ``k`` of ``P`` is
    numrnn's block ``permutation[k]``."""
    return [PEEPHOLE_GATES.index(gate) for gate in kind.onnx_gates if gate in PEEPHOLE_GATES]
