"""Backpropagation through time for the projected LSTM of :mod:`numrnn.kernels.lstm_projection`.

:mod:`numrnn.kernels.lstm_backward` runs this when its options hold ``proj_size``
P > 0. With ``dh = dL/dh_t`` (P features: from the output at t and from step
t+1), one step back first goes through the projection, then through the cell
as in the plain LSTM with ``dm`` in place of ``dh``::

    dm = dh W_hr                                               (B, P) @ (P, H)
    m = o * tanh(c_t);  dc += dm * o * (1 - tanh²(c_t));  d_o = dm * tanh(c_t) * o(1-o)
    d_i, d_f, d_g, dc_{t-1} as in the plain LSTM
    dh_{t-1} = [d_i d_f d_g d_o] W_hh                         (B, 4H) @ (4H, P)

Two products per step are sequential; the rest comes from one GEMM each after
the loop, over the stored ``dh`` (T, B, P), ``m`` (T, B, H) and pre-activation
gradients (T, B, 4H)::

    dW_hr = dHᵀ M,   dx = dG W_ih,   dW_ih = dGᵀ x,   dW_hh = dGᵀ h_prev,   db = Σ dG

With a recurrent dropout mask m (B, P) the forward multiplied ``m * h_{t-1}``
by ``W_hh``: ``dh_{t-1}`` is the product above times m, and ``dW_hh`` reads the
masked h. Rows, padding, ``reverse`` and the batch blocks are the plain LSTM's, so
results are bit-identical for any thread count. ``grad_cells`` (T, B, H), the
gradient of c at every position, enters dc at its position (empty: none).
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
def _gather_row(b, r, step, grad_output, grad_h_n, lengths, reverse, grad_h_prev, grad_h,
                grad_hidden):
    """``dL/dh`` of row ``b`` (row ``r`` of its block) at loop step ``step`` into
    ``grad_h[r]`` and ``grad_hidden``: zeros for a row past its length."""
    length = lengths[b]
    grad_row = grad_h[r]
    if step >= length:
        grad_row[:] = 0.0
        grad_hidden[step, b] = 0.0
        return
    t = time_index(step, length, reverse)
    carried = grad_h_n[b] if step == length - 1 else grad_h_prev[r]
    grad_out = grad_output[t, b]
    for k in range(grad_row.shape[0]):
        grad_row[k] = grad_out[k] + carried[k]
    grad_hidden[t, b] = grad_row


@kernel
def _backward_row(b, r, step, lengths, reverse, h0, c0, output, gates, cells, grad_cells,
                  grad_c, grad_m, grad_gates, prev_hidden, m_steps, step_grad):
    """Take row ``b`` back through the cell at loop step ``step``, ``grad_m[r]`` being
    ``dL/dm``; a row past its length only zeroes its padding there."""
    hidden = grad_c.shape[1]
    length = lengths[b]
    if step >= length:
        step_grad[r] = 0.0
        grad_gates[step, b] = 0.0
        prev_hidden[step, b] = 0.0
        m_steps[step, b] = 0.0
        return
    t = time_index(step, length, reverse)
    prev_t = time_index(step - 1, length, reverse)
    one = typed(1.0, grad_c[b, 0])
    c_prev = cells[prev_t, b] if step > 0 else c0[b]
    prev_hidden[t, b] = output[prev_t, b] if step > 0 else h0[b]
    grad_cell = grad_c[b]
    if grad_cells.shape[0] > 0:
        grad_cell += grad_cells[t, b]
    # NOTE: row views per gate, as in the forward kernel, so the loop vectorises.
    gate_i, gate_f = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden]
    gate_g, gate_o = gates[t, b, 2 * hidden:3 * hidden], gates[t, b, 3 * hidden:]
    d_gates = step_grad[r]
    grad_i, grad_f = d_gates[:hidden], d_gates[hidden:2 * hidden]
    grad_g, grad_o = d_gates[2 * hidden:3 * hidden], d_gates[3 * hidden:]
    grad_m_row, cell, m_row = grad_m[r], cells[t, b], m_steps[t, b]
    for j in range(hidden):
        dm = grad_m_row[j]
        i, f, g, o = gate_i[j], gate_f[j], gate_g[j], gate_o[j]
        tc = tanh(cell[j])
        m_row[j] = o * tc
        dc = grad_cell[j] + dm * o * (one - tc * tc)
        grad_i[j] = dc * g * i * (one - i)
        grad_f[j] = dc * c_prev[j] * f * (one - f)
        grad_g[j] = dc * i * (one - g * g)
        grad_o[j] = dm * tc * o * (one - o)
        grad_cell[j] = dc * f
    grad_gates[t, b] = d_gates


@kernel
def _backward_block(block, grad_output, grad_h_n, weight_hh, weight_hr, lengths, reverse, h0,
                    c0, output, gates, cells, grad_cells, grad_c, grad_gates, grad_hidden,
                    prev_hidden, m_steps, grad_h0, recurrent_mask):
    """All steps back for the rows of batch block ``block``: per step ``dh W_hr``, the
    cell rows, then ``dG W_hh`` (times the recurrent mask, if any)."""
    steps, batch, n_gates = gates.shape
    proj_size = h0.shape[1]
    first, stop = block_rows(block, batch)
    rows = stop - first
    step_grad = np.zeros((rows, n_gates), dtype=gates.dtype)
    grad_h_prev = np.zeros((rows, proj_size), dtype=gates.dtype)
    grad_h = np.zeros((rows, proj_size), dtype=gates.dtype)
    grad_m = np.zeros((rows, n_gates // 4), dtype=gates.dtype)
    longest = lengths[first:stop].max()
    masked = recurrent_mask.shape[0] > 0
    for step in range(steps - 1, -1, -1):
        for r in range(rows):
            _gather_row(first + r, r, step, grad_output, grad_h_n, lengths, reverse,
                        grad_h_prev, grad_h, grad_hidden)
        if step < longest:
            product(grad_h, weight_hr, grad_m)
        for r in range(rows):
            _backward_row(first + r, r, step, lengths, reverse, h0, c0, output, gates, cells,
                          grad_cells, grad_c, grad_m, grad_gates, prev_hidden, m_steps,
                          step_grad)
        if step < longest:
            product(step_grad, weight_hh, grad_h_prev)
            if masked:
                mask_rows(grad_h_prev, recurrent_mask, first, grad_h_prev)
    grad_h0[first:stop] = grad_h_prev


@parallel_kernel
def _backward_recurrence(grad_output, grad_h_n, weight_hh, weight_hr, lengths, reverse, h0, c0,
                         output, gates, cells, grad_cells, grad_c, grad_gates, grad_hidden,
                         prev_hidden, m_steps, grad_h0, recurrent_mask):
    """Walk the steps backwards, filling ``grad_gates``, ``grad_hidden`` (dL/dh_t, T, B,
    P), ``prev_hidden`` (T, B, P) and ``m_steps`` (T, B, H), zeros where padded;
    ``grad_c`` holds ``dL/dc_n`` on entry and ``dL/dc0`` on return, ``grad_h0``
    receives ``dL/dh0``. ``weight_hh`` (4H, P) and ``weight_hr`` (P, H) are
    contiguous, or packed (``Plan.backward_weight``, :mod:`numrnn.kernels.plan`);
    ``recurrent_mask`` (B, P) is the forward's, or empty for none."""
    blocks = block_count(h0.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_h_n, weight_hh, weight_hr, lengths, reverse,
                        h0, c0, output, gates, cells, grad_cells, grad_c, grad_gates, grad_hidden,
                        prev_hidden, m_steps, grad_h0, recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_h_n, weight_hh, weight_hr, lengths,
                        reverse, h0, c0, output, gates, cells, grad_cells, grad_c, grad_gates,
                        grad_hidden, prev_hidden, m_steps, grad_h0, recurrent_mask)


def run_backward(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, needs,
                 grad_cells, recurrent_mask):
    """The gradients of the projected LSTM: ``(grad_x, grad_h0, grad_c0, grad_weight_ih,
    grad_weight_hh, grad_bias_ih, grad_bias_hh, grad_weight_hr)``, None where ``needs``
    asks for none. Arguments as :func:`numrnn.kernels.lstm_backward.backward`'s, made
    ready; ``grad_cells`` (T, B, H) or empty, ``recurrent_mask`` (B, P) or empty."""
    (grad_h_n, grad_c_n), (h0, c0) = grad_finals, states
    weight_ih, weight_hh, weight_hr = weights[0], weights[1], weights[4]
    output, gates, cells = saved
    steps, batch, n_in = x.shape
    proj_size, hidden = weight_hr.shape
    n_gates = 4 * hidden
    grad_c = grad_c_n.copy()
    grad_gates = np.empty((steps, batch, n_gates), dtype=x.dtype)
    grad_hidden = np.empty((steps, batch, proj_size), dtype=x.dtype)
    prev_hidden = np.empty((steps, batch, proj_size), dtype=x.dtype)
    m_steps = np.empty((steps, batch, hidden), dtype=x.dtype)
    grad_h0 = np.empty((batch, proj_size), dtype=x.dtype)
    form = plan_for(x.dtype, batch, steps, n_in, hidden, 4, joint=False).backward_weight
    with kernel_blas(True):
        _backward_recurrence(grad_output, grad_h_n, product_weight(weight_hh, form),
                             product_weight(weight_hr, form), lengths, reverse, h0, c0, output,
                             gates, cells, grad_cells, grad_c, grad_gates, grad_hidden,
                             prev_hidden, m_steps, grad_h0, recurrent_mask)
    if recurrent_mask.shape[0] > 0:
        # W_hh multiplied the masked state: its gradient reads that.
        prev_hidden *= recurrent_mask

    flat = grad_gates.reshape(steps * batch, n_gates)
    want_x, want_h0, want_c0, want_w_ih, want_w_hh, want_b_ih, want_b_hh, want_w_hr = needs
    grad_x = matmul(flat, weight_ih).reshape(steps, batch, n_in) if want_x else None
    flat_t = flat.T
    grad_w_ih = matmul(flat_t, x.reshape(steps * batch, n_in)) if want_w_ih else None
    grad_w_hh = matmul(flat_t, prev_hidden.reshape(steps * batch, proj_size)) \
        if want_w_hh else None
    grad_bias = flat.sum(axis=0) if (want_b_ih or want_b_hh) else None
    grad_w_hr = matmul(grad_hidden.reshape(steps * batch, proj_size).T,
                       m_steps.reshape(steps * batch, hidden)) if want_w_hr else None
    return (grad_x, grad_h0 if want_h0 else None, grad_c if want_c0 else None, grad_w_ih,
            grad_w_hh, grad_bias if want_b_ih else None,
            grad_bias.copy() if want_b_hh else None, grad_w_hr)
