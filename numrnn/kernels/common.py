"""Helpers the fused recurrent kernels share (GRU, Elman, LSTM): batch blocks, time order, biases.

The block and time helpers are small, inlined into the callers' loops, and
allocate nothing; the bias helpers run once per call. Gate activations live in
:mod:`numrnn.kernels.activations`.
"""

import numpy as np

from numrnn.kernels.jit import kernel

# Rows per batch block. Each block runs its whole recurrence on one core, with
# its own GEMM per step on one BLAS thread; blocks run in parallel (prange), so
# a call has one parallel region, not a barrier per step. Derived from the
# batch size only, never from the thread count: a row's arithmetic then never
# depends on how many threads there are, so results are bit-identical for any
# count. Every per-step sgemm call repacks W_hh, so its efficiency grows with
# the rows it gets (NumPy's OpenBLAS, one thread, K = 512, N = 2048: about 54-68
# GFLOP/s at 32 rows and 77 at 64, against ~84 for a large GEMM): 32-row blocks
# where the batch has at least two of them, 16-row blocks where it has two of
# those (the "small" batch of 32 makes two), and below 32 rows two blocks of
# half the batch each, so that a small batch still keeps two cores busy: with
# 16-row blocks a batch of 5 to 16 rows was one block on one core. Halving,
# against 16-row blocks, 2 threads, T = 50 (in one process, interleaved, medians,
# forward only unless marked): LSTM 0.53-0.90 of the time at B = 2..24 and
# H = 64..512; GRU 0.77-1.00 at B = 2..16, training 0.69-1.01; Elman 0.63-0.89,
# but 1.06-1.08 at H = 64 and B = 4 or 8, where a step is too short to pay
# for the second core. On one thread two blocks of a 2-row batch cost
# 1.06-1.16x (each streams W_hh), larger batches 0.93-1.07x. Blocks of up to
# numrnn.kernels.matvec.MAX_ROWS rows skip BLAS for matrix-vector loops.
BLOCK_ROWS = 32
SMALL_BATCH_BLOCK_ROWS = 16


@kernel
def block_size(batch):
    """Rows per block for a batch of ``batch`` rows (the last block may have fewer):
    32 from 64 rows, 16 from 32 rows, else half the batch (rounded up)."""
    if batch >= 2 * BLOCK_ROWS:
        return BLOCK_ROWS
    if batch >= 2 * SMALL_BATCH_BLOCK_ROWS:
        return SMALL_BATCH_BLOCK_ROWS
    return (batch + 1) // 2


@kernel
def block_count(batch):
    """Number of batch blocks."""
    size = block_size(batch)
    return (batch + size - 1) // size


@kernel
def block_rows(block, batch):
    """``(first, stop)``: the batch rows of block number ``block``."""
    size = block_size(batch)
    first = block * size
    return first, min(first + size, batch)


@kernel
def time_index(step, length, reverse):
    """Sequence position a row of ``length`` valid steps visits at recurrence ``step``.

    Forward rows visit ``0 .. length - 1``; reverse rows visit ``length - 1 .. 0``,
    so a padded row runs over its own valid part only, as PyTorch's reverse
    direction does on a packed sequence. Callers only ask for ``step < length``.
    """
    if reverse:
        return length - 1 - step
    return step


@kernel
def combined_bias(bias_ih, bias_hh, rows, like):
    """``b_ih + b_hh`` (zeros for a missing one, None): the one bias a gate loop adds.

    ``rows`` entries of ``like``'s dtype. Added in the loop rather than by
    passes over the (T, B, G*H) projection, which at the large configuration
    (52 MB in float32) cost a full memory pass per bias.
    """
    bias = np.zeros(rows, dtype=like.dtype)
    if bias_ih is not None:
        bias += bias_ih
    if bias_hh is not None:
        bias += bias_hh
    return bias


@kernel
def stacked_biases(bias_ih, bias_hh, rows, like):
    """``b_ih`` and ``b_hh`` as the rows of one (2, rows) array, zeros for a missing one.

    For the GRU, whose n gate adds ``b_hn`` inside ``r * (W_hn h + b_hn)``, so the
    two biases cannot be summed.
    """
    biases = np.zeros((2, rows), dtype=like.dtype)
    if bias_ih is not None:
        biases[0] = bias_ih
    if bias_hh is not None:
        biases[1] = bias_hh
    return biases
