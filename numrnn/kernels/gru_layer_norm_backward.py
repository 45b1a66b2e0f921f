"""Backpropagation through time for the layer-normalised GRU of :mod:`.gru_layer_norm`.

With ``ĥ_n`` the normalised recurrent part of n (gain, shift and bias
applied), one step back from ``dh = dL/dh_t`` (the output's gradient at t plus
what step t+1 sent back) is::

    da_n = dh * (1 - z) * (1 - n²);   da_z = dh * (h_{t-1} - n) * z(1-z)
    da_r = da_n * ĥ_n * r(1-r)
    input side  dâ = [da_r da_z da_n];   recurrent side  dĥ = [da_r da_z da_n * r]
    dR = LN'(dĥ; γ_hh) per gate block;   dh_{t-1} = dh * z + dR W_hh    (B, 3H) @ (3H, H)
    dP = LN'(dâ; γ_ih) per gate block

Everything a position's gradients need from ``dâ`` and ``dĥ`` is taken inside
the loop while the row is in cache, as in :mod:`.lstm_layer_norm_backward`:
the input side's ``dP`` (nothing sequential, but a pass over (T, B, 3H) arrays
after the loop, with its own arrays to fault in, cost more than the loop's row
work), and the sums the gains and shifts need, ``b_ih`` and ``β_ih`` ``Σ dâ``,
``b_hh`` and ``β_hh`` ``Σ dĥ``, the gains ``Σ dâ * LN(W_ih x)`` and ``Σ dĥ *
LN(W_hh h)``, accumulated per batch block and added over the blocks in their
order after the loop, so that their rounding depends on the batch size only,
never on the thread count. Then ``dx``, ``dW_ih`` and ``dW_hh`` are one GEMM
each. Rows run back through exactly their valid steps; positions past a length
contribute zeros.

With a recurrent dropout mask m (B, H) the product read ``m * h_{t-1}`` (the
update ``z * h_{t-1}`` took h unmasked): its part is ``m * (dR W_hh)``, and
``dW_hh`` reads the masked h.
"""

import numpy as np
from numba import prange

from numrnn.kernels import recurrent
from numrnn.kernels.activations import typed
from numrnn.kernels.common import block_rows, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas, matmul
from numrnn.kernels.jit import kernel, parallel_kernel
from numrnn.kernels.layer_norm_rows import normalised_gradients, row_kernel
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory

__all__ = ["backward_run"]

# The per-block sums, in the order of their rows in the (blocks, 4, 3H)
# accumulator. dâ and dĥ share their r and z parts, so the Σ dĥ row gathers the
# n part only; its r and z parts are Σ dâ's.
_SHIFT_IH, _SHIFT_HH, _GAIN_IH, _GAIN_HH = 0, 1, 2, 3


@row_kernel
def _backward_row(b, t, grad_output, grad_state, gates, hidden_n, h_prev, norm_ih, inv_ih,
                  norm_hh, inv_hh, gain_ih, gain_hh, grad_input, grad_rec, d_input, d_rec, sums):
    """Take batch row ``b`` back through position ``t``: fills ``grad_input[t, b]`` (dP)
    and ``grad_rec[t, b]`` (dR), adds this position's terms to the block's ``sums``
    (4, 3H), and leaves ``grad_state[b]`` holding the direct part ``dh * z`` of
    dL/dh_{t-1}. ``d_input`` (dâ) and ``d_rec`` (dĥ), (3H,), are scratch rows."""
    hidden = grad_state.shape[1]
    one = typed(1.0, grad_state[b, 0])
    gate_row = gates[t, b]
    gate_r, gate_z, gate_n = gate_row[:hidden], gate_row[hidden:2 * hidden], \
        gate_row[2 * hidden:]
    in_r, in_z, in_n = d_input[:hidden], d_input[hidden:2 * hidden], d_input[2 * hidden:]
    rec_r, rec_z, rec_n = d_rec[:hidden], d_rec[hidden:2 * hidden], d_rec[2 * hidden:]
    dh_row, grad_out, h_old, hn_row = grad_state[b], grad_output[t, b], h_prev[t, b], \
        hidden_n[t, b]
    for j in range(hidden):
        dh = dh_row[j] + grad_out[j]
        r_gate, z, n = gate_r[j], gate_z[j], gate_n[j]
        d_n = dh * (one - z) * (one - n * n)
        d_z = dh * (h_old[j] - n) * z * (one - z)
        d_r = d_n * hn_row[j] * r_gate * (one - r_gate)
        in_r[j], in_z[j], in_n[j] = d_r, d_z, d_n
        rec_r[j], rec_z[j], rec_n[j] = d_r, d_z, d_n * r_gate
        dh_row[j] = dh * z
    input_row, rec_row = norm_ih[t, b], norm_hh[t, b]
    normalised_gradients(d_rec, rec_row, gain_hh, inv_hh[t, b], grad_rec[t, b])
    normalised_gradients(d_input, input_row, gain_ih, inv_ih[t, b], grad_input[t, b])
    # NOTE: one loop per sum, as in the forward's row step: a loop over many
    # views stays scalar.
    shift_ih_sum, gain_ih_sum, gain_hh_sum = sums[_SHIFT_IH], sums[_GAIN_IH], sums[_GAIN_HH]
    shift_hh_n = sums[_SHIFT_HH, 2 * hidden:]
    for k in range(3 * hidden):
        shift_ih_sum[k] += d_input[k]
    for j in range(hidden):
        shift_hh_n[j] += rec_n[j]
    for k in range(3 * hidden):
        gain_ih_sum[k] += d_input[k] * input_row[k]
    for k in range(3 * hidden):
        gain_hh_sum[k] += d_rec[k] * rec_row[k]


@kernel
def _backward_block(block, grad_output, grad_state, weight_hh, lengths, reverse, gates, hidden_n,
                    h_prev, norm_ih, inv_ih, norm_hh, inv_hh, gain_ih, gain_hh, grad_input,
                    grad_rec, sums, recurrent_mask):
    """All steps back for the rows of batch block ``block``; its own product each step,
    its own row of the sums."""
    batch, hidden = grad_state.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    # Zeros: rows whose steps have not started yet keep these rows at zero, and
    # their product rows are ignored.
    step_grad = np.zeros((rows, 3 * hidden), dtype=gates.dtype)
    through = np.empty((rows, hidden), dtype=gates.dtype)
    d_input = np.empty(3 * hidden, dtype=gates.dtype)
    d_rec = np.empty(3 * hidden, dtype=gates.dtype)
    block_sums = sums[block]
    masked = recurrent_mask.shape[0] > 0
    for step in range(lengths[first:stop].max() - 1, -1, -1):
        for r in range(rows):
            b, length = first + r, lengths[first + r]
            if step < length:
                t = time_index(step, length, reverse)
                _backward_row(b, t, grad_output, grad_state, gates, hidden_n, h_prev, norm_ih,
                              inv_ih, norm_hh, inv_hh, gain_ih, gain_hh, grad_input, grad_rec,
                              d_input, d_rec, block_sums)
                step_grad[r] = grad_rec[t, b]
        product(step_grad, weight_hh, through)
        if masked:
            mask_rows(through, recurrent_mask, first, through)
        for r in range(rows):
            if step < lengths[first + r]:
                for j in range(hidden):
                    grad_state[first + r, j] += through[r, j]


@parallel_kernel
def _backward_recurrence(grad_output, grad_state, weight_hh, lengths, reverse, gates, hidden_n,
                         h_prev, norm_ih, inv_ih, norm_hh, inv_hh, gain_ih, gain_hh, grad_input,
                         grad_rec, sums, recurrent_mask):
    """Walk the steps backwards; ``grad_state`` (B, H) holds dL/dh_n on entry, dL/dh0 on
    return. ``weight_hh`` (3H, H) is row-major or packed. Fills ``grad_input`` (dP)
    and ``grad_rec`` (dR), each (T, B, 3H), at each valid position (the rest is
    left as it was), and adds each block's terms to its row of ``sums`` (blocks,
    4, 3H), zero-filled; ``recurrent_mask`` (B, H), or empty for none, is the
    forward's. Batch blocks run in parallel."""
    blocks = block_count(grad_state.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_state, weight_hh, lengths, reverse, gates,
                        hidden_n, h_prev, norm_ih, inv_ih, norm_hh, inv_hh, gain_ih, gain_hh,
                        grad_input, grad_rec, sums, recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_state, weight_hh, lengths, reverse,
                        gates, hidden_n, h_prev, norm_ih, inv_ih, norm_hh, inv_hh, gain_ih,
                        gain_hh, grad_input, grad_rec, sums, recurrent_mask)


# The memory of the two (T, B, G·H) gradient arrays, reused from call to call.
_GRADIENTS = ReusedMemory()


def backward_run(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, needs,
                 recurrent_mask):
    """The gradients of :func:`numrnn.kernels.gru_layer_norm.run`, on ready arrays
    (``recurrent_mask`` the forward's, or empty): ``(grad_x, grad_h0)``, then one per
    weight in its order, None where ``needs`` does not ask."""
    (grad_h_n,), (h0,) = grad_finals, states
    weight_ih, weight_hh, gain_ih, gain_hh = weights[0], weights[1], weights[4], weights[6]
    norm_ih, inv_ih, gates, hidden_n, norm_hh, inv_hh, h_prev = saved
    steps, batch, n_in = x.shape
    hidden = h0.shape[1]
    grad_state = grad_h_n.copy()
    # One allocation for both (T, B, 3H) gradients (kernels/reused_memory.py);
    # the GEMMs below read every position, so padded ones must hold zeros.
    padded = lengths.size > 0 and lengths.min() < steps
    grad_input, grad_rec = _GRADIENTS.arrays(((steps, batch, 3 * hidden),) * 2, x.dtype, padded)
    sums = np.zeros((block_count(batch), 4, 3 * hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 3, joint=False)
    with kernel_blas(plan.backward_pins_blas):
        _backward_recurrence(grad_output, grad_state,
                             product_weight(weight_hh, plan.backward_weight), lengths, reverse,
                             gates, hidden_n, h_prev, norm_ih, inv_ih, norm_hh, inv_hh, gain_ih,
                             gain_hh, grad_input, grad_rec, sums, recurrent_mask)
    # Blocks added in their order (a sum over the first axis goes block by block).
    sums = sums.sum(axis=0)
    sums[_SHIFT_HH, :2 * hidden] = sums[_SHIFT_IH, :2 * hidden]

    want_x, want_h0, want_w_ih, want_w_hh = needs[:4]
    flat_input = grad_input.reshape(steps * batch, 3 * hidden)
    grad_x = matmul(flat_input, weight_ih).reshape(steps, batch, n_in) if want_x else None
    grad_w_ih = matmul(flat_input.T, x.reshape(steps * batch, n_in)) if want_w_ih else None
    grad_w_hh = None
    if want_w_hh:
        # W_hh multiplied the masked state: its gradient reads that.
        h_read = h_prev * recurrent_mask if recurrent.masked(recurrent_mask) else h_prev
        grad_w_hh = matmul(grad_rec.reshape(steps * batch, 3 * hidden).T,
                           h_read.reshape(steps * batch, hidden))
    shift_ih, shift_hh = sums[_SHIFT_IH], sums[_SHIFT_HH]
    grads = (
        grad_x, grad_state, grad_w_ih, grad_w_hh,
        shift_ih.copy(), shift_hh.copy(),                # b_ih, b_hh
        sums[_GAIN_IH].copy(), shift_ih.copy(),          # γ_ih, β_ih
        sums[_GAIN_HH].copy(), shift_hh.copy(),          # γ_hh, β_hh
    )
    return tuple(grad if need else None for grad, need in zip(grads, needs))
