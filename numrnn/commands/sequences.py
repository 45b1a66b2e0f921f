"""Sequence files for ``numrnn predict``: ``.npy``, ``.npz`` and JSON lines, in and out.

A sequence is either integer token ids, shape (T,), or float features, shape
(T, I); the dtype says which. The three formats:

- ``.npy``: one array. Integer (T,) or float (T, I) is one sequence;
  integer (B, T) or float (B, T, I) is a batch of B sequences of one length.
- ``.npz``: named arrays, each read as a ``.npy`` file is, so one file can
  hold batches of different lengths.
- JSON lines (``.jsonl``, ``.ndjson``, or ``-`` for stdin/stdout): one
  sequence per line, a list of ints (token ids) or a list of T lists of I
  numbers (features); lines may differ in length.

Outputs are written the same way, one per input sequence: ``.npy`` holds the
single output (T, O) or the batch (B, T, O), so every output must have the
same shape; ``.npz`` holds one array per input array, under the same name
(``arr_0``, ``arr_1``, ... for inputs that had no names); JSON lines holds one
output per line, in input order. Reading never unpickles (``allow_pickle=False``)
and parses JSON under :func:`numrnn.io.untrusted_json.parse_untrusted`'s bounds.
"""

import io
import json
import os
import sys
from dataclasses import dataclass

import numpy as np

from numrnn.commands.output import replaced_whole
from numrnn.errors import ArgumentError, DTypeError, FormatError, ShapeError
from numrnn.io.untrusted_json import brief, parse_untrusted

STDIO = "-"
JSON_LINES = (".jsonl", ".ndjson")
FORMATS = (".npy", ".npz", *JSON_LINES)


@dataclass
class Entry:
    """Sequences read as one unit: one array of a ``.npy``/``.npz`` file, or one JSON line.

    ``sequences`` are (T,) int64 token ids or (T, I) float features; ``batched``
    tells whether they came as one (B, ...) array, and so go back as one.
    """

    name: str
    sequences: list
    batched: bool


def file_format(path, flag):
    """The format of ``path`` by its extension (``"-"`` is JSON lines), or an ArgumentError."""
    if os.fspath(path) == STDIO:
        return ".jsonl"
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in FORMATS:
        raise ArgumentError(f"{flag} must name a .npy, .npz, .jsonl or .ndjson file (or - for "
                            f"JSON lines on the standard streams), got {os.fspath(path)!r}")
    return ".jsonl" if extension in JSON_LINES else extension


def read_sequences(path):
    """The entries of the sequence file ``path``; refusals name the file and the entry."""
    where = os.fspath(path)
    kind = file_format(path, "INPUT")
    if kind == ".jsonl":
        if where == STDIO:
            where = "stdin"
            data = sys.stdin.buffer.read()
        else:
            with open(where, "rb") as file:
                data = file.read()
        entries = _json_lines(_utf8(data, where), where)
    else:
        try:
            loaded = np.load(where, allow_pickle=False)
        except ValueError as exc:  # an object array, or not a numpy file at all
            raise FormatError(f"{where}: not a {kind} file of numeric arrays ({exc})") from exc
        if kind == ".npy":
            if not isinstance(loaded, np.ndarray):
                raise FormatError(f"{where}: holds several arrays (an .npz archive); name "
                                  "the file .npz")
            entries = [_array_entry(loaded, "arr_0", where)]
        else:
            if isinstance(loaded, np.ndarray):
                raise FormatError(f"{where}: holds one array, not an .npz archive; name the "
                                  "file .npy")
            with loaded:
                entries = [_array_entry(_member(loaded, name, where), name, where)
                           for name in loaded.files]
    if not entries:
        raise FormatError(f"{where}: holds no sequence")
    return entries


def write_outputs(path, entries, outputs):
    """Write ``outputs`` (one array per sequence of ``entries``, in order) to ``path``."""
    kind = file_format(path, "--output")
    per_entry = _split(entries, outputs)
    if kind == ".jsonl":
        lines = [_json_line(output, entry.name)
                 for entry, group in zip(entries, per_entry) for output in group]
        text = "".join(line + "\n" for line in lines)
        if os.fspath(path) == STDIO:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        with replaced_whole(path, "w") as file:
            file.write(text)
        return
    if kind == ".npy":
        single = len(entries) == 1 and not entries[0].batched
        array = outputs[0] if single else _stack(outputs, "every output", path)
        arrays = {"arr_0": array}
    else:
        arrays = {entry.name: _stack(group, f"the outputs for {entry.name!r}", path)
                  if entry.batched else group[0] for entry, group in zip(entries, per_entry)}
    buffer = io.BytesIO()
    if kind == ".npy":
        np.save(buffer, arrays["arr_0"])
    else:
        np.savez(buffer, **arrays)
    with replaced_whole(path) as file:
        file.write(buffer.getvalue())


def check_output_fits(path, entries):
    """Before any work: refuse to put sequences of different lengths into one ``.npy`` array."""
    kind = file_format(path, "--output")
    if kind != ".npy":
        return
    lengths = sorted({len(sequence) for entry in entries for sequence in entry.sequences})
    if len(lengths) > 1:
        raise ShapeError(f"--output {os.fspath(path)!r}: one .npy array holds sequences of one "
                         f"length, and the input's have lengths {brief(lengths)}; write .npz "
                         "or .jsonl instead")


def _utf8(data, where):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{where}: JSON lines must be UTF-8 text ({exc})") from exc


def _member(archive, name, where):
    try:
        return archive[name]
    except ValueError as exc:
        raise FormatError(f"{where}: array {brief(name)} is not a numeric array ({exc})") from exc


def _array_entry(array, name, where):
    label = f"{where}: array {brief(name)}"
    if array.dtype.kind in "iu":
        single_ndim, what = 1, "token ids (T,) or a batch (B, T)"
    elif array.dtype.kind == "f":
        single_ndim, what = 2, "features (T, I) or a batch (B, T, I)"
    else:
        raise DTypeError(f"{label} has dtype {array.dtype}; expected integer token ids or "
                         "float features")
    if array.ndim not in (single_ndim, single_ndim + 1):
        raise ShapeError(f"{label}: {array.dtype} arrays hold {what}, got shape {array.shape}")
    batched = array.ndim == single_ndim + 1
    sequences = list(array) if batched else [array]
    if not sequences or len(sequences[0]) == 0:
        raise ShapeError(f"{label}: needs at least one sequence of at least one step, got "
                         f"shape {array.shape}")
    return Entry(str(name), [_checked(sequence, label) for sequence in sequences], batched)


def _json_lines(text, where):
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label = f"{where}: line {number}"
        value = parse_untrusted(line, where, f"line {number}")
        try:
            array = np.array(value)
        except ValueError as exc:  # ragged lists
            raise ShapeError(f"{label}: rows of different lengths ({exc})") from exc
        if array.ndim == 1 and array.dtype.kind == "i":
            sequence = array.astype(np.int64)
        elif array.ndim == 2 and array.dtype.kind in "if":
            sequence = array.astype(np.float64)
        else:
            raise ShapeError(f"{label}: expected a list of token ids (ints) or a list of T "
                             f"lists of I numbers, got {brief(value)}")
        if len(sequence) == 0 or sequence.size == 0:
            raise ShapeError(f"{label}: the sequence is empty")
        entries.append(Entry(f"arr_{len(entries)}", [_checked(sequence, label)], False))
    return entries


def _checked(sequence, label):
    if sequence.dtype.kind == "f" and not np.isfinite(sequence).all():
        raise FormatError(f"{label} holds NaN or infinite values")
    if sequence.dtype.kind in "iu" and sequence.min() < 0:
        raise ShapeError(f"{label}: token ids must be >= 0, got {sequence.min()}")
    return sequence


def _split(entries, outputs):
    groups, start = [], 0
    for entry in entries:
        groups.append(outputs[start:start + len(entry.sequences)])
        start += len(entry.sequences)
    return groups


def _stack(arrays, what, path):
    shapes = sorted({array.shape for array in arrays})
    if len(shapes) > 1:
        raise ShapeError(f"--output {os.fspath(path)!r}: {what} must have one shape to share an "
                         f"array, got shapes {brief(shapes)}")
    return np.stack(arrays)


def _json_line(output, name):
    try:
        return json.dumps(output.tolist(), allow_nan=False)
    except ValueError as exc:
        raise FormatError(f"the output for {name} holds NaN or infinite values, which JSON "
                          "cannot hold; write .npy or .npz instead") from exc
