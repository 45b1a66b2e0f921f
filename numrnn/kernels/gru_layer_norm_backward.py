"""Backpropagation through time for the layer-normalised GRU of :mod:`.gru_layer_norm`.

With ``ĥ_n`` the normalised recurrent part of n (gain, shift and bias
applied), one step back from ``dh = dL/dh_t`` (the output's gradient at t plus
what step t+1 sent back) is::

    da_n = dh * (1 - z) * (1 - n²);   da_z = dh * (h_{t-1} - n) * z(1-z)
    da_r = da_n * ĥ_n * r(1-r)
    input side  dâ = [da_r da_z da_n];   recurrent side  dĥ = [da_r da_z da_n * r]
    dR = LN'(dĥ; γ_hh) per gate block;   dh_{t-1} = dh * z + dR W_hh    (B, 3H) @ (3H, H)

The input side's ``dP = LN'(dâ; γ_ih)`` needs nothing sequential: it is formed
after the loop for all positions at once, then ``dx``, ``dW_ih`` and ``dW_hh``
are one GEMM each. ``b_ih`` and ``β_ih`` get ``Σ dâ``, ``b_hh`` and ``β_hh``
``Σ dĥ``, the gains ``Σ dâ * LN(W_ih x)`` and ``Σ dĥ * LN(W_hh h)``. Rows run
back through exactly their valid steps; positions past a length contribute zeros.

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
from numrnn.kernels.layer_norm_rows import (
    input_gradients,
    normalised_gradients,
    row_kernel,
    sum_positions,
)
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for

__all__ = ["backward_run"]


@row_kernel
def _backward_row(b, t, grad_output, grad_state, gates, hidden_n, h_prev, norm_hh, inv_hh,
                  gain_hh, grad_ih, grad_hh, grad_rec):
    """Take batch row ``b`` back through position ``t``: fills ``grad_ih[t, b]``,
    ``grad_hh[t, b]`` and ``grad_rec[t, b]`` (dR), and leaves ``grad_state[b]``
    holding the direct part ``dh * z`` of dL/dh_{t-1}."""
    hidden = grad_state.shape[1]
    one = typed(1.0, grad_state[b, 0])
    gate_row, in_row, rec_row = gates[t, b], grad_ih[t, b], grad_hh[t, b]
    gate_r, gate_z, gate_n = gate_row[:hidden], gate_row[hidden:2 * hidden], \
        gate_row[2 * hidden:]
    in_r, in_z, in_n = in_row[:hidden], in_row[hidden:2 * hidden], in_row[2 * hidden:]
    rec_r, rec_z, rec_n = rec_row[:hidden], rec_row[hidden:2 * hidden], rec_row[2 * hidden:]
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
    normalised_gradients(rec_row, norm_hh[t, b], gain_hh, inv_hh[t, b], grad_rec[t, b])


@kernel
def _backward_block(block, grad_output, grad_state, weight_hh, lengths, reverse, gates, hidden_n,
                    h_prev, norm_hh, inv_hh, gain_hh, grad_ih, grad_hh, grad_rec, recurrent_mask):
    """All steps back for the rows of batch block ``block``; its own product each step."""
    batch, hidden = grad_state.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    # Zeros: rows whose steps have not started yet keep these rows at zero, and
    # their product rows are ignored.
    step_grad = np.zeros((rows, 3 * hidden), dtype=gates.dtype)
    through = np.empty((rows, hidden), dtype=gates.dtype)
    masked = recurrent_mask.shape[0] > 0
    for step in range(lengths[first:stop].max() - 1, -1, -1):
        for r in range(rows):
            b, length = first + r, lengths[first + r]
            if step < length:
                t = time_index(step, length, reverse)
                _backward_row(b, t, grad_output, grad_state, gates, hidden_n, h_prev, norm_hh,
                              inv_hh, gain_hh, grad_ih, grad_hh, grad_rec)
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
                         h_prev, norm_hh, inv_hh, gain_hh, grad_ih, grad_hh, grad_rec,
                         recurrent_mask):
    """Walk the steps backwards; ``grad_state`` (B, H) holds dL/dh_n on entry, dL/dh0 on
    return. ``weight_hh`` (3H, H) is row-major or packed. Fills ``grad_ih`` (dâ),
    ``grad_hh`` (dĥ) and ``grad_rec`` (dR), each (T, B, 3H) and zero-filled, at
    each valid position; ``recurrent_mask`` (B, H), or empty for none, is the
    forward's. Batch blocks run in parallel."""
    blocks = block_count(grad_state.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_state, weight_hh, lengths, reverse, gates,
                        hidden_n, h_prev, norm_hh, inv_hh, gain_hh, grad_ih, grad_hh, grad_rec,
                        recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_state, weight_hh, lengths, reverse,
                        gates, hidden_n, h_prev, norm_hh, inv_hh, gain_hh, grad_ih, grad_hh,
                        grad_rec, recurrent_mask)


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
    grad_ih, grad_hh, grad_rec = (np.zeros((steps, batch, 3 * hidden), dtype=x.dtype)
                                  for _ in range(3))
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 3, joint=False)
    with kernel_blas(plan.backward_pins_blas):
        _backward_recurrence(grad_output, grad_state,
                             product_weight(weight_hh, plan.backward_weight), lengths, reverse,
                             gates, hidden_n, h_prev, norm_hh, inv_hh, gain_hh, grad_ih, grad_hh,
                             grad_rec, recurrent_mask)

    want_x, want_h0, want_w_ih, want_w_hh = needs[:4]
    grad_x = grad_w_ih = None
    if want_x or want_w_ih:
        grad_input = np.empty_like(grad_ih)
        input_gradients(grad_ih, norm_ih, gain_ih, inv_ih, grad_input)
        flat_input = grad_input.reshape(steps * batch, 3 * hidden)
        if want_x:
            grad_x = matmul(flat_input, weight_ih).reshape(steps, batch, n_in)
        if want_w_ih:
            grad_w_ih = matmul(flat_input.T, x.reshape(steps * batch, n_in))
    grad_w_hh = None
    if want_w_hh:
        # W_hh multiplied the masked state: its gradient reads that.
        h_read = h_prev * recurrent_mask if recurrent.masked(recurrent_mask) else h_prev
        grad_w_hh = matmul(grad_rec.reshape(steps * batch, 3 * hidden).T,
                           h_read.reshape(steps * batch, hidden))
    shift_ih, shift_hh = sum_positions(grad_ih), sum_positions(grad_hh)
    grads = (
        grad_x, grad_state, grad_w_ih, grad_w_hh,
        shift_ih, shift_hh,                                      # b_ih, b_hh
        sum_positions(grad_ih * norm_ih), shift_ih.copy(),           # γ_ih, β_ih
        sum_positions(grad_hh * norm_hh), shift_hh.copy(),           # γ_hh, β_hh
    )
    return tuple(grad if need else None for grad, need in zip(grads, needs))
