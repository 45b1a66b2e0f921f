"""The fused layer-normalised LSTM (Ba, Kiros & Hinton 2016): its forward.

:mod:`numrnn.kernels.lstm` runs it when its options hold ``layer_norm=True``;
the backward recurrence is :mod:`numrnn.kernels.lstm_layer_norm_backward`.
Gate order (i, f, g, o) and the standard four weights are PyTorch's; six more
parameters follow them: the gains and shifts ``γ_ih, β_ih, γ_hh, β_hh`` (4H,)
of the two pre-activations and ``γ_c, β_c`` (H,) of the cell state. With
``LN`` the normalisation of each gate block of H values on its own
(:mod:`numrnn.kernels.layer_norm_rows`, eps 1e-5)::

    a   = γ_ih * LN(W_ih x_t) + β_ih + γ_hh * LN(W_hh (m ⊙ h_{t-1})) + β_hh + b_ih + b_hh
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);   g = tanh(a_g)
    c_t = f * c_{t-1} + i * g                        (carried on unnormalised)
    h_t = o * tanh(γ_c * LN(c_t) + β_c)

Structure as :mod:`numrnn.kernels.gru_reset_before`: the input products of all
steps are one GEMM before the recurrence, normalised row by row in parallel;
inside the time loop each batch block makes its own ``h W_hhᵀ`` product, then
normalises, gates and normalises the cell row by row. Where the recurrence
runs on packed ``W_hhᵀ`` (float32 batch blocks, as the plain LSTM's joint
step) and the input is short (:data:`BLOCK_PROJECTION_UP_TO`), each block
instead makes its own rows' input products before its recurrence, one per
step on ``W_ihᵀ`` packed, normalised as they come, in less time (the GEMM's
bits but for float32 rounding in some rows: :data:`BLOCK_PROJECTION_UP_TO`). ``lengths`` and
``reverse`` as in :mod:`numrnn.kernels.lstm`, and so is the recurrent dropout
mask ``m`` (B, H) (:mod:`numrnn.kernels.recurrent`; all ones without one): each
row's state is multiplied by its mask row before the recurrent product, and
carried on unmasked. Block boundaries do not depend on
the thread count, nor does any row's arithmetic, so results are bit-identical
for any thread count.
"""

import numpy as np
from numba import prange

from numrnn.kernels import packed
from numrnn.kernels.activations import sigmoid, tanh
from numrnn.kernels.common import block_rows, copy_row, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import inline_kernel, kernel, parallel_kernel
from numrnn.kernels.layer_norm_rows import (
    normalise_blocks_into,
    normalise_rows,
    row_kernel,
)
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import PACKED, block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory

__all__ = ["BLOCK_PROJECTION_UP_TO", "projects_by_block", "run", "shift_total"]


@inline_kernel
def _gate_block(k, gain_ih, pre, gain_hh, rec_row, bias, gate_row):
    """Block ``k``'s views of what its gate loop reads (``γ_ih``, ``â_ih``, ``γ_hh``,
    ``â_hh``, the bias) and of ``gate_row``, which it writes."""
    hidden = gate_row.shape[0] // 4
    first, stop = k * hidden, (k + 1) * hidden
    return (gain_ih[first:stop], pre[first:stop], gain_hh[first:stop], rec_row[first:stop],
            bias[first:stop], gate_row[first:stop])


@row_kernel
def _step_row(b, t, norm_ih, product_row, rec_row, rec_inverse, gain_ih, gain_hh, bias, gain_c,
              shift_c, h_row, c_row, out_row, gate_row, cell_row, normed_c, cell_inverse):
    """Advance batch row ``b`` by one step at position ``t``.

    ``product_row`` holds ``h_{t-1} W_hhᵀ``; ``rec_row`` receives its normalised
    blocks (``rec_inverse`` their rstd); ``gate_row``, ``cell_row``, ``normed_c``
    and ``cell_inverse`` receive i, f, g, o, c_t, LN(c_t) and its rstd: rows of
    the residuals when they are kept, scratch rows otherwise.
    """
    hidden = h_row.shape[0]
    normalise_blocks_into(product_row, 4, rec_row, rec_inverse)
    pre = norm_ih[t, b]
    # NOTE: one short loop per gate block, each over a few views: a loop reading and
    # writing a dozen views needs more runtime overlap checks than LLVM will emit,
    # and stays scalar (measured 3.5x slower forward). The activation goes in the
    # block's loop, so the block is written once.
    for k in range(4):
        g_ih, p, g_hh, r, add, gate = _gate_block(k, gain_ih, pre, gain_hh, rec_row, bias,
                                                  gate_row)
        if k == 2:
            for j in range(hidden):
                gate[j] = tanh(g_ih[j] * p[j] + g_hh[j] * r[j] + add[j])
        else:
            for j in range(hidden):
                gate[j] = sigmoid(g_ih[j] * p[j] + g_hh[j] * r[j] + add[j])
    gate_i, gate_f = gate_row[:hidden], gate_row[hidden:2 * hidden]
    gate_g, gate_o = gate_row[2 * hidden:3 * hidden], gate_row[3 * hidden:]
    for j in range(hidden):
        c = gate_f[j] * c_row[j] + gate_i[j] * gate_g[j]
        c_row[j] = c
        cell_row[j] = c
    normalise_blocks_into(c_row, 1, normed_c, cell_inverse)
    for j in range(hidden):
        h = gate_o[j] * tanh(gain_c[j] * normed_c[j] + shift_c[j])
        h_row[j] = h
        out_row[j] = h


@row_kernel
def _normalise_input_row(product_row, normalised, inverse):
    """``LN`` of each gate block of one row's input product into ``normalised``, the
    rstds into ``inverse``: the arithmetic of ``normalise_rows``, its fast-math
    flags included, so that a block's own products give the same bits."""
    normalise_blocks_into(product_row, 4, normalised, inverse)


@kernel
def _run_block(block, x, packed_ih, norm_ih, inv_ih, weight_hh_t, gain_ih, gain_hh, bias, gain_c,
               shift_c, lengths, reverse, h_state, c_state, output, gates, cells, norm_hh, inv_hh,
               norm_c, inv_c, h_prev, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own product each step.

    ``packed_ih`` None: ``norm_ih`` holds every position's normalised input product
    already. Else ``packed_ih`` is ``W_ihᵀ`` packed (:mod:`numrnn.kernels.packed`),
    and the block first makes its rows' input products at every position, one
    product a step, normalised into ``norm_ih[t, b]`` and ``inv_ih[t, b]``.
    """
    batch, hidden = h_state.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    h_block = h_state[first:stop].copy()
    recurrent = np.empty((rows, 4 * hidden), dtype=h_state.dtype)
    scratch_normed = np.empty((rows, 4 * hidden), dtype=h_state.dtype)
    scratch_gates = np.empty((rows, 4 * hidden), dtype=h_state.dtype)
    scratch_cells = np.empty((rows, hidden), dtype=h_state.dtype)
    scratch_normed_c = np.empty((rows, hidden), dtype=h_state.dtype)
    scratch_inverse = np.empty((rows, 5), dtype=h_state.dtype)
    masked = recurrent_mask.shape[0] > 0
    # What W_hh multiplies: the masked state, or the state itself.
    dropped = np.empty_like(h_block) if masked else h_block
    if packed_ih is not None:
        # Before the recurrence, so that only W_hhᵀ passes through the core's
        # caches at each step (both in turn, on two threads, was slower).
        block_inputs = np.empty((rows, x.shape[2]), dtype=x.dtype)
        projected = np.empty((rows, 4 * hidden), dtype=x.dtype)
        for t in range(x.shape[0]):
            for r in range(rows):
                copy_row(x[t, first + r], block_inputs[r])
            product(block_inputs, packed_ih, projected)
            for r in range(rows):
                _normalise_input_row(projected[r], norm_ih[t, first + r], inv_ih[t, first + r])
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
                copy_row(dropped[r], h_prev[t, b])
                _step_row(b, t, norm_ih, recurrent[r], norm_hh[t, b], inv_hh[t, b], gain_ih,
                          gain_hh, bias, gain_c, shift_c, h_block[r], c_state[b], output[t, b],
                          gates[t, b], cells[t, b], norm_c[t, b], inv_c[t, b])
            else:
                _step_row(b, t, norm_ih, recurrent[r], scratch_normed[r], scratch_inverse[r, :4],
                          gain_ih, gain_hh, bias, gain_c, shift_c, h_block[r], c_state[b],
                          output[t, b], scratch_gates[r], scratch_cells[r],
                          scratch_normed_c[r], scratch_inverse[r, 4:])
    for r in range(rows):
        copy_row(h_block[r], h_state[first + r])


@parallel_kernel
def _forward(x, weight_ih, packed_ih, weight_hh_t, gain_ih, gain_hh, bias, gain_c, shift_c,
             lengths, reverse, h0, c0, norm_ih, inv_ih, output, gates, cells, norm_hh, inv_hh,
             norm_c, inv_c, h_prev, keep, recurrent_mask):
    """Run all steps in one compiled call; returns ``(h_n, c_n)``.

    ``norm_ih`` (T, B, 4H) receives ``LN(x W_ihᵀ)`` block by block and
    ``inv_ih`` (T, B, 4) the rstd of each block, at every position: made by one
    GEMM and a parallel pass before the recurrence where ``packed_ih`` is None,
    else by each batch block for its rows, from ``packed_ih``, ``W_ihᵀ`` packed.
    ``output`` (T, B, H) must hold
    zeros at padded positions. With ``keep``, at each valid position ``gates`` (T, B, 4H)
    receives i, f, g, o, ``cells`` c_t, ``norm_hh`` (T, B, 4H) and ``inv_hh``
    (T, B, 4) the normalised recurrent product and its rstd, ``norm_c`` (T, B,
    H) and ``inv_c`` (T, B, 1) those of c_t, and ``h_prev`` the state the step
    started from, times the mask (the factor of ``dW_hh``); the rest stays as allocated
    (zeros where a row is padded). ``bias`` (4H,) is every
    additive term together: ``β_ih + β_hh + b_ih + b_hh``.
    """
    if packed_ih is None:
        project_inputs(x, weight_ih, norm_ih)
        normalise_rows(norm_ih, inv_ih)
    h_state, c_state = h0.copy(), c0.copy()
    blocks = block_count(x.shape[1])
    if blocks == 1:
        _run_block(np.int64(0), x, packed_ih, norm_ih, inv_ih, weight_hh_t, gain_ih, gain_hh,
                   bias, gain_c, shift_c, lengths, reverse, h_state, c_state, output, gates,
                   cells, norm_hh, inv_hh, norm_c, inv_c, h_prev, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), x, packed_ih, norm_ih, inv_ih, weight_hh_t, gain_ih,
                       gain_hh, bias, gain_c, shift_c, lengths, reverse, h_state, c_state,
                       output, gates, cells, norm_hh, inv_hh, norm_c, inv_c, h_prev, keep,
                       recurrent_mask)
    return h_state, c_state


def shift_total(shifts, biases):
    """The additive term of each pre-activation: the normalisations' shifts plus the
    cell's biases (a missing bias, None, adds nothing)."""
    total = shifts[0] + shifts[1]
    for bias in biases:
        if bias is not None:
            total = total + bias
    return total


# Longest input whose products each batch block makes itself, on W_ihᵀ packed,
# where the recurrence runs on packed W_hhᵀ (float32, batches of more than
# plan.MAX_ROWS rows, as the plain LSTM's joint step): the tiles run them at about
# 100 GFLOP/s a core against 77-86 for the chunked GEMM, each product's rows are
# normalised while in cache (no pass over (T, B, 4H) after the GEMM), and the
# forward is one parallel region instead of three. Up to here OpenBLAS's AVX-512
# float32 GEMM sums most outputs over the input in one ordered chain of
# multiply-adds, as the packed tiles do, and so gives their bits, but not in the
# last 1-4 rows of each 64 (its M tail, which it sums in another order) nor on
# other OpenBLAS kernels (OPENBLAS_CORETYPE=Haswell): there the two paths differ by
# float32 rounding. A longer input it sums in parts (I = 512 differed in more
# elements), and keeps the GEMM. Either path's bits are the same for any thread
# count.
BLOCK_PROJECTION_UP_TO = 256

# The memory of the training residuals, and of inference's input projection, reused
# from call to call (kernels/reused_memory.py).
_RESIDUALS = ReusedMemory()
_PROJECTION = ReusedMemory()


def projects_by_block(dtype, batch, steps, n_in, hidden):
    """Whether a call at these sizes has each batch block make its rows' input products
    on packed ``W_ihᵀ`` (where its recurrence runs on packed ``W_hhᵀ`` and the input
    is short) rather than one GEMM over the whole batch before the recurrence."""
    plan = plan_for(dtype, batch, steps, n_in, hidden, 4, joint=False)
    return plan.recurrent_weight == PACKED and n_in <= BLOCK_PROJECTION_UP_TO


def run(x, states, weights, lengths, reverse, keep, recurrent_mask):
    """This variant's part of the contract (:mod:`numrnn.kernels.recurrent`), called by
    :mod:`numrnn.kernels.lstm` on ready arrays. ``weights`` are the standard four,
    then ``γ_ih, β_ih, γ_hh, β_hh, γ_c, β_c``; saved is ``(norm_ih, inv_ih, gates,
    cells, norm_hh, inv_hh, norm_c, inv_c, h_prev)``. ``recurrent_mask`` (B, H), or
    empty for none."""
    (h0, c0) = states
    weight_ih, weight_hh, bias_ih, bias_hh, gain_ih, shift_ih, gain_hh, shift_hh, gain_c, \
        shift_c = weights
    steps, batch, n_in = x.shape
    hidden = weight_hh.shape[1]
    dtype = x.dtype

    # Kept or not, norm_ih and inv_ih are filled everywhere; the other residuals
    # and the output at valid positions only, so padded ones start as zeros
    # (backward reads them). The (T, B, 4) and (T, B, 1) parts go last, so that
    # the (T, B, 4H) ones keep the allocation's alignment (the (T, B, H) parts after
    # them are aligned only as far as T*B*H allows). The parts share one
    # lifetime: holding any of them keeps the whole allocation.
    padded = lengths.size > 0 and lengths.min() < steps
    wide, narrow = (steps, batch, 4 * hidden), (steps, batch, hidden)
    if keep:
        shapes = (wide, wide, wide, narrow, narrow, narrow, (steps, batch, 4),
                  (steps, batch, 4), (steps, batch, 1))
        (norm_ih, gates, norm_hh, cells, norm_c, h_prev, inv_ih, inv_hh,
         inv_c) = _RESIDUALS.arrays(shapes, dtype, padded)
    else:
        norm_ih, inv_ih = _PROJECTION.arrays((wide, (steps, batch, 4)), dtype, False)
        gates = norm_hh = cells = norm_c = h_prev = inv_hh = inv_c = np.zeros((0, 0, 0), dtype)
    output = (np.zeros if padded else np.empty)((steps, batch, hidden), dtype=dtype)
    bias = shift_total((shift_ih, shift_hh), (bias_ih, bias_hh))
    plan = plan_for(dtype, batch, steps, n_in, hidden, 4, joint=False)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight)
    packed_ih = None
    if projects_by_block(dtype, batch, steps, n_in, hidden):
        packed_ih = packed.pack(weight_ih.T)
    with kernel_blas(plan.pins_blas and packed_ih is None):
        h_n, c_n = _forward(x, weight_ih, packed_ih, weight_hh_t, gain_ih, gain_hh, bias, gain_c,
                            shift_c, lengths, reverse, h0, c0, norm_ih, inv_ih, output, gates,
                            cells, norm_hh, inv_hh, norm_c, inv_c, h_prev, keep, recurrent_mask)
    return output, (h_n, c_n), (norm_ih, inv_ih, gates, cells, norm_hh, inv_hh, norm_c, inv_c,
                                h_prev)
