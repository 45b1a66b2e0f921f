"""Backpropagation through time for the layer-normalised LSTM of :mod:`.lstm_layer_norm`.

With ``y = γ_c * ĉ_t + β_c`` (``ĉ_t = LN(c_t)``) and ``h_t = o * tanh(y)``, one
step back from ``dh = dL/dh_t`` and ``dc = dL/dc_t`` carried from step t+1 is::

    dy   = dh * o * (1 - tanh²(y));          da_o = dh * tanh(y) * o(1-o)
    dc  += LN'(dy; γ_c)                      (layer_norm_rows.normalised_gradient)
    da_i = dc * g * i(1-i);  da_f = dc * c_{t-1} * f(1-f);  da_g = dc * i * (1-g²)
    dc_{t-1} = dc * f
    dR   = LN'(da; γ_hh) per gate block      dh_{t-1} = m ⊙ (dR W_hh)   (B, 4H) @ (4H, H)
    dP   = LN'(da; γ_ih) per gate block

``da`` is the gradient of both normalised products (after their gains) and of
every additive term; ``m`` the forward's recurrent dropout mask (ones without
one), and ``dW_hh`` reads the masked states the forward kept. Everything a
position's gradients need from ``da`` and ``dy`` is taken inside the loop, while
the row is in cache: the input side's ``dP`` (nothing sequential, but a pass
over (T, B, 4H) arrays if left until after the loop), and the gains' and
shifts' gradients, sums over positions of ``da * â``, ``da``, ``dy * ĉ`` and
``dy`` (after the loop: a pass and a temporary array each), accumulated per
batch block and added over the blocks in their order after the loop, so their
rounding depends on the batch size only, never on the thread count. Then
``dx = dP W_ih``, ``dW_ih = dPᵀ x`` and ``dW_hh = dRᵀ h_prev`` are the plain
LSTM's table of single-threaded GEMM tasks in one parallel region, dealt evenly
over the threads (:func:`numrnn.kernels.gradient_products.gradient_products`,
with ``dR`` as its ``recurrent_grads``).
Rows run back through exactly their valid steps; positions past a length
contribute zeros.
"""

import numpy as np
from numba import prange

from numrnn.kernels.activations import tanh, typed
from numrnn.kernels.common import block_rows, copy_row, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas
from numrnn.kernels.gradient_products import gradient_products
from numrnn.kernels.jit import inline_kernel, parallel_kernel
from numrnn.kernels.layer_norm_rows import (
    gradient_from_means,
    normalised_gradient,
    row_kernel,
)
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory

__all__ = ["backward_run"]

# The per-block sums, in the order of their rows in the (blocks, 3, 4H) and
# (blocks, 2, H) accumulators.
_SHIFT, _GAIN_IH, _GAIN_HH = 0, 1, 2
_GAIN_C, _SHIFT_C = 0, 1


@inline_kernel
def _both_normalised_gradients(grad, rec_row, gain_hh, inv_hh, grad_rec, input_row, gain_ih,
                               inv_ih, grad_input):
    """:func:`~numrnn.kernels.layer_norm_rows.normalised_gradients` of both normalised
    products from the same ``grad``, each block's four means in one pass over it."""
    blocks = inv_hh.shape[0]
    hidden = grad.shape[0] // blocks
    zero, scale = typed(0.0, grad), typed(1.0 / hidden, grad)
    for k in range(blocks):
        first, stop = k * hidden, (k + 1) * hidden
        d, rec, g_hh = grad[first:stop], rec_row[first:stop], gain_hh[first:stop]
        inp, g_ih = input_row[first:stop], gain_ih[first:stop]
        total_hh, along_hh, total_ih, along_ih = zero, zero, zero, zero
        for j in range(hidden):
            scaled_hh, scaled_ih = d[j] * g_hh[j], d[j] * g_ih[j]
            total_hh += scaled_hh
            along_hh += scaled_hh * rec[j]
            total_ih += scaled_ih
            along_ih += scaled_ih * inp[j]
        gradient_from_means(d, rec, g_hh, inv_hh[k], total_hh * scale, along_hh * scale,
                            grad_rec[first:stop])
        gradient_from_means(d, inp, g_ih, inv_ih[k], total_ih * scale, along_ih * scale,
                            grad_input[first:stop])


# NOTE: inlined into _backward_block (which carries the row kernels' fast-math flags
# for it), unlike the plain LSTM's row functions: a call passing two dozen arrays per
# row cost more here than inlining (backward kernel at B = 32, one thread, CPU
# medians: 9.04-9.19 ms inlined against 9.21-9.25 called, interleaved, load 7-8).
@inline_kernel
def _backward_row(b, t, c_prev, grad_output, grad_state, grad_c, gates, norm_c, inv_c, norm_hh,
                  inv_hh, norm_ih, inv_ih, gain_c, shift_c, gain_hh, gain_ih, grad_rec,
                  grad_input, d_gates, dy_row, from_norm, gate_sums, cell_sums):
    """Take batch row ``b`` back through position ``t``: fills ``grad_rec[t, b]`` (dR)
    and ``grad_input[t, b]`` (dP), adds this position's terms to the block's
    ``gate_sums`` (3, 4H) and ``cell_sums`` (2, H), and leaves ``grad_c[b]``
    holding dL/dc_{t-1}. ``d_gates`` (4H), ``dy_row`` and ``from_norm`` (H) are
    scratch rows."""
    hidden = grad_c.shape[1]
    one = typed(1.0, grad_c[b, 0])
    gate_row = gates[t, b]
    gate_i, gate_f = gate_row[:hidden], gate_row[hidden:2 * hidden]
    gate_g, gate_o = gate_row[2 * hidden:3 * hidden], gate_row[3 * hidden:]
    grad_i, grad_f = d_gates[:hidden], d_gates[hidden:2 * hidden]
    grad_g, grad_o = d_gates[2 * hidden:3 * hidden], d_gates[3 * hidden:]
    dh_row, grad_out, normed = grad_state[b], grad_output[t, b], norm_c[t, b]
    for j in range(hidden):
        dh = dh_row[j] + grad_out[j]
        o = gate_o[j]
        ty = tanh(gain_c[j] * normed[j] + shift_c[j])
        dy_row[j] = dh * o * (one - ty * ty)
        grad_o[j] = dh * ty * o * (one - o)
    normalised_gradient(dy_row, normed, gain_c, inv_c[t, b, 0], from_norm)
    grad_cell = grad_c[b]
    for j in range(hidden):
        i, f, g = gate_i[j], gate_f[j], gate_g[j]
        dc = grad_cell[j] + from_norm[j]
        grad_i[j] = dc * g * i * (one - i)
        grad_f[j] = dc * c_prev[j] * f * (one - f)
        grad_g[j] = dc * i * (one - g * g)
        grad_cell[j] = dc * f
    rec_row, input_row = norm_hh[t, b], norm_ih[t, b]
    _both_normalised_gradients(d_gates, rec_row, gain_hh, inv_hh[t, b], grad_rec[t, b],
                               input_row, gain_ih, inv_ih[t, b], grad_input[t, b])
    # NOTE: one loop per sum, as in the forward's row step: a loop over many
    # views stays scalar.
    shift_sum, gain_ih_sum = gate_sums[_SHIFT], gate_sums[_GAIN_IH]
    gain_hh_sum = gate_sums[_GAIN_HH]
    for k in range(4 * hidden):
        shift_sum[k] += d_gates[k]
    for k in range(4 * hidden):
        gain_ih_sum[k] += d_gates[k] * input_row[k]
    for k in range(4 * hidden):
        gain_hh_sum[k] += d_gates[k] * rec_row[k]
    gain_c_sum, shift_c_sum = cell_sums[_GAIN_C], cell_sums[_SHIFT_C]
    for j in range(hidden):
        gain_c_sum[j] += dy_row[j] * normed[j]
    for j in range(hidden):
        shift_c_sum[j] += dy_row[j]


@row_kernel
def _backward_block(block, grad_output, grad_state, grad_c, weight_hh, lengths, reverse, c0,
                    gates, cells, norm_c, inv_c, norm_hh, inv_hh, norm_ih, inv_ih, gain_c,
                    shift_c, gain_hh, gain_ih, grad_rec, grad_input, gate_sums, cell_sums,
                    recurrent_mask):
    """All steps back for the rows of batch block ``block``; its own product each step,
    its own rows of the sums."""
    batch, hidden = grad_state.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    # Zeros: rows whose steps have not started yet keep these rows at zero, and
    # their product rows are ignored.
    step_grad = np.zeros((rows, 4 * hidden), dtype=gates.dtype)
    through = np.empty((rows, hidden), dtype=gates.dtype)
    d_gates = np.empty(4 * hidden, dtype=gates.dtype)
    dy_row = np.empty(hidden, dtype=gates.dtype)
    from_norm = np.empty(hidden, dtype=gates.dtype)
    block_gate_sums, block_cell_sums = gate_sums[block], cell_sums[block]
    masked = recurrent_mask.shape[0] > 0
    for step in range(lengths[first:stop].max() - 1, -1, -1):
        for r in range(rows):
            b, length = first + r, lengths[first + r]
            if step < length:
                t = time_index(step, length, reverse)
                c_prev = cells[time_index(step - 1, length, reverse), b] if step > 0 else c0[b]
                _backward_row(b, t, c_prev, grad_output, grad_state, grad_c, gates, norm_c,
                              inv_c, norm_hh, inv_hh, norm_ih, inv_ih, gain_c, shift_c, gain_hh,
                              gain_ih, grad_rec, grad_input, d_gates, dy_row, from_norm,
                              block_gate_sums, block_cell_sums)
                copy_row(grad_rec[t, b], step_grad[r])
        product(step_grad, weight_hh, through)
        if masked:
            mask_rows(through, recurrent_mask, first, through)
        for r in range(rows):
            if step < lengths[first + r]:
                copy_row(through[r], grad_state[first + r])


@parallel_kernel
def _backward_recurrence(grad_output, grad_state, grad_c, weight_hh, lengths, reverse, c0, gates,
                         cells, norm_c, inv_c, norm_hh, inv_hh, norm_ih, inv_ih, gain_c, shift_c,
                         gain_hh, gain_ih, grad_rec, grad_input, gate_sums, cell_sums,
                         recurrent_mask):
    """Walk the steps backwards; ``grad_state`` and ``grad_c`` (B, H) hold dL/dh_n and
    dL/dc_n on entry, dL/dh0 and dL/dc0 on return.

    ``weight_hh`` (4H, H) is row-major or packed. Fills ``grad_rec`` (dR) and
    ``grad_input`` (dP), both (T, B, 4H), at each valid position (the rest is
    left as it was), and adds each block's terms to its row of ``gate_sums``
    (blocks, 3, 4H) and ``cell_sums`` (blocks, 2, H), zero-filled.
    ``recurrent_mask`` (B, H), or empty for none, multiplies the gradient through
    ``W_hh``. Batch blocks run in parallel.
    """
    blocks = block_count(grad_state.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_state, grad_c, weight_hh, lengths, reverse,
                        c0, gates, cells, norm_c, inv_c, norm_hh, inv_hh, norm_ih, inv_ih, gain_c,
                        shift_c, gain_hh, gain_ih, grad_rec, grad_input, gate_sums, cell_sums,
                        recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_state, grad_c, weight_hh, lengths,
                        reverse, c0, gates, cells, norm_c, inv_c, norm_hh, inv_hh, norm_ih,
                        inv_ih, gain_c, shift_c, gain_hh, gain_ih, grad_rec, grad_input,
                        gate_sums, cell_sums, recurrent_mask)


# The memory of the two (T, B, G·H) gradient arrays, reused from call to call.
_GRADIENTS = ReusedMemory()


def backward_run(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, needs,
                 recurrent_mask):
    """The gradients of :func:`numrnn.kernels.lstm_layer_norm.run`, on ready arrays:
    ``(grad_x, grad_h0, grad_c0)``, then one per weight in its order, None where
    ``needs`` does not ask; ``recurrent_mask`` the one the forward ran with (empty
    for none)."""
    (grad_h_n, grad_c_n), (h0, c0) = grad_finals, states
    weight_ih, weight_hh = weights[0], weights[1]
    gain_ih, gain_hh, gain_c, shift_c = weights[4], weights[6], weights[8], weights[9]
    norm_ih, inv_ih, gates, cells, norm_hh, inv_hh, norm_c, inv_c, h_prev = saved
    steps, batch, n_in = x.shape
    hidden = h0.shape[1]
    grad_state, grad_c = grad_h_n.copy(), grad_c_n.copy()
    # One allocation for both (T, B, 4H) gradients (kernels/reused_memory.py);
    # the GEMMs below read every position, so padded ones must hold zeros.
    padded = lengths.size > 0 and lengths.min() < steps
    shapes = ((steps, batch, 4 * hidden),) * 2
    grad_rec, grad_input = _GRADIENTS.arrays(shapes, x.dtype, padded)
    blocks = block_count(batch)
    gate_sums = np.zeros((blocks, 3, 4 * hidden), dtype=x.dtype)
    cell_sums = np.zeros((blocks, 2, hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 4, joint=False)
    with kernel_blas(plan.backward_pins_blas):
        _backward_recurrence(grad_output, grad_state, grad_c,
                             product_weight(weight_hh, plan.backward_weight), lengths, reverse,
                             c0, gates, cells, norm_c, inv_c, norm_hh, inv_hh, norm_ih, inv_ih,
                             gain_c, shift_c, gain_hh, gain_ih, grad_rec, grad_input, gate_sums,
                             cell_sums, recurrent_mask)
    # Blocks added in their order (sum over the first axis goes row by row).
    gate_sums, cell_sums = gate_sums.sum(axis=0), cell_sums.sum(axis=0)

    want_x, want_h0, want_c0, want_w_ih, want_w_hh = needs[:5]
    positions = steps * batch
    grad_x, grad_w_ih, grad_w_hh = gradient_products(
        grad_input.reshape(positions, 4 * hidden), weight_ih, x.reshape(positions, n_in),
        h_prev.reshape(positions, hidden), (want_x, want_w_ih, want_w_hh),
        recurrent_grads=grad_rec.reshape(positions, 4 * hidden))
    grad_x = grad_x.reshape(steps, batch, n_in) if want_x else None
    grad_shift = gate_sums[_SHIFT]
    grads = (
        grad_x, grad_state if want_h0 else None, grad_c if want_c0 else None,
        grad_w_ih, grad_w_hh,
        grad_shift.copy(), grad_shift.copy(),                  # b_ih, b_hh
        gate_sums[_GAIN_IH].copy(), grad_shift.copy(),        # γ_ih, β_ih
        gate_sums[_GAIN_HH].copy(), grad_shift.copy(),        # γ_hh, β_hh
        cell_sums[_GAIN_C].copy(), cell_sums[_SHIFT_C].copy(),  # γ_c, β_c
    )
    return tuple(grad if need else None for grad, need in zip(grads, needs))
