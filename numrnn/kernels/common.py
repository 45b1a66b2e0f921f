"""Helpers the fused recurrent kernels share (GRU, Elman, LSTM): batch blocks, time order,
biases, recurrent dropout masks.

The block and time helpers are small, inlined into the callers' loops, and
allocate nothing; the bias helpers run once per call. How many rows a block
has is the plan's rule (:func:`numrnn.kernels.plan.block_size`); gate
activations live in :mod:`numrnn.kernels.activations`.
"""

import numpy as np

from numrnn.kernels.jit import inline_kernel, linked_kernel
from numrnn.kernels.plan import block_size


@inline_kernel
def block_rows(block, batch):
    """``(first, stop)``: the batch rows of block number ``block``."""
    size = block_size(batch)
    first = block * size
    return first, min(first + size, batch)


@inline_kernel
def time_index(step, length, reverse):
    """Sequence position a row of ``length`` valid steps visits at recurrence ``step``.

    Forward rows visit ``0 .. length - 1``; reverse rows visit ``length - 1 .. 0``,
    so a padded row runs over its own valid part only, as PyTorch's reverse
    direction does on a packed sequence. Callers only ask for ``step < length``.
    """
    if reverse:
        return length - 1 - step
    return step


@inline_kernel
def longest_length(lengths, first, stop):
    """The longest of ``lengths[first:stop]`` (a block's rows; at least one).

    A loop rather than ``lengths[first:stop].max()``, whose numba implementation
    compiles an array iterator and ``np.take`` (the cost of a first call,
    docs/performance.md "Cold start").
    """
    longest = lengths[first]
    for b in range(first + 1, stop):
        longest = max(longest, lengths[b])
    return longest


@linked_kernel
def combined_bias(bias_ih, bias_hh, rows, like):
    """``b_ih + b_hh`` (zeros for a missing one, None): the one bias a gate loop adds.

    ``rows`` entries of ``like``'s dtype. Added in the loop rather than by
    passes over the (T, B, G*H) projection, which at the large configuration
    (52 MB in float32) cost a full memory pass per bias.
    """
    bias = np.zeros(rows, dtype=like.dtype)
    # Element loops rather than `bias += bias_ih`, which compiles numba's ufunc
    # machinery (see stacked_biases).
    if bias_ih is not None:
        for j in range(rows):
            bias[j] += bias_ih[j]
    if bias_hh is not None:
        for j in range(rows):
            bias[j] += bias_hh[j]
    return bias


@linked_kernel
def stacked_biases(bias_ih, bias_hh, rows, like):
    """``b_ih`` and ``b_hh`` as the rows of one (2, rows) array, zeros for a missing one.

    For the GRU, whose n gate adds ``b_hn`` inside ``r * (W_hn h + b_hn)``, so the
    two biases cannot be summed.
    """
    biases = np.zeros((2, rows), dtype=like.dtype)
    # Element loops, not `biases[0] = bias_ih`: numba checks a slice assignment's
    # shapes at run time and compiles the formatting of its error message (seconds
    # of a first call with an empty cache, docs/performance.md "Cold start").
    if bias_ih is not None:
        for j in range(rows):
            biases[0, j] = bias_ih[j]
    if bias_hh is not None:
        for j in range(rows):
            biases[1, j] = bias_hh[j]
    return biases


@inline_kernel
def copy_row(source, target):
    """``target[:] = source`` for two rows of the same length, as a loop: a slice
    assignment checks shapes at run time and copies element by element without vector
    code (numrnn.kernels.jit)."""
    for j in range(source.shape[0]):
        target[j] = source[j]


@inline_kernel
def joint_buffers(x, state, recurrent_mask, first, rows):
    """A joint-step block's ``(joint, h_kept)`` at its start (LSTM and Elman RNN).

    ``joint`` (rows, I + H) takes each row's ``[x_t, h_{t-1}]``: its tail starts as
    the block's rows of ``state``, times their recurrent masks where there are any,
    and ``h_kept`` (rows, H; empty without masks) then keeps the unmasked state.
    Element loops, not slice assignments: numba checks a slice assignment's shapes at
    run time and compiles the formatting of its error message, which took seconds of
    a first call's compilation (docs/performance.md, "Cold start").
    """
    n_in, hidden = x.shape[2], state.shape[1]
    masked = recurrent_mask.shape[0] > 0
    joint = np.empty((rows, n_in + hidden), dtype=x.dtype)
    h_kept = np.empty((rows if masked else 0, hidden), dtype=x.dtype)
    for r in range(rows):
        h_row, joint_row = state[first + r], joint[r]
        for j in range(hidden):
            joint_row[n_in + j] = h_row[j]
        if masked:
            kept_row, mask_row = h_kept[r], recurrent_mask[first + r]
            for j in range(hidden):
                kept_row[j] = h_row[j]
                joint_row[n_in + j] = h_row[j] * mask_row[j]
    return joint, h_kept


@inline_kernel
def mask_rows(rows, mask, first, out):
    """``out[r] = rows[r] * mask[first + r]``: a block's rows of h (or of the gradient
    through ``W_hh``) times their variational recurrent dropout masks, fixed per row."""
    for r in range(rows.shape[0]):
        row, mask_row, out_row = rows[r], mask[first + r], out[r]
        for j in range(row.shape[0]):
            out_row[j] = row[j] * mask_row[j]
