"""``numrnn convert IN OUT``: a model from a safetensors, ONNX or Keras file into another format.

The formats follow the extensions: ``.safetensors`` (numrnn's files, or a
PyTorch ``state_dict`` of one recurrent layer), ``.onnx``, and Keras's
``.keras`` / ``.weights.h5`` (read only). The output's format and writability
are checked before the input is read; the output is written to a temporary
file beside it and renamed into place, so a failed conversion leaves nothing.
"""

import contextlib
import os
import re
import uuid

from numrnn.errors import ArgumentError, FormatError
from numrnn.io.load import check_into, load_model, read_tensors
from numrnn.io.save import CONFIG_KEY, save
from numrnn.nn.recurrent import GRU, LSTM, RNN

LAYERS = {4: LSTM, 3: GRU, 1: RNN}
READ = {".safetensors": "safetensors", ".onnx": "onnx", ".keras": "keras", ".h5": "keras"}
WRITE = {".safetensors": "safetensors", ".onnx": "onnx"}
# PyTorch's names of a recurrent layer's parameters.
PARAMETER_NAME = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?")


def file_format(path, formats, what):
    """The format of ``path`` by its extension, among ``formats``."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    found = formats.get(extension)
    if found is None:
        raise ArgumentError(f"cannot tell the format of the {what} {os.fspath(path)!r} from its "
                            f"extension: expected one of {', '.join(sorted(formats))}"
                            + (" (Keras files are read, not written)" if extension in READ
                               else ""))
    return found


def convert_file(source, target, layer=None, prefix=None, nonlinearity="tanh"):
    """Convert the model in ``source`` into ``target``; return a one-line summary.

    ``layer`` picks a Keras file's recurrent layer (needed when it holds several);
    ``prefix`` the tensors of a PyTorch sub-module; ``nonlinearity`` is the Elman RNN's
    in a PyTorch file, which does not record it.
    """
    from numrnn.commands.output import check_writable

    writing = file_format(target, WRITE, "output")
    reading = file_format(source, READ, "input")
    check_writable(target, "output")
    # An ONNX graph is inference only: a Keras layer's training-only dropout rates
    # are kept in a numrnn model file, and need not be takeable for an ONNX one.
    module = _read(reading, source, layer, prefix, nonlinearity,
                   keep_dropout=writing == "safetensors")
    with _written_whole(target) as temporary:
        if writing == "safetensors":
            save(module, temporary)
        else:
            import numrnn.onnx

            numrnn.onnx.export(module, temporary)
    return f"wrote {type(module).__name__} from {os.fspath(source)} to {os.fspath(target)}"


def _read(reading, source, layer, prefix, nonlinearity, keep_dropout):
    if reading == "onnx":
        import numrnn.onnx

        return numrnn.onnx.load(source)
    if reading == "keras":
        import numrnn.keras

        layers = numrnn.keras.load_layers(source, dropout=keep_dropout)
        if layer is None and len(layers) == 1:
            return next(iter(layers.values()))
        if layer not in layers:
            raise ArgumentError(f"{os.fspath(source)} holds the recurrent layers "
                                f"{sorted(layers)[:8]}: pick one with --layer NAME"
                                + ("" if layer is None else f" (got {layer!r})"))
        return layers[layer]
    tensors, others, metadata = read_tensors(source)
    if CONFIG_KEY in metadata and prefix is None:
        return load_model(source)
    return _torch_layer(tensors, others, prefix, nonlinearity, os.fspath(source))


def _torch_layer(tensors, others, prefix, nonlinearity, where):
    """The ``nn.LSTM`` / ``GRU`` / ``RNN`` whose ``state_dict`` the tensors are."""
    if prefix is not None:
        prefix = prefix if prefix.endswith(".") else prefix + "."
        tensors = {name[len(prefix):]: array for name, array in tensors.items()
                   if name.startswith(prefix)}
        others = {name for name in others if name.startswith(prefix)}
    names = sorted(tensors)
    unknown = [name for name in names if not PARAMETER_NAME.fullmatch(name)] + sorted(others)
    if not names or unknown or "weight_hh_l0" not in tensors or "weight_ih_l0" not in tensors:
        raise FormatError(f"{where}: without a numrnn config, convert reads the state_dict of "
                          "one PyTorch RNN, LSTM or GRU (weight_ih_l0, weight_hh_l0, ...; "
                          "--prefix picks a sub-module's); the file holds "
                          + (f"tensors not named so: {unknown[:4]}" if unknown
                             else f"{names[:6]}"))
    recurrent = tensors["weight_hh_l0"]
    # An LSTM with proj_size P (PyTorch's weight_hr_l0, (P, H)) feeds back P features.
    projection = tensors.get("weight_hr_l0")
    if projection is not None and projection.ndim == 2:
        hidden = projection.shape[1]
    else:
        hidden = recurrent.shape[1] if recurrent.ndim == 2 else 0
    layer_class = LAYERS.get(recurrent.shape[0] // hidden if hidden else 0)
    if layer_class is None or recurrent.shape[0] % hidden \
            or (projection is not None and layer_class is not LSTM):
        raise FormatError(f"{where}: weight_hh_l0 of shape {recurrent.shape} is not (G*H, H) "
                          "with G 4 (LSTM), 3 (GRU) or 1 (RNN), or (4H, P) beside an LSTM's "
                          "weight_hr_l0 (P, H)")
    layers = 1 + max(int(PARAMETER_NAME.fullmatch(name).group(2)) for name in names)
    options = {"nonlinearity": nonlinearity} if layer_class is RNN else {}
    if projection is not None:
        options["proj_size"] = projection.shape[0]
    module = layer_class(tensors["weight_ih_l0"].shape[-1], hidden, num_layers=layers,
                         bias="bias_ih_l0" in tensors,
                         bidirectional=any(name.endswith("_reverse") for name in names),
                         dtype=recurrent.dtype, rng=0, **options)
    check_into(module, tensors, where)
    module.load_state_dict(tensors)
    return module


@contextlib.contextmanager
def _written_whole(target):
    """A temporary path beside ``target`` (same extension) that replaces it on success."""
    target = os.fspath(target)
    directory, name = os.path.split(os.path.abspath(target))
    stem, extension = os.path.splitext(name)
    temporary = os.path.join(directory, f".{stem}.{uuid.uuid4().hex}.tmp{extension}")
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
