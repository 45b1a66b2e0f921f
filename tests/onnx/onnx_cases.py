"""Random recurrent layers and inputs shared by the ONNX tests."""

import numpy as np

from numrnn import nn

CELLS = ("LSTM", "GRU", "RNN-tanh", "RNN-relu", "GRU-reset-before", "LSTM-peepholes")


def make_layer(cell, input_size, hidden_size, *, seed, **options):
    """A numrnn recurrent layer of ``cell`` (one of CELLS), weights drawn from ``seed``."""
    if cell.startswith("RNN"):
        return nn.RNN(input_size, hidden_size, nonlinearity=cell[4:], rng=seed, **options)
    if cell == "GRU-reset-before":
        return nn.GRU(input_size, hidden_size, reset_after=False, rng=seed, **options)
    if cell == "LSTM-peepholes":
        return nn.LSTM(input_size, hidden_size, peepholes=True, rng=seed, **options)
    return getattr(nn, cell)(input_size, hidden_size, rng=seed, **options)


def random_config(rng):
    """Sizes and options of one random layer, and whether to feed states and lengths."""
    return {"cell": CELLS[rng.integers(len(CELLS))],
            "input_size": int(rng.integers(1, 6)), "hidden_size": int(rng.integers(1, 7)),
            "num_layers": int(rng.integers(1, 4)), "bidirectional": bool(rng.integers(2)),
            "batch_first": bool(rng.integers(2)), "bias": bool(rng.integers(4) > 0),
            "steps": int(rng.integers(1, 7)), "batch": int(rng.integers(1, 5)),
            "initial_states": bool(rng.integers(2)), "lengths": bool(rng.integers(2))}


def layer_inputs(layer, steps, batch, rng, *, initial_states, lengths):
    """``(input, states or None, lengths or None)`` for ``layer``, states as a tuple."""
    shape = (batch, steps, layer.input_size) if layer.batch_first \
        else (steps, batch, layer.input_size)
    x = rng.standard_normal(shape).astype(layer.dtype)
    states = None
    if initial_states:
        state_shape = (layer.num_layers * layer.num_directions, batch, layer.hidden_size)
        states = tuple(rng.standard_normal(state_shape).astype(layer.dtype)
                       for _ in layer.kind.states)
    valid = rng.integers(1, steps + 1, size=batch) if lengths else None
    if valid is not None:
        valid[0] = steps
    return x, states, valid


def run_layer(layer, x, states, lengths):
    """numrnn's outputs as a list of arrays: output, then the final states."""
    hx = None if states is None else (states if len(states) == 2 else states[0])
    output, finals = layer(x, hx, lengths=lengths)
    finals = finals if isinstance(finals, tuple) else (finals,)
    return [output.data] + [final.data for final in finals]


def feeds_of(layer, x, states, lengths):
    """The ONNX graph's inputs for the same call."""
    feeds = {"input": x}
    if states is not None:
        feeds.update({f"{name}_0": state for name, state in zip(layer.kind.states, states)})
    if lengths is not None:
        feeds["lengths"] = lengths.astype(np.int64)
    return feeds
