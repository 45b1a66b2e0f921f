"""``numrnn.keras``: Keras 3 recurrent weights into numrnn layers.

:func:`read_layers` reads and checks a file's recurrent layers,
:func:`load_layers` builds a numrnn layer for each, and :func:`load` copies
named ones into a layer you built. Files are data, read by
:mod:`numrnn.keras.h5_file`; layouts are mapped by :mod:`numrnn.keras.layers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError, ArgumentTypeError, FormatError
from numrnn.functional.cell_kinds import kind_of, parameter_name
from numrnn.io.load import check_into
from numrnn.keras.h5_file import opened
from numrnn.keras.layers import has_reset_variants, keras_layers
from numrnn.nn.recurrent import GRU, LSTM, RNN

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from numrnn.nn.module import Module
    from numrnn.typing import PathLike

__all__ = ["load", "load_layers", "read_layers"]

LAYERS = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}


def read_layers(path: PathLike) -> dict[str, Any]:
    """``{name: KerasLayer}``: the recurrent layers of a ``.keras`` or ``.weights.h5`` file.

    Names are the layers' paths in the weight file without the ``layers/``
    steps (``lstm``, ``gru_1``, ``bidirectional``, ``sequential/lstm`` for a
    nested model); each :class:`~numrnn.keras.layers.KerasLayer` holds its
    weights in numrnn's layout.

    Raises
    ------
    FormatError
        For a file that is not a Keras file, is malformed, holds weights whose
        shapes or dtypes are not a recurrent cell's, or whose config asks for
        what numrnn does not compute (other activations, ``go_backwards``, a
        merge other than ``concat``).
    """
    with opened(path) as (root, config, where, file_bytes):
        return keras_layers(root, config, where, file_bytes)


def load_layers(path: PathLike, *, dropout: bool = True) -> dict[str, Module]:
    """``{name: layer}``: a numrnn ``LSTM``, ``GRU`` or ``RNN`` per recurrent layer of the file.

    Each is one layer, ``batch_first=True`` as Keras takes its input
    ``(B, T, I)``, bidirectional for a ``Bidirectional``, of the file's dtype.
    Keras's output with ``return_sequences=True`` is the layer's output; without,
    it is ``h_n`` (forward and backward concatenated for a ``Bidirectional``).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.keras`` or ``.weights.h5`` file.
    dropout : bool, default True
        Build each layer with its Keras layer's ``dropout`` and
        ``recurrent_dropout`` as ``input_dropout`` and ``recurrent_dropout``
        (variational dropout with Keras's meaning, training mode only; a
        ``.weights.h5`` file records none). False builds them without, which
        changes nothing in evaluation mode.

    Raises
    ------
    FormatError
        As :func:`read_layers`; and, with ``dropout=True``, for a rate of 1
        (numrnn's rates are in [0, 1)) or a ``recurrent_dropout`` on a layer whose
        kernel applies no recurrent mask (a ``GRU`` with ``reset_after=False``).

    Examples
    --------
    >>> layers = numrnn.keras.load_layers("model.keras")
    >>> output, (h_n, c_n) = layers["lstm"](x)
    """
    where = str(path)
    built = {}
    for name, layer in read_layers(path).items():
        options = {}
        if has_reset_variants(layer.kind):
            if layer.reset_after is None:
                raise FormatError(f"{where}: Keras layer '{name[:200]}' is a GRU without a "
                                  "bias and no config says its reset_after: build nn.GRU(..., "
                                  "reset_after=...) and use numrnn.keras.load")
            options["reset_after"] = layer.reset_after
        if "nonlinearity" in kind_of(layer.kind).options:
            # A .weights.h5 file records no activation; Keras's default is tanh.
            options["nonlinearity"] = layer.nonlinearity or "tanh"
        if dropout:
            options.update(_dropout_rates(layer, options, where))
        module = LAYERS[layer.kind](layer.input_size, layer.hidden_size, bias=layer.bias,
                                    batch_first=True, bidirectional=layer.bidirectional,
                                    dtype=layer.dtype, rng=0, **options)
        module.load_state_dict(_state(layer, 0))
        built[name] = module
    return built


def load(path: PathLike, module: Module, layer: str | Sequence[str] | None = None) -> Module:
    """Copy Keras recurrent layers' weights into ``module`` (an ``nn.LSTM``, ``GRU`` or ``RNN``).

    Only the weights: ``module`` keeps its own dropout rates, whatever the Keras
    layers' ``dropout`` and ``recurrent_dropout``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.keras`` or ``.weights.h5`` file.
    module : nn.LSTM, nn.GRU or nn.RNN
        Its kind, sizes, ``bias``, ``bidirectional`` and dtype must match the Keras
        layers; a GRU's ``reset_after`` and an RNN's ``nonlinearity`` too, where the
        file tells them.
    layer : str or sequence of str, optional
        The Keras layer (a name of :func:`read_layers`) for each of ``module``'s
        ``num_layers``, bottom first. It may be left out when the file holds one
        recurrent layer and ``module`` has one.

    Returns
    -------
    module, holding the weights. On any mismatch a :class:`FormatError` lists the
    problems and the module keeps its old weights.
    """
    if not isinstance(module, (LSTM, GRU, RNN)):
        raise ArgumentTypeError(f"numrnn.keras.load: module must be an nn.LSTM, nn.GRU or "
                                f"nn.RNN, got {type(module).__name__}")
    names = [layer] if isinstance(layer, str) else layer
    if names is not None and (not isinstance(names, (list, tuple)) or len(names) !=
                              module.num_layers or not all(isinstance(n, str) for n in names)):
        raise ArgumentError(f"numrnn.keras.load: layer must name {module.num_layers} Keras "
                            f"layer(s) (the module's num_layers), got {layer!r}")
    where = str(path)
    found = read_layers(path)
    if names is None:
        if len(found) != 1 or module.num_layers != 1:
            raise FormatError(f"{where}: holds {len(found)} recurrent layer(s) "
                              f"{sorted(found)[:8]} for a {type(module).__name__} of "
                              f"{module.num_layers} layer(s): name them with layer=")
        names = list(found)
    state, problems = {}, []
    for index, name in enumerate(names):
        keras_layer = found.get(name)
        if keras_layer is None:
            raise FormatError(f"{where}: no recurrent layer '{name[:200]}'; the file holds "
                              f"{sorted(found)[:8]}")
        problems += _option_problems(keras_layer, module)
        state.update(_state(keras_layer, index))
    if problems:
        raise FormatError(f"{where} does not match {type(module).__name__}, nothing was "
                          "loaded:\n  " + "\n  ".join(problems))
    check_into(module, state, where)
    module.load_state_dict(state)
    return module


def _dropout_rates(keras_layer, options, where):
    """numrnn's ``input_dropout`` and ``recurrent_dropout`` for the Keras layer's rates,
    refused where the layer numrnn builds cannot take them."""
    rates = {"input_dropout": keras_layer.dropout,
             "recurrent_dropout": keras_layer.recurrent_dropout}
    for setting, rate in (("dropout", keras_layer.dropout),
                          ("recurrent_dropout", keras_layer.recurrent_dropout)):
        if rate >= 1.0:
            raise FormatError(f"{where}: Keras layer '{keras_layer.name[:200]}' has {setting}="
                              f"{rate}; numrnn's rates are in [0, 1): load it with "
                              "dropout=False and set the layer's rates yourself")
    refusal = kind_of(keras_layer.kind).refusal(options, keras_layer.recurrent_dropout)
    if refusal is not None:
        raise FormatError(f"{where}: Keras layer '{keras_layer.name[:200]}' has "
                          f"recurrent_dropout={keras_layer.recurrent_dropout}, which numrnn's "
                          f"{keras_layer.kind} with {options} cannot take ({refusal}): load it "
                          "with dropout=False, which changes nothing in evaluation mode")
    return rates


def _option_problems(keras_layer, module):
    name = keras_layer.name[:200]
    problems = []
    if keras_layer.kind != module.kind.name:
        problems.append(f"Keras layer '{name}' is a {keras_layer.kind}, the module a "
                        f"{module.kind.name}")
    elif has_reset_variants(keras_layer.kind) \
            and keras_layer.reset_after not in (None, module.reset_after):
        problems.append(f"Keras layer '{name}' has reset_after={keras_layer.reset_after}, the "
                        f"module {module.reset_after}")
    elif "nonlinearity" in module.kind.options \
            and keras_layer.nonlinearity not in (None, module.nonlinearity):
        problems.append(f"Keras layer '{name}' computes {keras_layer.nonlinearity}, the module "
                        f"{module.nonlinearity}")
    if keras_layer.bidirectional != module.bidirectional:
        problems.append(f"Keras layer '{name}' is {'' if keras_layer.bidirectional else 'not '}"
                        f"bidirectional, the module {'is' if module.bidirectional else 'is not'}")
    return problems


def _state(keras_layer, index):
    """The layer's weights under numrnn's names for stacked layer ``index``."""
    return {parameter_name(name, index, direction == 1): array
            for direction, weights in enumerate(keras_layer.weights)
            for name, array in weights.items()}
