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

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels.activations import typed
from numrnn.kernels.jit import PRANGE_ONLY, inline_kernel, jit

__all__ = ["EPS", "block_statistics", "gradient_from_means", "input_gradients",
           "layer_normalised", "normalise_blocks", "normalise_blocks_into", "normalise_rows",
           "normalised_gradient", "normalised_gradients", "row_kernel", "sum_positions"]

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


def sum_positions(values):
    """Sum over every (t, b) position of a (T, B, N) array: (N,)."""
    return values.reshape(-1, values.shape[2]).sum(axis=0)


@inline_kernel
def block_statistics(block):
    """``(mean, rstd)`` of one block of values."""
    hidden = block.shape[0]
    zero, scale = typed(0.0, block), typed(1.0 / hidden, block)
    total = zero
    for j in range(hidden):
        total += block[j]
    mean = total * scale
    squares = zero
    for j in range(hidden):
        centred = block[j] - mean
        squares += centred * centred
    return mean, typed(1.0, block) / math.sqrt(squares * scale + typed(EPS, block))


@inline_kernel
def normalise_blocks_into(row, blocks, out, inverse):
    """Write each of the ``blocks`` gate blocks of ``row``, normalised, to ``out`` (the
    same length; not ``row`` itself: the loop would lose its vector code to an overlap
    check that fails); ``inverse[k]`` receives block ``k``'s ``rstd``."""
    hidden = row.shape[0] // blocks
    for k in range(blocks):
        first, stop = k * hidden, (k + 1) * hidden
        block, normalised = row[first:stop], out[first:stop]
        mean, rstd = block_statistics(block)
        for j in range(hidden):
            normalised[j] = (block[j] - mean) * rstd
        inverse[k] = rstd


@inline_kernel
def normalise_blocks(row, blocks, inverse):
    """Normalise each of the ``blocks`` gate blocks of ``row`` in place; ``inverse[k]``
    receives block ``k``'s ``rstd``."""
    hidden = row.shape[0] // blocks
    for k in range(blocks):
        block = row[k * hidden:(k + 1) * hidden]
        mean, rstd = block_statistics(block)
        for j in range(hidden):
            block[j] = (block[j] - mean) * rstd
        inverse[k] = rstd


@inline_kernel
def gradient_from_means(grad, normalised, gain, rstd, mean, mean_along, out):
    """``out = rstd * (d - mean - normalised * mean_along)`` with ``d = grad * gain``, given
    ``mean = mean(d)`` and ``mean_along = mean(d * normalised)``."""
    for j in range(grad.shape[0]):
        out[j] = rstd * (grad[j] * gain[j] - mean - normalised[j] * mean_along)


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
    gradient_from_means(grad, normalised, gain, rstd, total * scale, along * scale, out)


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
