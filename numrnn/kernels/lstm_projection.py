"""The fused LSTM with a projection (PyTorch's ``proj_size``): its forward.

:mod:`numrnn.kernels.lstm` runs this when its options hold ``proj_size`` P > 0;
the backward recurrence is :mod:`numrnn.kernels.lstm_projection_backward`.
The cell is PyTorch's LSTM with one more product per step, after the cell
update::

    gates = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh          (B, 4H), W_hh (4H, P)
    i, f, g, o as in the plain LSTM;  c_t = f * c_{t-1} + i * g  (B, H)
    m_t = o * tanh(c_t)                                        (B, H)
    h_t = m_t W_hrᵀ                                            (B, P), W_hr (P, H)

so ``h`` (and the output) has P features and ``c`` has H. The structure is the
plain LSTM's projection path: one input-projection GEMM before the loop,
``lengths`` and ``reverse`` handled per row, fixed batch blocks each running
its whole recurrence (both products included) on one core, so results are
bit-identical for any thread count. A block's ``m W_hrᵀ`` covers all its rows;
a row past its length has its product computed and ignored, its state left
alone. There is no joint step: large float32 batches take the projection path
with packed weights (``plan_for(..., joint=False)``).

Recurrent dropout (:mod:`numrnn.kernels.recurrent`) masks what feeds back: the
projected ``h_{t-1}`` (P features) is multiplied by its row's mask (B, P)
before ``W_hhᵀ``; ``m_t``, ``c_t`` and the output are not masked.
"""

import numpy as np
from numba import prange

from numrnn.kernels.common import block_rows, combined_bias, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import inline_kernel, kernel, parallel_kernel
from numrnn.kernels.lstm import _cell_update
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for


@inline_kernel
def _zero_padding(step, b, output, gates, cells, keep):
    """Row ``b``'s output at padded position ``step`` to zeros, with ``keep`` its gates
    and cells too (each padded position is zeroed once, as in the plain LSTM)."""
    for j in range(output.shape[2]):
        output[step, b, j] = 0.0
    if keep:
        for j in range(gates.shape[2]):
            gates[step, b, j] = 0.0
        for j in range(cells.shape[2]):
            cells[step, b, j] = 0.0


@kernel
def _cell_row(b, r, t, projection, recurrent, bias, c_state, m_block, cells, keep):
    """Row ``b``'s (row ``r`` of its block) gates, ``c_t`` and ``m_t`` at position ``t``;
    with ``keep`` the gate activations overwrite its projection and c_t goes to cells."""
    hidden = c_state.shape[1]
    # NOTE: row views per gate, as in numrnn.kernels.lstm, so the loop vectorises.
    pre_i, pre_f = projection[t, b, :hidden], projection[t, b, hidden:2 * hidden]
    pre_g, pre_o = projection[t, b, 2 * hidden:3 * hidden], projection[t, b, 3 * hidden:]
    rec_i, rec_f = recurrent[r, :hidden], recurrent[r, hidden:2 * hidden]
    rec_g, rec_o = recurrent[r, 2 * hidden:3 * hidden], recurrent[r, 3 * hidden:]
    bias_i, bias_f = bias[:hidden], bias[hidden:2 * hidden]
    bias_g, bias_o = bias[2 * hidden:3 * hidden], bias[3 * hidden:]
    c_row, m_row = c_state[b], m_block[r]
    if keep:
        cell_row = cells[t, b]
        for j in range(hidden):
            i, f, g, o, c, m = _cell_update(
                pre_i[j] + rec_i[j] + bias_i[j], pre_f[j] + rec_f[j] + bias_f[j],
                pre_g[j] + rec_g[j] + bias_g[j], pre_o[j] + rec_o[j] + bias_o[j], c_row[j])
            c_row[j] = c
            m_row[j] = m
            pre_i[j], pre_f[j], pre_g[j], pre_o[j] = i, f, g, o
            cell_row[j] = c
    else:
        for j in range(hidden):
            _, _, _, _, c, m = _cell_update(
                pre_i[j] + rec_i[j] + bias_i[j], pre_f[j] + rec_f[j] + bias_f[j],
                pre_g[j] + rec_g[j] + bias_g[j], pre_o[j] + rec_o[j] + bias_o[j], c_row[j])
            c_row[j] = c
            m_row[j] = m


@kernel
def _run_block(block, projection, weight_hh_t, weight_hr_t, bias, lengths, reverse, h_state,
               c_state, output, cells, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``: per step ``h W_hhᵀ`` (h masked
    first with a recurrent mask), the cell rows, then ``m W_hrᵀ``."""
    steps, batch, n_gates = projection.shape
    proj_size = h_state.shape[1]
    first, stop = block_rows(block, batch)
    rows = stop - first
    h_block = h_state[first:stop].copy()
    recurrent = np.empty((rows, n_gates), dtype=projection.dtype)
    # Zeros, not empty: a row past its length still enters the block's products.
    m_block = np.zeros((rows, n_gates // 4), dtype=projection.dtype)
    projected = np.empty((rows, proj_size), dtype=projection.dtype)
    longest = lengths[first:stop].max()
    masked = recurrent_mask.shape[0] > 0
    dropped = np.empty_like(h_block) if masked else h_block
    for step in range(steps):
        if step < longest:
            if masked:
                mask_rows(h_block, recurrent_mask, first, dropped)
            product(dropped, weight_hh_t, recurrent)  # dropped is h_block when unmasked
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _cell_row(first + r, r, time_index(step, length, reverse), projection,
                          recurrent, bias, c_state, m_block, cells, keep)
            else:
                _zero_padding(step, first + r, output, projection, cells, keep)
        if step < longest:
            product(m_block, weight_hr_t, projected)
            for r in range(rows):
                length = lengths[first + r]
                if step < length:
                    h_block[r] = projected[r]
                    output[time_index(step, length, reverse), first + r] = projected[r]
    h_state[first:stop] = h_block


@parallel_kernel
def _forward(x, weight_ih, weight_hh_t, weight_hr_t, bias_ih, bias_hh, lengths, reverse, h0,
             c0, projection, output, cells, keep, recurrent_mask):
    """Run the projected LSTM over all steps in one compiled call.

    Parameters
    ----------
    x : (T, B, I), C-contiguous
    weight_ih : (4H, I)
    weight_hh_t, weight_hr_t : (P, 4H), (H, P)
        ``W_hhᵀ`` and ``W_hrᵀ`` as the plan holds them (views, row-major copies or
        packed panels; :func:`numrnn.kernels.matvec.product_weight`).
    bias_ih, bias_hh : (4H,) or None
    lengths : (B,) int64; reverse : bool
    h0 : (B, P); c0 : (B, H)
    projection : (T, B, 4H)
        Receives ``x W_ihᵀ``; with ``keep`` overwritten by the gate activations
        (zeros at padded positions).
    output : (T, B, P)
        h at valid positions, zeros elsewhere.
    cells : (T, B, H) with ``keep``, else empty
        c_t at valid positions, zeros elsewhere.
    recurrent_mask : (B, P), or empty for none
        Recurrent dropout: each row's h is multiplied by its mask row before
        ``W_hhᵀ``.

    Returns
    -------
    h_n : (B, P); c_n : (B, H)
    """
    project_inputs(x, weight_ih, projection)
    bias = combined_bias(bias_ih, bias_hh, weight_ih.shape[0], x)
    h_state, c_state = h0.copy(), c0.copy()
    blocks = block_count(x.shape[1])
    if blocks == 1:
        _run_block(np.int64(0), projection, weight_hh_t, weight_hr_t, bias, lengths, reverse,
                   h_state, c_state, output, cells, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), projection, weight_hh_t, weight_hr_t, bias, lengths,
                       reverse, h_state, c_state, output, cells, keep, recurrent_mask)
    return h_state, c_state


def run(x, states, weights, lengths, reverse, options, keep, recurrent_mask):
    """The projected LSTM's part of the contract (:mod:`numrnn.kernels.recurrent`);
    ``weights`` are ``(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)`` and saved is
    ``(output, gates, cells)``, as the plain LSTM's; ``recurrent_mask`` (B, P) or
    empty."""
    (h0, c0), (weight_ih, weight_hh, bias_ih, bias_hh, weight_hr) = states, weights
    steps, batch, n_in = x.shape
    proj_size, hidden = weight_hr.shape
    output = np.empty((steps, batch, proj_size), dtype=x.dtype)
    cells = np.empty((steps, batch, hidden) if keep else (0, 0, 0), dtype=x.dtype)
    projection = np.empty((steps, batch, 4 * hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 4, joint=False)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight)
    weight_hr_t = product_weight(weight_hr.T, plan.recurrent_weight)
    # Pinned always: the per-step products of a large block are GEMMs even where the
    # input projection is not.
    with kernel_blas(True):
        h_n, c_n = _forward(x, weight_ih, weight_hh_t, weight_hr_t, bias_ih, bias_hh, lengths,
                            reverse, h0, c0, projection, output, cells, keep, recurrent_mask)
    return output, (h_n, c_n), (output, projection, cells)
