"""Keras 3 weight files written by hand with h5py, and Keras's equations in numpy.

The layout is the one Keras 3 writes (tests/keras/test_keras_runtime.py checks
it against a file Keras wrote): ``layers/<group>/cell/vars/{0,1,2}`` holding
the kernel ``(I, G*H)``, recurrent kernel ``(H, G*H)`` and bias, with a
``vars`` group whose ``name`` attribute is the layer's name; a
``Bidirectional`` holds ``forward_layer`` and ``backward_layer``. The gate
blocks here follow Keras's documented orders (LSTM i, f, c, o; GRU z, r, h),
written out rather than taken from numrnn's cell table, so that the loader's
mapping is checked against an independent statement of it.
"""

import io
import json
import zipfile

import numpy as np

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
KERAS_CLASSES = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}
GROUP_NAMES = {"LSTM": "lstm", "GRU": "gru", "RNN": "simple_rnn"}


def random_cell(kind, input_size, hidden_size, rng, bias=True, reset_after=True,
                dtype=np.float32):
    """Keras's variables of one cell: ``[kernel, recurrent_kernel(, bias)]``."""
    columns = GATES[kind] * hidden_size
    arrays = [rng.uniform(-0.6, 0.6, (input_size, columns)),
              rng.uniform(-0.6, 0.6, (hidden_size, columns))]
    if bias:
        shape = (2, columns) if kind == "GRU" and reset_after else (columns,)
        arrays.append(rng.uniform(-0.4, 0.4, shape))
    return [array.astype(dtype) for array in arrays]


def write_cell(group, variables, cell_name, layer_name):
    cell_vars = group.create_group("cell").create_group("vars")
    cell_vars.attrs["name"] = cell_name
    for index, array in enumerate(variables):
        cell_vars.create_dataset(str(index), data=array)
    group.create_group("vars").attrs["name"] = layer_name


def write_weights(target, layers):
    """Write a Keras 3 weight file to ``target`` (a path or a file object).

    ``layers``: ``(group, name, kind, directions)`` with ``directions`` a list of one
    cell's variables (or two, forward and backward, for a ``Bidirectional``).
    """
    import h5py

    with h5py.File(target, "w") as root:
        container = root.create_group("layers")
        root.create_group("vars").attrs["name"] = "sequential"
        for group_name, layer_name, kind, directions in layers:
            group = container.create_group(group_name)
            cell_name = f"{GROUP_NAMES[kind]}_cell"
            if len(directions) == 1:
                write_cell(group, directions[0], cell_name, layer_name)
                continue
            for part, variables in zip(("forward", "backward"), directions):
                write_cell(group.create_group(f"{part}_layer"), variables, cell_name,
                           f"{part}_{layer_name}")
            group.create_group("vars").attrs["name"] = layer_name


def weights_bytes(layers):
    buffer = io.BytesIO()
    write_weights(buffer, layers)
    return buffer.getvalue()


def layer_config(kind, name, hidden_size, bias=True, reset_after=True, nonlinearity="tanh",
                 bidirectional=False, **changes):
    """A Keras-style config entry of one recurrent (or Bidirectional) layer."""
    settings = {"name": name, "units": hidden_size, "activation": nonlinearity,
                "use_bias": bias, "return_sequences": True, "go_backwards": False}
    if kind != "RNN":
        settings["recurrent_activation"] = "sigmoid"
    if kind == "GRU":
        settings["reset_after"] = reset_after
    settings.update(changes)
    layer = {"module": "keras.layers", "class_name": KERAS_CLASSES[kind], "config": settings}
    if not bidirectional:
        return layer
    settings["name"] = f"forward_{name}"
    return {"module": "keras.layers", "class_name": "Bidirectional",
            "config": {"name": name, "merge_mode": "concat", "layer": layer}}


def keras_zip(path, layers, configs):
    """A ``.keras`` file: the weights of ``layers`` and a Sequential config of ``configs``."""
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "sequential", "layers": configs}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights_bytes(layers))


# -- Keras's equations ---------------------------------------------------------------------
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def keras_step(kind, variables, x_t, state, reset_after, nonlinearity):
    """One step of Keras's cell on ``x_t`` (B, I): the new ``(h, c)`` (c None but for LSTM)."""
    kernel, recurrent = variables[0], variables[1]
    bias = variables[2] if len(variables) == 3 else np.zeros((kernel.shape[1],), kernel.dtype)
    h, c = state
    if kind == "RNN":
        pre = x_t @ kernel + bias + h @ recurrent
        return (np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0.0)), None
    if kind == "LSTM":
        i, f, g, o = np.split(x_t @ kernel + bias + h @ recurrent, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    input_bias, recurrent_bias = (bias[0], bias[1]) if bias.ndim == 2 else (bias, 0.0)
    x_z, x_r, x_h = np.split(x_t @ kernel + input_bias, 3, axis=-1)
    hidden = h.shape[-1]
    if reset_after:
        h_z, h_r, h_h = np.split(h @ recurrent + recurrent_bias, 3, axis=-1)
        z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
        candidate = np.tanh(x_h + r * h_h)
    else:
        z = sigmoid(x_z + h @ recurrent[:, :hidden])
        r = sigmoid(x_r + h @ recurrent[:, hidden:2 * hidden])
        candidate = np.tanh(x_h + (r * h) @ recurrent[:, 2 * hidden:])
    return z * h + (1.0 - z) * candidate, None


def keras_sequence(kind, variables, x, reset_after=True, nonlinearity="tanh", backwards=False):
    """Keras's outputs ``(B, T, H)`` for batch-first ``x``, in float64."""
    x = x.astype(np.float64)
    variables = [array.astype(np.float64) for array in variables]
    hidden = variables[1].shape[0]
    state = (np.zeros((x.shape[0], hidden)), np.zeros((x.shape[0], hidden)))
    steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    outputs = np.zeros((x.shape[0], x.shape[1], hidden))
    for t in steps:
        state = keras_step(kind, variables, x[:, t], state, reset_after, nonlinearity)
        outputs[:, t] = state[0]
    return outputs


def keras_layer_output(kind, directions, x, reset_after=True, nonlinearity="tanh"):
    """A (Bidirectional) layer's sequence output, directions concatenated as Keras's concat."""
    outputs = [keras_sequence(kind, variables, x, reset_after, nonlinearity, backwards=index == 1)
               for index, variables in enumerate(directions)]
    return np.concatenate(outputs, axis=-1)
