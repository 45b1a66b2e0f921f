"""Layer normalisation of gate blocks, for the layer-normalised LSTM and GRU kernels.

The layer-normalised cells (:mod:`numrnn.kernels.lstm_layer_norm`,
:mod:`numrnn.kernels.gru_layer_norm`, Ba, Kiros & Hinton 2016) normalise each
gate block of a pre-activation row on its own: for a row ``a`` of ``G*H``
values and each block ``k`` of ``H`` of them::

    mean_k = sum(a[kH:(k+1)H]) / H
    var_k  = sum((a[kH:(k+1)H] - mean_k)²) / H        (biased, as LayerNorm)
    â[kH:(k+1)H] = (a[kH:(k+1)H] - mean_k) * rstd_k,  rstd_k = 1 / sqrt(var_k + EPS)

and the gain and shift are applied by the caller, fused with the gate loop.
Backward, for ``dâ`` the gradient of the normalised block (gain applied)::

    da = rstd_k * (dâ - mean(dâ) - â * mean(dâ * â))

Each row is computed on its own in a fixed order, so results do not depend on
the thread count. Sums are plain loops: two passes (mean, then centred
squares) rather than ``E[a²] - E[a]²``, which cancels badly in float32.
"""

import math
import sys

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels.activations import typed
from numrnn.kernels.jit import PRANGE_ONLY, inline_kernel, jit

__all__ = ["EPS", "input_gradients", "layer_normalised", "normalise_blocks", "normalise_rows",
           "normalised_gradient", "normalised_gradients", "one_allocation",
           "recycled_allocation", "row_kernel", "sum_positions"]

# Added to the variance, as torch.nn.LayerNorm's default.
EPS = 1e-5

# For the kernels that normalise a row: "reassoc" lets LLVM vectorise the sums
# (a scalar chain of adds otherwise), "contract" fuses multiply-adds. The order
# is fixed when the kernel compiles, the same for every row and thread count.
row_kernel = jit(fastmath={"reassoc", "contract"})


def layer_normalised(options, supported=True):
    """Whether ``options`` ask for the layer-normalised cell (``layer_norm``, False by
    default); the LSTM's and GRU's entry points dispatch on it. ``supported``: whether
    the cell's other options allow it (the GRU's only with ``reset_after=True``)."""
    layer_norm = options.get("layer_norm", False)
    if not isinstance(layer_norm, (bool, np.bool_)):
        raise ArgumentError(f"layer_norm must be True or False, got {layer_norm!r}")
    if layer_norm and not supported:
        raise ArgumentError(f"layer_norm=True is not available with the options {options}")
    return bool(layer_norm)


def one_allocation(shapes, dtype, zeroed):
    """C-contiguous arrays of ``shapes``, carved one after another from one allocation
    (zero-filled with ``zeroed``, else as allocated).

    A layer-normalised cell keeps several (T, B, N) residuals per call. Allocated
    one by one, each fresh array's pages fault in on first write, once per call:
    at B = 32, T = 50, H = 128 (13 MB of residuals, arrays under NumPy's 4 MB
    huge-page threshold) that was 7 of the LSTM forward's 13 ms of CPU time;
    one allocation of the sum takes huge pages, and took 0.5 ms.
    """
    sizes = [int(np.prod(shape)) for shape in shapes]
    slab = (np.zeros if zeroed else np.empty)(sum(sizes), dtype=dtype)
    parts, offset = [], 0
    for shape, size in zip(shapes, sizes):
        parts.append(slab[offset:offset + size].reshape(shape))
        offset += size
    return parts


# The slab each call site of recycled_allocation carved last, by site.
_SLABS = {}


def recycled_allocation(site, shapes, dtype):
    """:func:`one_allocation` (not zero-filled) from the slab the previous call at ``site``
    carved, where nothing refers to any part of it any more; else a fresh one.

    Past glibc's largest mmap threshold (32 MB) every fresh allocation is a new
    mapping, its pages faulted in and zeroed by the kernel on first write and
    unmapped when freed: at "medium" (B = 64, T = 100, I = H = 256) the
    layer-normalised LSTM's 99 MB of residuals and 52 MB of gradients cost 577
    page faults and 38 ms of system time per training step on one thread,
    against 226 ms of user time. A training loop's residuals are freed after
    each backward, so the next call finds the slab free and writes into mapped
    pages. The cost: each site keeps its last slab (the size of its last call)
    until the next call or the end of the process.
    """
    shapes = [tuple(shape) for shape in shapes]
    size = sum(int(np.prod(shape)) for shape in shapes)
    slab = _SLABS.pop(site, None)
    # Two references, the name here and getrefcount's argument: no part carved from
    # it is alive (each view refers to the slab as its base).
    if slab is None or slab.dtype != dtype or slab.size != size or sys.getrefcount(slab) > 2:
        slab = np.empty(size, dtype=dtype)
    parts, offset = [], 0
    for shape in shapes:
        count = int(np.prod(shape))
        parts.append(slab[offset:offset + count].reshape(shape))
        offset += count
    _SLABS[site] = slab
    return parts


def sum_positions(values):
    """Sum over every (t, b) position of a (T, B, N) array: (N,)."""
    return values.reshape(-1, values.shape[2]).sum(axis=0)


@inline_kernel
def normalise_blocks(row, blocks, inverse):
    """Normalise each of the ``blocks`` gate blocks of ``row`` in place; ``inverse[k]``
    receives block ``k``'s ``rstd``."""
    hidden = row.shape[0] // blocks
    zero, scale = typed(0.0, row), typed(1.0 / hidden, row)
    for k in range(blocks):
        block = row[k * hidden:(k + 1) * hidden]
        total = zero
        for j in range(hidden):
            total += block[j]
        mean = total * scale
        squares = zero
        for j in range(hidden):
            centred = block[j] - mean
            squares += centred * centred
        rstd = typed(1.0, row) / math.sqrt(squares * scale + typed(EPS, row))
        for j in range(hidden):
            block[j] = (block[j] - mean) * rstd
        inverse[k] = rstd


@inline_kernel
def normalised_gradient(grad, normalised, gain, rstd, out):
    """``out = rstd * (d - mean(d) - normalised * mean(d * normalised))`` with ``d = grad *
    gain``: the gradient of one block's input from its output's gradient ``grad``."""
    hidden = grad.shape[0]
    zero, scale = typed(0.0, grad), typed(1.0 / hidden, grad)
    total, along = zero, zero
    for j in range(hidden):
        scaled = grad[j] * gain[j]
        total += scaled
        along += scaled * normalised[j]
    mean, mean_along = total * scale, along * scale
    for j in range(hidden):
        out[j] = rstd * (grad[j] * gain[j] - mean - normalised[j] * mean_along)


@inline_kernel
def normalised_gradients(grad, normalised, gain, inverse, out):
    """:func:`normalised_gradient` for every gate block of one row (``inverse`` per block)."""
    blocks = inverse.shape[0]
    hidden = grad.shape[0] // blocks
    for k in range(blocks):
        first, stop = k * hidden, (k + 1) * hidden
        normalised_gradient(grad[first:stop], normalised[first:stop], gain[first:stop],
                            inverse[k], out[first:stop])


@jit(parallel=PRANGE_ONLY, fastmath={"reassoc", "contract"})
def normalise_rows(values, inverse):
    """Normalise every (t, b) row of ``values`` (T, B, G*H) in place, block by block;
    ``inverse`` (T, B, G) receives each block's ``rstd``. Rows run in parallel."""
    steps, batch = values.shape[0], values.shape[1]
    for index in prange(steps * batch):
        t, b = index // batch, index % batch
        normalise_blocks(values[t, b], inverse.shape[2], inverse[t, b])


@jit(parallel=PRANGE_ONLY, fastmath={"reassoc", "contract"})
def input_gradients(grad, normalised, gain, inverse, out):
    """``out[t, b]`` = :func:`normalised_gradients` of every (t, b) row of ``grad``
    (T, B, G*H): the gradient of the input projection. Rows run in parallel."""
    steps, batch = grad.shape[0], grad.shape[1]
    for index in prange(steps * batch):
        t, b = index // batch, index % batch
        normalised_gradients(grad[t, b], normalised[t, b], gain, inverse[t, b], out[t, b])
