"""``numrnn warmup``: compile every kernel this machine will use, into the kernel cache.

A kernel compiles at its first call with a new signature, for seconds, and a
recurrent layer reaches different kernels by cell kind, dtype, path (inference,
training, single steps) and size (one row, a few rows, blocks of many: see
:mod:`numrnn.kernels.matvec` and :mod:`numrnn.kernels.packed`). A server's
first requests should not pay for that, so this runs every cell kind through
the public API at sizes on both sides of each of those thresholds, in both
dtypes, with and without biases, lengths, initial states and a reverse
direction, forward and backward, as cells and as streamers. What it compiles
lands in the kernel cache (:mod:`numrnn.kernels.kernel_cache`); bake it into
an image by running ``numrnn warmup`` at build time where the package is
writable, or with ``NUMBA_CACHE_DIR`` set to a directory the image keeps.

The result depends on the CPU (numba compiles for the host): warm up on the
kind of machine that will serve.
"""

import inspect
import itertools
import math
import time
from functools import partial

import numpy as np
from tqdm import tqdm

from numrnn import nn
from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError
from numrnn.functional import cell_kinds
from numrnn.kernels import kernel_cache
from numrnn.kernels.lstm_layer_norm import BLOCK_PROJECTION_UP_TO
from numrnn.kernels.plan import BLOCK_ROWS, COPY_FROM_STEPS, MAX_ROWS, PACK_FROM_SIZE


def _label(kind, options):
    """A variant's name: the kind's, then each named option value ("RNN-relu") and
    each other option that is not at its default ("GRU-reset_after=False")."""
    parts = [kind.name]
    for name, value in options.items():
        if isinstance(value, str):
            parts.append(value)
        elif value != kind.options[name][0]:
            parts.append(f"{name}={value}")
    return "-".join(parts)


def _variants():
    """``{label: (kind, options)}``: every cell kind with every value of its options, but
    the combinations the kind refuses (the reset-before GRU with ``layer_norm``)."""
    variants = {}
    for kind in cell_kinds.KINDS.values():
        choices = [allowed for _, allowed in kind.options.values()]
        for values in itertools.product(*choices):
            options = dict(zip(kind.options, values))
            if kind.refusal(options) is None:
                variants[_label(kind, options)] = (kind, options)
    return variants


VARIANTS = _variants()
# "LSTM", "LSTM-layer_norm=True", "LSTM-peepholes=True", "LSTM-proj_size=8", "GRU",
# "GRU-layer_norm=True", "GRU-reset_after=False", "RNN-tanh", "RNN-relu"
CELLS = tuple(VARIANTS)
DTYPES = ("float32", "float64")
_LAYERS = {layer.__name__: layer for layer in (nn.LSTM, nn.GRU, nn.RNN)}
_CELL_MODULES = {cell.kind.name: cell for cell in (nn.LSTMCell, nn.GRUCell, nn.RNNCell)}

# Sizes straddling the plan's thresholds (numrnn.kernels.plan): one row; blocks of at most MAX_ROWS
# rows (matrix-vector loops); blocks past it (GEMM, or packed panels in
# float32); blocks on both sides of it in one call (2 * MAX_ROWS + 1 rows: blocks of
# 5 and 4 rows, whose weight matvec.product takes unmarked, compiling both paths);
# runs shorter and longer than COPY_FROM_STEPS; and hidden sizes whose
# W_hh stays below PACK_FROM_SIZE elements and reaches it even for a single
# gate block (row-major copies, or packed panels and the joint step).
BATCHES = (1, 2 * MAX_ROWS - 1, 2 * MAX_ROWS + 1, 2 * BLOCK_ROWS + 8)
STEPS = (1, COPY_FROM_STEPS + 2)
HIDDEN_SIZES = (16, 16 * math.ceil(math.sqrt(PACK_FROM_SIZE) / 16))
# Input widths at which a variant's kernels change path, warmed on one more float32
# layer (the largest hidden size): the layer-normalised LSTM's float32 batch blocks make
# their own input products up to BLOCK_PROJECTION_UP_TO features, one GEMM past it.
WIDE_INPUTS = {"LSTM-layer_norm=True": BLOCK_PROJECTION_UP_TO + 1}


def _layer(cell, dtype, bias, bidirectional, hidden, inputs=None):
    kind, options = VARIANTS[cell]
    return _LAYERS[kind.name](inputs or hidden // 2, hidden, num_layers=2, bias=bias,
                              bidirectional=bidirectional, dtype=dtype, rng=0, **options)


def _inputs(layer, batch, steps, dtype):
    """``(x, hx or None, lengths or None)`` variants for one batch and length."""
    rng = np.random.default_rng(batch * 100 + steps)
    x = Tensor(rng.standard_normal((steps, batch, layer.input_size)).astype(dtype))
    states = 2 * layer.num_layers if layer.bidirectional else layer.num_layers
    # Each state as the cell table sizes it (a projected LSTM's h has proj_size features).
    sizes = layer.kind.state_sizes(layer.hidden_size, layer.kind.options_of(layer))
    initial = tuple(Tensor(np.zeros((states, batch, size), dtype=dtype)) for size in sizes)
    hx = initial if len(initial) > 1 else initial[0]
    lengths = np.maximum(steps - np.arange(batch) % 2, 1)
    return [(x, None, None), (x, hx, lengths)]


def _layers(cell, dtype):
    for hidden in HIDDEN_SIZES:
        for bias in (True, False):
            for bidirectional in (False, True):
                yield _layer(cell, dtype, bias, bidirectional, hidden)
    if cell in WIDE_INPUTS and dtype == np.float32:
        yield _layer(cell, dtype, True, False, HIDDEN_SIZES[-1], WIDE_INPUTS[cell])


def _calls(cell, dtype):
    """``(layer, x, hx, lengths)`` for every layer variant, size and input variant."""
    for layer in _layers(cell, dtype):
        for batch in BATCHES:
            for steps in STEPS:
                for x, hx, lengths in _inputs(layer, batch, steps, dtype):
                    yield layer, x, hx, lengths


def _inference(cell, dtype):
    for layer, x, hx, lengths in _calls(cell, dtype):
        layer.eval()
        with no_grad():
            layer(x, hx, lengths=lengths)


def _training(cell, dtype):
    for layer, x, hx, lengths in _calls(cell, dtype):
        layer.train()
        output, state = layer(Tensor(x.data, requires_grad=True), hx, lengths=lengths)
        final = state[0] if len(layer.kind.states) > 1 else state
        (output.sum() + final.sum()).backward()


def cell_options(kind, options):
    """The options a kind's cell takes: those of a layer but any only its layers have,
    which must be at their default."""
    cell = _CELL_MODULES[kind.name]
    taken = inspect.signature(cell).parameters
    return {name: value for name, value in options.items() if name in taken}


def cell_takes(kind, options):
    """Whether the kind's cell computes what ``options`` ask: every option it does not
    take is at its default (every cell takes every option of the table today, the
    projected ``LSTMCell`` included)."""
    taken = cell_options(kind, options)
    return all(value == kind.options[name][0] for name, value in options.items()
               if name not in taken)


def _steps(cell, dtype):
    kind, options = VARIANTS[cell]
    for hidden in HIDDEN_SIZES:
        for bias in (True, False):
            if cell_takes(kind, options):
                _cell_steps(kind, options, hidden, bias, dtype)
            if not kind.streams(options):
                continue
            layer = _layer(cell, dtype, bias, bidirectional=False, hidden=hidden)
            for batch in BATCHES:
                layer.streamer(batch).step(np.ones((batch, hidden // 2), dtype=dtype))


def _cell_steps(kind, options, hidden, bias, dtype):
    step = _CELL_MODULES[kind.name](hidden // 2, hidden, bias=bias, dtype=dtype, rng=0,
                                    **cell_options(kind, options))
    for batch in BATCHES:
        x = np.ones((batch, hidden // 2), dtype=dtype)
        with no_grad():
            step(Tensor(x))
        state = step(Tensor(x, requires_grad=True))
        (state[0] if len(kind.states) > 1 else state).sum().backward()


def _embedding(dtype):
    embedding = nn.Embedding(10, 4, dtype=dtype, rng=0)
    with no_grad():
        embedding(np.arange(3))
    embedding(np.arange(3)).sum().backward()


def tasks(cells=CELLS, dtypes=DTYPES):
    """``[(label, callable), ...]``: one task per cell kind, dtype and path."""
    work = []
    for cell in cells:
        for dtype in dtypes:
            for path, run in (("inference", _inference), ("training", _training),
                              ("cells and streaming", _steps)):
                work.append((f"{cell} {dtype} {path}", partial(run, cell, np.dtype(dtype))))
    work += [(f"embedding {dtype}", partial(_embedding, np.dtype(dtype))) for dtype in dtypes]
    return work


def warmup(cells=CELLS, dtypes=DTYPES, progress=True):
    """Compile (or load) every kernel the given cell kinds and dtypes use.

    Returns ``{"compiled": n, "loaded": n, "seconds": s, "cache": description}``
    for this call: kernels compiled, kernels found in the cache, and the time.
    Raises ``OSError`` before compiling anything when the kernel cache cannot be
    written: what would be compiled would not outlive the process.
    """
    unknown = sorted(set(cells) - set(CELLS)) + sorted(set(dtypes) - set(DTYPES))
    if unknown:
        raise ArgumentError(f"warmup: unknown cell kind or dtype {', '.join(unknown)}; "
                            f"cells are {', '.join(CELLS)}, dtypes {', '.join(DTYPES)}")
    if not kernel_cache.CACHE_WRITABLE:
        raise OSError(f"the kernel cache cannot be written ({kernel_cache.describe()}), so "
                      "nothing compiled would be kept: run it where the package is writable, "
                      "or with NUMBA_CACHE_DIR set to a writable directory")
    # The notice a first compile prints points at this very command.
    kernel_cache.silence_compile_notice()
    before = kernel_cache.counts()
    started = time.perf_counter()
    work = tasks(cells, dtypes)
    bar = tqdm(work, desc="numrnn warmup", unit="task", disable=not progress,
               dynamic_ncols=True)
    for label, run in bar:
        bar.set_postfix_str(label, refresh=True)
        run()
    bar.close()
    after = kernel_cache.counts()
    return {"compiled": after["compiled"] - before["compiled"],
            "loaded": after["loaded"] - before["loaded"],
            "seconds": time.perf_counter() - started, "cache": kernel_cache.describe()}
