"""``numrnn predict MODEL INPUT``: run a saved model over the sequences of a file.

The model is rebuilt by :func:`numrnn.load_model` (never unpickled) and run in
eval mode without gradients. Sequences of one length and kind are stacked into
batches of at most ``batch_size``, so the model sees no padding and needs no
``lengths``; each is fed time-major, (T, B, ...), or (B, T, ...) to a model
built with ``batch_first=True``. The model's output (the first element when it
returns a tuple, as recurrent layers return ``(output, state)``) must keep the
time and batch axes: step ``t`` of sequence ``b`` gives one output row, so each
sequence's output is (T, ...). Formats: :mod:`numrnn.commands.sequences`.
"""

import numbers
import os

import numpy as np

from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.tensor import Tensor
from numrnn.commands.output import check_writable
from numrnn.commands.sequences import (
    STDIO,
    check_output_fits,
    file_format,
    read_sequences,
    write_outputs,
)
from numrnn.defaults import get_default_dtype
from numrnn.errors import ArgumentError, ShapeError
from numrnn.io import load_model


def predict_file(model_path, input_path, output=STDIO, batch_size=64):
    """Write the model's output for every sequence of ``input_path`` to ``output``.

    Every check that needs no model runs first: the output's format and that
    it can be written, the input file, whether its lengths fit the output
    format; then the model file. Returns the number of sequences.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ArgumentError(f"predict: batch_size must be a positive int, got {batch_size!r}")
    file_format(output, "--output")
    if os.fspath(output) != STDIO:
        check_writable(output, "--output")
    entries = read_sequences(input_path)
    check_output_fits(output, entries)
    model = load_model(model_path)
    model.eval()
    sequences = [sequence for entry in entries for sequence in entry.sequences]
    outputs = run_batched(model, sequences, batch_size)
    write_outputs(output, entries, outputs)
    return len(sequences)


def run_batched(model, sequences, batch_size):
    """The model's output for each sequence, in order, from batches of equal-length sequences."""
    batch_first = bool(getattr(model, "batch_first", False))
    dtype = _input_dtype(model)
    groups = {}
    for index, sequence in enumerate(sequences):
        groups.setdefault((sequence.shape, sequence.dtype.kind in "iu"), []).append(index)
    outputs = [None] * len(sequences)
    with no_grad():
        for (_, tokens), indices in groups.items():
            for start in range(0, len(indices), batch_size):
                chosen = indices[start:start + batch_size]
                batch = np.stack([sequences[index] for index in chosen])
                batch = batch.astype(np.int64 if tokens else dtype)
                result = _call(model, batch if batch_first else np.swapaxes(batch, 0, 1))
                steps = batch.shape[1]
                expected = (len(chosen), steps) if batch_first else (steps, len(chosen))
                if result.ndim < 2 or result.shape[:2] != expected:
                    layout = "(B, T, ...)" if batch_first else "(T, B, ...)"
                    raise ShapeError(f"predict: the model's output must keep the input's time "
                                     f"and batch axes, {layout} = {expected}, got shape "
                                     f"{result.shape}; numrnn predict serves sequence-to-"
                                     "sequence models (one output per step)")
                for position, index in enumerate(chosen):
                    row = result[position] if batch_first else result[:, position]
                    outputs[index] = np.ascontiguousarray(row)
    return outputs


def _call(model, batch):
    result = model(batch)
    if isinstance(result, tuple):
        result = result[0]
    return result.data if isinstance(result, Tensor) else np.asarray(result)


def _input_dtype(model):
    # Float features are cast to the parameters' dtype, which the layers require.
    for parameter in model.parameters():
        return parameter.dtype
    return np.dtype(get_default_dtype())
