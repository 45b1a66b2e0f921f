"""Backpropagation through time for the peephole LSTM of :mod:`numrnn.kernels.lstm_peephole`.

With ``tc = tanh(c_t)``, the incoming ``dh = dL/dh_t`` (from the output at t and
from step t+1) and ``dc = dL/dc_t`` (from step t+1), one step back is::

    d_o = dh * tc * o(1-o)                       (o looks at c_t, so c_t's gradient
    dc += dh * o * (1 - tc²) + d_o * p_o          takes a part through it)
    d_i = dc * g * i(1-i);   d_f = dc * c_{t-1} * f(1-f);   d_g = dc * i * (1-g²)
    dc_{t-1} = dc * f + d_i * p_i + d_f * p_f
    dh_{t-1} = [d_i d_f d_g d_o] W_hh                           (B, 4H) @ (4H, H)

With a recurrent dropout mask m (B, H), ``dh_{t-1}`` is the product above times
m and ``dW_hh`` reads the masked h, as in the plain LSTM (c is not masked).

Only ``dh_{t-1}`` is sequential. The pre-activation gradients of every step are
stored (T, B, 4H), with the cell state each step started from, and after the
loop ``dx``, ``dW_ih``, ``dW_hh`` are one GEMM each, the biases' gradients a sum,
and the peepholes' ::

    dp_i = Σ_{t,b} d_i * c_{t-1},   dp_f = Σ_{t,b} d_f * c_{t-1},   dp_o = Σ_{t,b} d_o * c_t

sums over all rows in one fixed order, so they do not depend on the thread
count. Rows run back through exactly their valid steps (``lengths`` and
``reverse`` as in the forward kernel).
"""

import numpy as np
from numba import prange

from numrnn.kernels.activations import tanh, typed
from numrnn.kernels.common import block_rows, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas, matmul
from numrnn.kernels.jit import kernel, parallel_kernel
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for


@kernel
def _backward_row(b, r, step, t, grad_output, grad_h_n, peephole, h0, c0, output, gates, cells,
                  grad_c, grad_gates, prev_hidden, prev_cells, grad_h_prev, step_grad, length,
                  reverse):
    """Take batch row ``b`` (row ``r`` of its block) back through loop step ``step``
    (position ``t``)."""
    hidden = grad_c.shape[1]
    one = typed(1.0, grad_c[b, 0])
    prev_t = time_index(step - 1, length, reverse)
    # A row's first step back gets dL/dh_n; later ones what the product after the
    # previous step left in grad_h_prev.
    carried = grad_h_n[b] if step == length - 1 else grad_h_prev[r]
    c_prev = cells[prev_t, b] if step > 0 else c0[b]
    prev_hidden[t, b] = output[prev_t, b] if step > 0 else h0[b]
    prev_cells[t, b] = c_prev
    # NOTE: row views per gate, as in the forward kernel, so the loop vectorises.
    gate_i, gate_f = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden]
    gate_g, gate_o = gates[t, b, 2 * hidden:3 * hidden], gates[t, b, 3 * hidden:]
    peep_i, peep_f, peep_o = peephole[:hidden], peephole[hidden:2 * hidden], \
        peephole[2 * hidden:]
    d_gates = step_grad[r]
    grad_i, grad_f = d_gates[:hidden], d_gates[hidden:2 * hidden]
    grad_g, grad_o = d_gates[2 * hidden:3 * hidden], d_gates[3 * hidden:]
    grad_out, cell, grad_cell = grad_output[t, b], cells[t, b], grad_c[b]
    for j in range(hidden):
        dh = grad_out[j] + carried[j]
        i, f, g, o = gate_i[j], gate_f[j], gate_g[j], gate_o[j]
        tc = tanh(cell[j])
        d_o = dh * tc * o * (one - o)
        dc = grad_cell[j] + dh * o * (one - tc * tc) + d_o * peep_o[j]
        d_i = dc * g * i * (one - i)
        d_f = dc * c_prev[j] * f * (one - f)
        grad_i[j] = d_i
        grad_f[j] = d_f
        grad_g[j] = dc * i * (one - g * g)
        grad_o[j] = d_o
        grad_cell[j] = dc * f + d_i * peep_i[j] + d_f * peep_f[j]
    grad_gates[t, b] = d_gates


@kernel
def _backward_block(block, grad_output, grad_h_n, weight_hh, peephole, lengths, reverse, h0, c0,
                    output, gates, cells, grad_c, grad_gates, prev_hidden, prev_cells, grad_h0,
                    recurrent_mask):
    """All steps back for the rows of batch block ``block``; its own product each step,
    times the recurrent mask if there is one."""
    batch, hidden = h0.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    # Zeros: a row whose steps have not started yet keeps its row here at zero,
    # and its product row is ignored.
    step_grad = np.zeros((rows, 4 * hidden), dtype=gates.dtype)
    grad_h_prev = np.zeros((rows, hidden), dtype=gates.dtype)
    masked = recurrent_mask.shape[0] > 0
    for step in range(lengths[first:stop].max() - 1, -1, -1):
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _backward_row(first + r, r, step, time_index(step, length, reverse),
                              grad_output, grad_h_n, peephole, h0, c0, output, gates, cells,
                              grad_c, grad_gates, prev_hidden, prev_cells, grad_h_prev,
                              step_grad, length, reverse)
        product(step_grad, weight_hh, grad_h_prev)
        if masked:
            mask_rows(grad_h_prev, recurrent_mask, first, grad_h_prev)
    grad_h0[first:stop] = grad_h_prev


@parallel_kernel
def _backward_recurrence(grad_output, grad_h_n, weight_hh, peephole, lengths, reverse, h0, c0,
                         output, gates, cells, grad_c, grad_gates, prev_hidden, prev_cells,
                         grad_h0, recurrent_mask):
    """Walk the steps backwards, filling ``grad_gates``, ``prev_hidden`` and ``prev_cells``
    (T, B, ·), zero-filled by the caller, at each valid position.

    ``grad_c`` (B, H) holds dL/dc_n on entry and dL/dc0 on return; ``grad_h0``
    receives dL/dh0. ``weight_hh`` (4H, H) is contiguous or packed;
    ``recurrent_mask`` (B, H) is the forward's, or empty for none. Batch blocks
    run in parallel as in the forward kernel.
    """
    blocks = block_count(h0.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_h_n, weight_hh, peephole, lengths, reverse,
                        h0, c0, output, gates, cells, grad_c, grad_gates, prev_hidden, prev_cells,
                        grad_h0, recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_h_n, weight_hh, peephole, lengths,
                        reverse, h0, c0, output, gates, cells, grad_c, grad_gates, prev_hidden,
                        prev_cells, grad_h0, recurrent_mask)


def backward(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, needs,
             recurrent_mask):
    """This variant's backward, called by :mod:`numrnn.kernels.lstm_backward` on ready
    arrays (``recurrent_mask`` (B, H) or empty): ``(grad_x, grad_h0, grad_c0,
    grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh, grad_peephole (3H,))``,
    None where ``needs`` asks for none."""
    (grad_h_n, grad_c_n), (h0, c0) = grad_finals, states
    weight_ih, weight_hh, peephole = weights[0], weights[1], weights[4]
    output, gates, cells = saved
    steps, batch, n_in = x.shape
    hidden = h0.shape[1]
    grad_c = grad_c_n.copy()
    grad_gates = np.zeros((steps, batch, 4 * hidden), dtype=x.dtype)
    prev_hidden = np.zeros((steps, batch, hidden), dtype=x.dtype)
    prev_cells = np.zeros((steps, batch, hidden), dtype=x.dtype)
    grad_h0 = np.empty((batch, hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 4, joint=False)
    with kernel_blas(plan.backward_pins_blas):
        _backward_recurrence(grad_output, grad_h_n,
                             product_weight(weight_hh, plan.backward_weight), peephole, lengths,
                             reverse, h0, c0, output, gates, cells, grad_c, grad_gates,
                             prev_hidden, prev_cells, grad_h0, recurrent_mask)
    if recurrent_mask.shape[0] > 0:
        # W_hh multiplied the masked state: its gradient reads that.
        prev_hidden *= recurrent_mask
    want_x, want_h0, want_c0, want_w_ih, want_w_hh, want_b_ih, want_b_hh, want_peep = needs
    flat = grad_gates.reshape(steps * batch, 4 * hidden)
    flat_t = flat.T  # a view: the GEMM reads it transposed, nothing is copied
    grad_x = matmul(flat, weight_ih).reshape(steps, batch, n_in) if want_x else None
    grad_w_ih = matmul(flat_t, x.reshape(steps * batch, n_in)) if want_w_ih else None
    grad_w_hh = matmul(flat_t, prev_hidden.reshape(steps * batch, hidden)) if want_w_hh \
        else None
    grad_bias = flat.sum(axis=0) if (want_b_ih or want_b_hh) else None
    grad_peephole = None
    if want_peep:
        # Padded positions hold zero gradients and zero cells: they add nothing.
        flat_cells = prev_cells.reshape(steps * batch, hidden)
        grad_peephole = np.concatenate([
            (flat[:, :hidden] * flat_cells).sum(axis=0),
            (flat[:, hidden:2 * hidden] * flat_cells).sum(axis=0),
            (flat[:, 3 * hidden:] * cells.reshape(steps * batch, hidden)).sum(axis=0)])
    return (grad_x, grad_h0 if want_h0 else None, grad_c if want_c0 else None, grad_w_ih,
            grad_w_hh, grad_bias if want_b_ih else None,
            grad_bias.copy() if want_b_hh else None, grad_peephole)
