"""Nested training state (optimizer, scheduler, generator) as JSON plus safetensors arrays.

An optimizer's ``state_dict()`` is a tree: dicts keyed by strings and ints,
lists, tuples, numbers, strings and float arrays. No pickle: the arrays go
into the safetensors file as tensors named ``<prefix><n>``, and the rest
becomes JSON in the file's string metadata, where every JSON object is a node
with exactly one tag:

- ``{"dict": [[key, value], ...]}``: a dict, keys str or int, order kept;
- ``{"tuple": [...]}``: a tuple (a JSON list is a Python list);
- ``{"float": "inf" | "-inf" | "nan"}``: a float JSON cannot write;
- ``{"numpy": [dtype, value]}``: a numpy scalar (``np.float32(0.1)`` stays one:
  under NumPy 2 promotion a numpy scalar and a Python float give different
  results in float32 arithmetic, and a resumed run must be bit-identical);
- ``{"array": name}``: the tensor ``name`` of the file.

JSON scalars (int, float, str, bool, null) stand for themselves; Python's
float ``repr`` round-trips every finite float exactly. Reading checks every
node's type before using it, so a hostile file is a :class:`FormatError`.
"""

import json
import math
import numbers

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import FormatError
from numrnn.io.untrusted_json import MAX_JSON_DEPTH, brief, nesting_depth, parse_untrusted

ARRAY_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
SCALAR_DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32,
                 "int64": np.int64, "uint32": np.uint32, "uint64": np.uint64,
                 "bool": np.bool_}
NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def encode_tree(tree, prefix):
    """``(json_text, arrays)`` for ``tree``; arrays are named ``prefix + "0"``, ``"1"``, ...

    Raises :class:`FormatError` naming the path of a value that cannot be
    stored (an object, an integer or non-finite array, a dict key that is not
    a str or int) or when the tree nests deeper than a reader accepts.
    """
    arrays = {}
    node = _encode(tree, "state", prefix, arrays)
    text = json.dumps(node, separators=(",", ":"), allow_nan=False)
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise FormatError(f"save: the state nests {nesting_depth(text)} JSON levels deep, "
                          f"more than the {MAX_JSON_DEPTH} numrnn.load reads; flatten it")
    return text, arrays


def _encode(value, path, prefix, arrays):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        name = value.dtype.name
        if name not in SCALAR_DTYPES:
            raise FormatError(f"save: {path} is a numpy {name} scalar; a saved state holds "
                              f"numpy scalars of {', '.join(SCALAR_DTYPES)}")
        plain = value.item()
        return {"numpy": [name, _encode(plain, path, prefix, arrays)]}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (np.ndarray, Tensor)):
        array = value.data if isinstance(value, Tensor) else value
        if array.dtype not in ARRAY_DTYPES:
            raise FormatError(f"save: {path} is an array of dtype {array.dtype}; a saved "
                              "state holds float32 or float64 arrays (store integers as "
                              "Python ints or lists)")
        if not np.isfinite(array).all():
            raise FormatError(f"save: {path} holds NaN or infinite values; numrnn.load "
                              "would refuse the file")
        name = f"{prefix}{len(arrays)}"
        arrays[name] = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        return {"array": name}
    if isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise FormatError(f"save: {path} has the key {key!r} of type "
                                  f"{type(key).__name__}; saved dicts have str or int keys")
            pairs.append([key, _encode(item, f"{path}[{key!r}]", prefix, arrays)])
        return {"dict": pairs}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, f"{path}[{index}]", prefix, arrays)
                 for index, item in enumerate(value)]
        return items if isinstance(value, list) else {"tuple": items}
    raise FormatError(f"save: {path} is a {type(value).__name__}; a saved state holds dicts, "
                      "lists, tuples, numbers, strings, None and float arrays only")


def decode_tree(text, tensors, prefix, where, what):
    """The tree that :func:`encode_tree` wrote, from its JSON and the file's tensors.

    ``tensors`` maps names to arrays; every name starting with ``prefix`` must be
    used exactly once. ``where`` (the file) and ``what`` (the metadata key)
    start every message.
    """
    node = parse_untrusted(text, where, f"metadata {what!r}")
    used = set()
    tree = _decode(node, "state", tensors, prefix, used, f"{where}: metadata {what!r}")
    unused = sorted(name for name in tensors if name.startswith(prefix) and name not in used)
    if unused:
        raise FormatError(f"{where}: tensor(s) {brief(unused)} belong to no entry of metadata "
                          f"{what!r}: corrupted file")
    return tree


def _decode(node, path, tensors, prefix, used, where):
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        return [_decode(item, f"{path}[{index}]", tensors, prefix, used, where)
                for index, item in enumerate(node)]
    if not isinstance(node, dict) or len(node) != 1:
        raise FormatError(f"{where}: {path} must be a JSON value or an object with one tag, "
                          f"got {brief(node)}")
    (tag, body), = node.items()
    if tag == "dict":
        return _decode_dict(body, path, tensors, prefix, used, where)
    if tag == "tuple" and isinstance(body, list):
        return tuple(_decode(body, path, tensors, prefix, used, where))
    if tag == "float" and isinstance(body, str) and body in NONFINITE:
        return NONFINITE[body]
    if tag == "numpy" and isinstance(body, list) and len(body) == 2 \
            and isinstance(body[0], str) and body[0] in SCALAR_DTYPES:
        value = _decode(body[1], path, tensors, prefix, used, where)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise FormatError(f"{where}: {path}: a numpy scalar needs a number, "
                              f"got {brief(value)}")
        try:
            return SCALAR_DTYPES[body[0]](value)
        except OverflowError as exc:
            raise FormatError(f"{where}: {path}: {brief(value)} does not fit "
                              f"{body[0]}") from exc
    if tag == "array" and isinstance(body, str) and body.startswith(prefix):
        if body not in tensors:
            raise FormatError(f"{where}: {path} refers to the tensor {brief(body)}, which the "
                              "file does not hold")
        if body in used:
            raise FormatError(f"{where}: {path} refers to the tensor {brief(body)} a second "
                              "time: corrupted file")
        used.add(body)
        return tensors[body]
    raise FormatError(f"{where}: {path}: unknown or malformed node {brief(node)}; expected "
                      "one of the tags dict, tuple, float, numpy, array")


def _decode_dict(body, path, tensors, prefix, used, where):
    if not isinstance(body, list):
        raise FormatError(f"{where}: {path}: a dict node holds a list of [key, value] pairs, "
                          f"got {brief(body)}")
    result = {}
    for pair in body:
        if not isinstance(pair, list) or len(pair) != 2 or isinstance(pair[0], bool) \
                or not isinstance(pair[0], (str, int)):
            raise FormatError(f"{where}: {path}: each dict entry must be [key, value] with a "
                              f"str or int key, got {brief(pair)}")
        key = pair[0]
        if key in result:
            raise FormatError(f"{where}: {path} repeats the key {brief(key)}")
        result[key] = _decode(pair[1], f"{path}[{key!r}]", tensors, prefix, used, where)
    return result
