"""``numrnn inspect FILE``: what a weight file holds, without running any of it.

ONNX (``.onnx``) and Keras (``.keras``, ``.h5``) files are described by
:mod:`numrnn.commands.inspect_models`; everything else is read as safetensors.

The file is read by :func:`numrnn.io.read_tensors`, which checks the whole
header (and that every float tensor is finite) and decodes no other dtype;
the config is parsed as bounded JSON and shown, never built into a module.
Strings from the file are printed escaped, so a hostile name cannot move the
cursor or recolour a terminal.
"""

import json
import math
import os

from numrnn.commands.inspect_models import describe_keras, describe_onnx
from numrnn.io.load import FILE_ITEMSIZES, read_tensors
from numrnn.io.save import CONFIG_KEY, FORMAT_KEY, STATE_KEY, TRAINING_KEY, VERSION_KEY
from numrnn.io.untrusted_json import brief, parse_untrusted

# safetensors dtype codes by the names numpy and PyTorch give them.
DTYPE_NAMES = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
               "I32": "int32", "U32": "uint32", "I64": "int64", "U64": "uint64",
               "F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
               "F8_E5M2": "float8_e5m2", "F8_E4M3": "float8_e4m3"}
NUMRNN_KEYS = (FORMAT_KEY, VERSION_KEY, CONFIG_KEY, STATE_KEY, TRAINING_KEY)
KINDS = {
    "model": "a model: numrnn.load_model rebuilds it from its config",
    "checkpoint": "a fit() checkpoint: a model's weights and its training state",
    "state": "a saved state (e.g. an optimizer's state_dict), read by numrnn.load",
    "weights": "weights only: load them into a module you build, numrnn.load(path, module)",
    "onnx": "an ONNX model: numrnn.onnx.load builds it",
    "keras": "Keras 3 weights: numrnn.keras.load_layers builds their recurrent layers "
             "(tensors in numrnn's layout)",
}


def describe(path):
    """A JSON-ready dict of what the file at ``path`` holds: kind, config, metadata, tensors.

    ``.onnx`` files are read as ONNX, ``.keras`` and ``.h5`` as Keras 3, the rest as
    safetensors.
    """
    where = os.fspath(path)
    extension = os.path.splitext(where)[1].lower()
    if extension == ".onnx":
        return describe_onnx(where)
    if extension in (".keras", ".h5"):
        return describe_keras(where)
    tensors, others, metadata = read_tensors(where)
    rows = [{"name": name, "dtype": array.dtype.name, "shape": list(array.shape),
             "bytes": int(array.nbytes)} for name, array in tensors.items()]
    rows += [{"name": name, "dtype": DTYPE_NAMES[code], "shape": list(shape),
              "bytes": math.prod(shape) * FILE_ITEMSIZES[code]}
             for name, (code, shape) in others.items()]
    rows.sort(key=lambda row: row["name"])
    if STATE_KEY in metadata:
        kind = "state"
    elif TRAINING_KEY in metadata:
        kind = "checkpoint"
    elif CONFIG_KEY in metadata:
        kind = "model"
    else:
        kind = "weights"
    model = None
    if CONFIG_KEY in metadata:
        model = parse_untrusted(metadata[CONFIG_KEY], where, f"metadata '{CONFIG_KEY}'")
    return {
        "file": where,
        "file_bytes": os.path.getsize(where),
        "kind": kind,
        "numrnn_format": metadata.get(FORMAT_KEY),
        "numrnn_version": metadata.get(VERSION_KEY),
        "model": model,
        "metadata": {key: value for key, value in metadata.items() if key not in NUMRNN_KEYS},
        "tensors": rows,
        "elements": sum(math.prod(row["shape"]) for row in rows),
        "tensor_bytes": sum(row["bytes"] for row in rows),
    }


def as_json(description):
    """One JSON document; non-ASCII and control characters escaped."""
    return json.dumps(description, indent=2)


def as_text(description):
    """The description as lines for a person to read."""
    lines = [f"file: {_shown(description['file'])} ({description['file_bytes']:,} bytes)",
             f"holds: {KINDS[description['kind']]}"]
    if description["numrnn_version"] is not None:
        lines.append(f"written by: numrnn {_shown(description['numrnn_version'])} "
                     f"(file format {_shown(description['numrnn_format'])})")
    model = description["model"]
    if model is not None:
        if isinstance(model, dict) and isinstance(model.get("config"), dict):
            lines.append(f"model: {_shown(model.get('class_name'))}")
            lines += [f"  {_shown(key)}: {_value(value)}" for key, value in model["config"].items()]
        else:
            lines.append(f"model config: {_value(model)}")
    if description["metadata"]:
        lines.append("metadata:")
        lines += [f"  {_shown(key)}: {_shown(value)}"
                  for key, value in description["metadata"].items()]
    rows = description["tensors"]
    lines.append(f"tensors: {len(rows)}, {description['elements']:,} elements, "
                 f"{description['tensor_bytes']:,} bytes")
    names = [_shown(row["name"]) for row in rows]
    width = max((len(name) for name in names), default=0)
    for name, row in zip(names, rows):
        shape = "(" + ", ".join(str(size) for size in row["shape"]) + \
            ("," if len(row["shape"]) == 1 else "") + ")"
        lines.append(f"  {name:<{width}}  {row['dtype']:<8}  {shape:<16} {row['bytes']:>12,} B")
    return "\n".join(lines)


def _value(value):
    """A config value on one line: short values whole, long ones (a vocabulary) cut."""
    if isinstance(value, dict) and isinstance(value.get("tokens"), list) \
            and isinstance(value.get("specials"), list):
        size = len(value["specials"]) + len(value["tokens"])
        return f"{_shown(value.get('kind'))} vocabulary of {size} symbols"
    return brief(value) if not isinstance(value, str) else _shown(value)


def _shown(text):
    text = str(text)
    return text if text.isprintable() and len(text) <= 80 else brief(text)
