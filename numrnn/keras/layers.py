"""The recurrent layers of a Keras 3 weight tree, checked and turned into numrnn's layout.

Keras 3 stores a recurrent layer's weights as the variables of its cell, in the
group ``<layer>/cell/vars``: ``0`` the kernel ``(I, G*H)``, ``1`` the
recurrent kernel ``(H, G*H)``, ``2`` the bias (absent without ``use_bias``). A
``Bidirectional`` layer holds two such layers, ``forward_layer`` and
``backward_layer``. Layer groups sit under ``layers/`` of their model, named
after their class (``lstm``, ``gru_1``, ``simple_rnn``, ``bidirectional``).

numrnn's ``weight_ih`` is the kernel transposed, gate blocks moved from Keras's
order to numrnn's through the cell table (``gate_permutation("keras")``). The
bias: an LSTM's and a SimpleRNN's one bias is numrnn's ``bias_ih`` (``bias_hh``
zeros); a GRU with ``reset_after=True`` keeps ``(2, 3H)``, input then recurrent
bias, which are numrnn's two; with ``reset_after=False`` Keras adds its one bias
to the input side, numrnn's ``bias_ih``, and ``bias_hh`` is zeros (its recurrent
part, inside ``r * (...)`` in the reset-after cell, is not in this one).

The cell kind is read from the shapes (``G`` is 4, 3 or 1), the GRU variant
from the bias's; every shape is compared with the others' before a byte is
read. Where the file carries a config, what it says is compared with the
weights, and the settings numrnn cannot compute are refused.
"""

from dataclasses import dataclass

import numpy as np

from numrnn.errors import FormatError
from numrnn.functional.cell_kinds import KINDS, kind_of
from numrnn.keras.config import recurrent_options
from numrnn.keras.h5_file import checked_dataset, child, dataset_array, groups_below, require_h5py

# Keras's cells are told apart by their gate count alone, as the table's kinds are.
KINDS_BY_GATES = {kind.gate_count: kind.name for kind in KINDS.values()}
VARIABLES = ("kernel", "recurrent_kernel", "bias")


@dataclass(frozen=True)
class KerasLayer:
    """One Keras recurrent layer's weights, in numrnn's layout.

    ``weights`` holds one dict per direction (forward, then Keras's backward
    layer), with numrnn's parameter names ``weight_ih``, ``weight_hh`` and,
    with a bias, ``bias_ih`` and ``bias_hh``. ``reset_after`` (GRU) and
    ``nonlinearity`` (RNN) are None where neither weights nor config tell.
    ``dropout`` and ``recurrent_dropout`` are the config's training-only rates
    in [0, 1] (0.0 for a file without a config).
    """

    name: str
    kind: str
    input_size: int
    hidden_size: int
    bidirectional: bool
    bias: bool
    reset_after: object
    nonlinearity: object
    dtype: np.dtype
    weights: tuple
    dropout: float = 0.0
    recurrent_dropout: float = 0.0


def keras_layers(root, config, where, file_bytes):
    """``{name: KerasLayer}`` of every recurrent layer in the HDF5 tree ``root``."""
    h5py = require_h5py()
    options_by_name = recurrent_options(config) if config is not None else {}
    found, inside = {}, set()
    # Datasets may share storage in a crafted file: together they may not declare
    # more bytes than the file holds, whatever each one declares.
    budget = {"bytes": file_bytes}
    for path, group in groups_below(root, where):
        if any(path.startswith(prefix) for prefix in inside):
            continue
        directions = [group] if _is_cell_owner(group, where, h5py) else []
        if not directions:
            forward = child(group, "forward_layer", where)
            backward = child(group, "backward_layer", where)
            if not (_is_cell_owner(forward, where, h5py) and _is_cell_owner(backward, where, h5py)):
                continue
            directions = [forward, backward]
        inside.add(path + "/")
        name = "/".join(part for part in path.split("/") if part != "layers") or "(root)"
        if config is not None and name not in options_by_name:
            raise FormatError(f"{where}: the weights hold a recurrent layer '{name[:200]}' that "
                              f"the config does not list (it lists {sorted(options_by_name)[:8]})")
        found[name] = _layer(name, directions, options_by_name.get(name), where, file_bytes,
                             budget)
    if not found:
        raise FormatError(f"{where}: holds no recurrent layer in Keras 3's layout (a group "
                          "'<layer>/cell/vars' of 2 or 3 datasets); Keras 2's .h5 files "
                          "('model_weights/...') are not read")
    unmatched = sorted(set(options_by_name) - set(found))
    if unmatched:
        raise FormatError(f"{where}: the config lists the recurrent layers {unmatched[:8]}, whose "
                          f"weights the file does not hold (it holds {sorted(found)[:8]})")
    return found


def _is_cell_owner(group, where, h5py):
    if not isinstance(group, h5py.Group):
        return False
    cell = child(group, "cell", where)
    return isinstance(cell, h5py.Group) and isinstance(child(cell, "vars", where), h5py.Group)


def _layer(name, directions, options, where, file_bytes, budget):
    def refuse(message):
        raise FormatError(f"{where}: Keras layer '{name[:200]}': {message}")

    cells = [_cell_variables(group, where, file_bytes, refuse) for group in directions]
    shapes = [tuple(dataset.shape for dataset in variables) for variables in cells]
    if any(shape != shapes[0] for shape in shapes) \
            or len({dataset.dtype for variables in cells for dataset in variables}) != 1:
        refuse(f"its directions' weights differ in shape or dtype: {shapes}")
    kind, hidden, inputs, reset_after = _kind_from_shapes(shapes[0], refuse)
    has_bias = len(shapes[0]) == 3
    nonlinearity = None
    rates = {}
    if options is not None:
        if options["problems"]:
            refuse("numrnn has no layer computing its " + "; ".join(options["problems"]))
        said = {"kind": options["kind"], "units": options.get("units"),
                "use_bias": options.get("use_bias")}
        held = {"kind": kind, "units": hidden, "use_bias": has_bias}
        if has_reset_variants(kind):
            said["reset_after"] = options.get("reset_after")
            held["reset_after"] = options.get("reset_after") if reset_after is None else reset_after
            reset_after = said["reset_after"]
        if said != held:
            refuse(f"its config says {said}, its weights are {held}")
        nonlinearity = options.get("nonlinearity", nonlinearity)
        rates = {setting: options[setting] for setting in ("dropout", "recurrent_dropout")}
    budget["bytes"] -= sum(dataset.dtype.itemsize * int(np.prod(dataset.shape, dtype=object))
                           for variables in cells for dataset in variables)
    if budget["bytes"] < 0:
        refuse(f"the datasets read so far declare more bytes in all than the file's "
               f"{file_bytes}")
    arrays = [[dataset_array(dataset, where) for dataset in variables] for variables in cells]
    weights = tuple(numrnn_weights(kind, reset_after, *variables) for variables in arrays)
    return KerasLayer(name, kind, inputs, hidden, len(directions) == 2, has_bias, reset_after,
                      nonlinearity, np.dtype(cells[0][0].dtype).newbyteorder("="), weights,
                      **rates)


def _cell_variables(group, where, file_bytes, refuse):
    """The cell's datasets (kernel, recurrent kernel, bias if any), checked, not yet read."""
    variables = group["cell"]["vars"]
    names = sorted(variables.keys())
    if names not in (["0", "1"], ["0", "1", "2"]):
        refuse(f"a recurrent cell holds the variables 0, 1 and (with a bias) 2; "
               f"'{variables.name[:200]}' holds {names[:8]}")
    return [checked_dataset(variables, name, where, file_bytes) for name in names]


def _kind_from_shapes(shapes, refuse):
    """``(kind, hidden_size, input_size, reset_after or None)`` from the variables' shapes."""
    kernel, recurrent = shapes[0], shapes[1]
    if len(kernel) != 2 or len(recurrent) != 2 or 0 in kernel or 0 in recurrent \
            or kernel[1] != recurrent[1] or recurrent[1] % recurrent[0]:
        refuse(f"kernel {kernel} and recurrent kernel {recurrent} are not (I, G*H) and "
               "(H, G*H) of one recurrent cell")
    hidden = recurrent[0]
    kind = KINDS_BY_GATES.get(recurrent[1] // hidden)
    if kind is None:
        refuse(f"a recurrent kernel {recurrent} has {recurrent[1] // hidden} gate blocks; "
               "LSTM has 4, GRU 3, SimpleRNN 1")
    columns = recurrent[1]
    reset_after = None
    if len(shapes) == 3:
        # A reset-after GRU keeps its input and recurrent biases as two rows.
        allowed = [(columns,)] + ([(2, columns)] if has_reset_variants(kind) else [])
        if shapes[2] not in allowed:
            refuse(f"a {kind} bias of {hidden} units has shape "
                   f"{' or '.join(map(str, allowed))}, got {shapes[2]}")
        if has_reset_variants(kind):
            reset_after = len(shapes[2]) == 2
    return kind, hidden, kernel[0], reset_after


def has_reset_variants(kind_name):
    """Whether the kind has the two reset variants (the GRU's ``reset_after``), which
    Keras stores with different biases."""
    return "reset_after" in kind_of(kind_name).options


def numrnn_weights(kind_name, reset_after, kernel, recurrent, bias=None):
    """numrnn's ``weight_ih``, ``weight_hh`` (and biases) of one Keras cell's variables."""
    kind = kind_of(kind_name)
    # Block k of numrnn's order is Keras's block inverse[k].
    inverse = np.argsort(kind.gate_permutation("keras"))

    def numrnn_order(rows):
        blocks = rows.reshape((kind.gate_count, -1) + rows.shape[1:])
        return np.ascontiguousarray(blocks[inverse].reshape(rows.shape))

    weights = {"weight_ih": numrnn_order(kernel.T), "weight_hh": numrnn_order(recurrent.T)}
    if bias is not None:
        if bias.ndim == 2:
            weights["bias_ih"], weights["bias_hh"] = numrnn_order(bias[0]), numrnn_order(bias[1])
        else:
            weights["bias_ih"], weights["bias_hh"] = numrnn_order(bias), np.zeros_like(bias)
    return weights
