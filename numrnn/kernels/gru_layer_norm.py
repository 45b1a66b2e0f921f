"""The fused layer-normalised GRU: its forward.

:mod:`numrnn.kernels.gru` runs it when its options hold ``layer_norm=True``
(with ``reset_after=True``, PyTorch's variant); the backward recurrence is
:mod:`numrnn.kernels.gru_layer_norm_backward`. Gate order (r, z, n) and the
standard four weights are PyTorch's; four more parameters follow them, the
gains and shifts ``γ_ih, β_ih, γ_hh, β_hh`` (3H,) of the two pre-activations.
With ``LN`` the normalisation of each gate block of H values on its own
(:mod:`numrnn.kernels.layer_norm_rows`, eps 1e-5), ``â = γ_ih * LN(W_ih x_t) +
β_ih + b_ih`` and ``ĥ = γ_hh * LN(W_hh h_{t-1}) + β_hh + b_hh``::

    r  = sigmoid(â_r + ĥ_r)
    z  = sigmoid(â_z + ĥ_z)
    n  = tanh(â_n + r * ĥ_n)
    h_t = (1 - z) * n + z * h_{t-1}

r multiplies the whole normalised recurrent part of n, shift and bias
included, as it multiplies ``W_hn h + b_hn`` in PyTorch's GRU. Structure as
:mod:`numrnn.kernels.lstm_layer_norm`: one GEMM and a parallel normalisation
for the input products of all steps, then per batch block one ``h W_hhᵀ``
product per step, normalised and gated row by row; results are bit-identical
for any thread count.

A recurrent dropout mask ``m`` (B, H) multiplies h where it enters the
recurrent product, ``ĥ = γ_hh * LN(W_hh (m * h_{t-1})) + β_hh + b_hh``, while
the update ``z * h_{t-1}`` carries the unmasked state, as in
:mod:`numrnn.kernels.gru`.
"""

import numpy as np
from numba import prange

from numrnn.kernels.activations import sigmoid, tanh, typed
from numrnn.kernels.common import block_rows, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import kernel, parallel_kernel
from numrnn.kernels.layer_norm_rows import (
    normalise_blocks,
    normalise_rows,
    row_kernel,
)
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory

__all__ = ["run"]


@row_kernel
def _step_row(b, t, norm_ih, rec_row, rec_inverse, gain_ih, gain_hh, biases, h_row, out_row,
              gate_row, hidden_n):
    """Advance batch row ``b`` by one step at position ``t``.

    ``rec_row`` holds ``h_{t-1} W_hhᵀ`` on entry and its normalised blocks on
    return (``rec_inverse`` their rstd); ``gate_row`` and ``hidden_n`` receive
    r, z, n and ``ĥ_n``: rows of the residuals when they are kept, scratch
    rows otherwise. ``biases[0]`` is ``β_ih + b_ih``, ``biases[1]`` ``β_hh + b_hh``.
    """
    hidden = h_row.shape[0]
    one = typed(1.0, h_row)
    normalise_blocks(rec_row, 3, rec_inverse)
    pre, in_bias, rec_bias = norm_ih[t, b], biases[0], biases[1]
    # NOTE: short loops over few arrays, as in numrnn.kernels.lstm_layer_norm, so
    # that each one vectorises.
    for k in range(2 * hidden):
        gate_row[k] = sigmoid(gain_ih[k] * pre[k] + in_bias[k]
                              + gain_hh[k] * rec_row[k] + rec_bias[k])
    gh_n, rec_n, bh_n = gain_hh[2 * hidden:], rec_row[2 * hidden:], rec_bias[2 * hidden:]
    for j in range(hidden):
        hidden_n[j] = gh_n[j] * rec_n[j] + bh_n[j]
    gi_n, in_n, bi_n = gain_ih[2 * hidden:], pre[2 * hidden:], in_bias[2 * hidden:]
    gate_r, gate_n = gate_row[:hidden], gate_row[2 * hidden:]
    for j in range(hidden):
        gate_n[j] = tanh(gi_n[j] * in_n[j] + bi_n[j] + gate_r[j] * hidden_n[j])
    gate_z = gate_row[hidden:2 * hidden]
    for j in range(hidden):
        h_row[j] = (one - gate_z[j]) * gate_n[j] + gate_z[j] * h_row[j]
    out_row[:] = h_row


@kernel
def _run_block(block, norm_ih, weight_hh_t, gain_ih, gain_hh, biases, lengths, reverse, state,
               output, gates, hidden_n, norm_hh, inv_hh, h_prev, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own product each step
    (of ``dropped``, the masked h, under a recurrent mask)."""
    batch, hidden = state.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    h_block = state[first:stop].copy()
    recurrent = np.empty((rows, 3 * hidden), dtype=state.dtype)
    scratch_gates = np.empty((rows, 3 * hidden), dtype=state.dtype)
    scratch_hn = np.empty((rows, hidden), dtype=state.dtype)
    scratch_inverse = np.empty((rows, 3), dtype=state.dtype)
    masked = recurrent_mask.shape[0] > 0
    dropped = np.empty_like(h_block) if masked else h_block
    for step in range(lengths[first:stop].max()):
        if masked:
            mask_rows(h_block, recurrent_mask, first, dropped)
        product(dropped, weight_hh_t, recurrent)
        for r in range(rows):
            b, length = first + r, lengths[first + r]
            if step >= length:
                continue
            t = time_index(step, length, reverse)
            if keep:
                h_prev[t, b] = h_block[r]
                norm_hh[t, b] = recurrent[r]
                _step_row(b, t, norm_ih, norm_hh[t, b], inv_hh[t, b], gain_ih, gain_hh, biases,
                          h_block[r], output[t, b], gates[t, b], hidden_n[t, b])
            else:
                _step_row(b, t, norm_ih, recurrent[r], scratch_inverse[r], gain_ih, gain_hh,
                          biases, h_block[r], output[t, b], scratch_gates[r], scratch_hn[r])
    state[first:stop] = h_block


@parallel_kernel
def _forward(x, weight_ih, weight_hh_t, gain_ih, gain_hh, biases, lengths, reverse, h0, norm_ih,
             inv_ih, output, gates, hidden_n, norm_hh, inv_hh, h_prev, keep, recurrent_mask):
    """Run all steps in one compiled call; returns h_n (B, H).

    ``norm_ih`` (T, B, 3H) receives ``LN(x W_ihᵀ)`` block by block and
    ``inv_ih`` (T, B, 3) the rstd of each block; ``output`` (T, B, H) must hold
    zeros at padded positions. With ``keep``, at each valid position ``gates`` (T, B, 3H)
    receives r, z, n, ``hidden_n`` (T, B, H) ``ĥ_n``, ``norm_hh`` (T, B, 3H)
    and ``inv_hh`` (T, B, 3) the normalised recurrent product and its rstd,
    and ``h_prev`` the state the step started from (unmasked); the rest stays as
    allocated (zeros where a row is padded). ``recurrent_mask``
    (B, H), or empty for none, multiplies each row's h before the recurrent product.
    """
    project_inputs(x, weight_ih, norm_ih)
    normalise_rows(norm_ih, inv_ih)
    state = h0.copy()
    blocks = block_count(x.shape[1])
    if blocks == 1:
        _run_block(np.int64(0), norm_ih, weight_hh_t, gain_ih, gain_hh, biases, lengths, reverse,
                   state, output, gates, hidden_n, norm_hh, inv_hh, h_prev, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), norm_ih, weight_hh_t, gain_ih, gain_hh, biases, lengths,
                       reverse, state, output, gates, hidden_n, norm_hh, inv_hh, h_prev, keep,
                       recurrent_mask)
    return state


# The memory of the training residuals, and of inference's input projection, reused
# from call to call (kernels/reused_memory.py).
_RESIDUALS = ReusedMemory()
_PROJECTION = ReusedMemory()


def run(x, states, weights, lengths, reverse, keep, recurrent_mask):
    """This variant's part of the contract (:mod:`numrnn.kernels.recurrent`), called by
    :mod:`numrnn.kernels.gru` on ready arrays (``recurrent_mask`` (B, H), or empty
    for none). ``weights`` are the standard four,
    then ``γ_ih, β_ih, γ_hh, β_hh``; saved is ``(norm_ih, inv_ih, gates, hidden_n,
    norm_hh, inv_hh, h_prev)``."""
    (h0,) = states
    weight_ih, weight_hh, bias_ih, bias_hh, gain_ih, shift_ih, gain_hh, shift_hh = weights
    steps, batch, n_in = x.shape
    hidden = weight_hh.shape[1]
    dtype = x.dtype

    # One allocation for the residuals (kernels/reused_memory.py). Kept or
    # not, norm_ih and inv_ih are filled everywhere; the other residuals and the
    # output at valid positions only, so padded ones start as zeros (backward's
    # GEMMs read them). The (T, B, 3) parts go last, so that the wide ones keep
    # the allocation's alignment.
    padded = lengths.size > 0 and lengths.min() < steps
    wide, narrow, per_block = (steps, batch, 3 * hidden), (steps, batch, hidden), (steps, batch, 3)
    if keep:
        norm_ih, gates, norm_hh, hidden_n, h_prev, inv_ih, inv_hh = _RESIDUALS.arrays(
            (wide, wide, wide, narrow, narrow, per_block, per_block), dtype, padded)
    else:
        norm_ih, inv_ih = _PROJECTION.arrays((wide, per_block), dtype, False)
        gates = norm_hh = hidden_n = h_prev = inv_hh = np.zeros((0, 0, 0), dtype)
    output = (np.zeros if padded else np.empty)((steps, batch, hidden), dtype=dtype)
    biases = np.stack([shift_ih if bias_ih is None else shift_ih + bias_ih,
                       shift_hh if bias_hh is None else shift_hh + bias_hh])
    plan = plan_for(dtype, batch, steps, n_in, hidden, 3, joint=False)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight)
    with kernel_blas(plan.pins_blas):
        state = _forward(x, weight_ih, weight_hh_t, gain_ih, gain_hh, biases, lengths, reverse,
                         h0, norm_ih, inv_ih, output, gates, hidden_n, norm_hh, inv_hh, h_prev,
                         keep, recurrent_mask)
    return output, (state,), (norm_ih, inv_ih, gates, hidden_n, norm_hh, inv_hh, h_prev)
