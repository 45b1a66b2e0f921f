"""``numrnn inspect`` of ONNX and Keras files: what they hold, in the description of a weight file.

An ONNX file is parsed and its initializers checked as :func:`numrnn.onnx.load`
checks them (shape against bytes, no external data), without building a
layer; a Keras file is read by :func:`numrnn.keras.read_layers`, whose checks
are those of loading. The result has the keys of
:func:`numrnn.commands.inspect_file.describe`.
"""

import collections
import os


def describe_onnx(path):
    """The description of the ONNX file at ``path``."""
    from numrnn.onnx.read import read_model, tensor_array

    where = os.fspath(path)
    model = read_model(where)
    graph = model.graph
    rows = []
    for index, initializer in enumerate(graph.initializer):
        array = tensor_array(initializer, where, f"initializer {index} '{initializer.name[:80]}'")
        rows.append({"name": initializer.name, "dtype": array.dtype.name,
                     "shape": list(array.shape), "bytes": int(array.nbytes)})
    constants = {row["name"] for row in rows}
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    producer = f"{model.producer_name} {model.producer_version}".strip()
    config = {"opsets": opsets, "producer": producer,
              "inputs": [value.name for value in graph.input if value.name not in constants],
              "outputs": [value.name for value in graph.output],
              "nodes": dict(collections.Counter(node.op_type for node in graph.node))}
    return _description(where, "onnx", {"class_name": "ONNX graph", "config": config}, rows)


def describe_keras(path):
    """The description of the Keras ``.keras`` or ``.weights.h5`` file at ``path``."""
    from numrnn.functional.cell_kinds import parameter_name
    from numrnn.keras import read_layers

    where = os.fspath(path)
    config, rows = {}, []
    for name, layer in read_layers(where).items():
        options = [f"{layer.input_size} -> {layer.hidden_size}", layer.dtype.name]
        options += ["bidirectional"] if layer.bidirectional else []
        options += [] if layer.bias else ["no bias"]
        if layer.reset_after is not None:
            options.append(f"reset_after={layer.reset_after}")
        if layer.nonlinearity is not None:
            options.append(layer.nonlinearity)
        config[name] = f"{layer.kind} ({', '.join(options)})"
        for direction, weights in enumerate(layer.weights):
            rows += [{"name": f"{name}.{parameter_name(key, 0, direction == 1)}",
                      "dtype": array.dtype.name, "shape": list(array.shape),
                      "bytes": int(array.nbytes)} for key, array in weights.items()]
    return _description(where, "keras", {"class_name": "Keras recurrent layers",
                                         "config": config}, rows)


def _description(where, kind, model, rows):
    rows.sort(key=lambda row: row["name"])
    return {
        "file": where,
        "file_bytes": os.path.getsize(where),
        "kind": kind,
        "numrnn_format": None,
        "numrnn_version": None,
        "model": model,
        "metadata": {},
        "tensors": rows,
        "elements": sum(_count(row["shape"]) for row in rows),
        "tensor_bytes": sum(row["bytes"] for row in rows),
    }


def _count(shape):
    count = 1
    for size in shape:
        count *= size
    return count
