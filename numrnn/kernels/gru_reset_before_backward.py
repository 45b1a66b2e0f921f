"""Backpropagation through time for the reset-before GRU of :mod:`numrnn.kernels.gru_reset_before`.

With ``h_t = (1 - z) * n + z * h_{t-1}``, ``n = tanh(a_n)`` and ``a_n = W_in x_t
+ b_in + W_hn (r * h_{t-1}) + b_hn``, one step back from ``dh = dL/dh_t`` (the
output's gradient at t plus what step t+1 sent back) is::

    da_n = dh * (1 - z) * (1 - n²);     da_z = dh * (h_{t-1} - n) * z(1-z)
    d_rh = da_n W_hn                                      (B, H) @ (H, H)
    da_r = d_rh * h_{t-1} * r(1-r)
    dh_{t-1} = dh * z + d_rh * r + [da_r da_z] W_hrz      (B, 2H) @ (2H, H)

With a recurrent dropout mask m (B, H) the forward's products read ``h̃ = m *
h_{t-1}`` (``z * h_{t-1}`` took h unmasked). Multiplying ``d_rh`` by m as soon as
it is formed leaves ``da_r``'s line as it was::

    d_rh = m * (da_n W_hn)                  (da_n W_hn is the gradient of r * h̃)
    da_r = d_rh * h_{t-1} * r(1-r)          (= (da_n W_hn) * h̃ * r(1-r))
    dh_{t-1} = dh * z + d_rh * r + m * ([da_r da_z] W_hrz)

and ``dW_hrz`` reads ``h̃``.

Two products per step, as in the forward: r's gradient needs ``d_rh`` first.
The pre-activation gradients ``[da_r da_z da_n]`` are those of both ``x W_ihᵀ
+ b_ih`` and ``[h W_hrzᵀ, (r * h) W_hnᵀ] + b_hh``, so one array holds them;
:func:`numrnn.kernels.gru_backward.backward` forms ``dx`` and the weight and
bias gradients from it after the loop, as for the PyTorch variant. Rows run
back through exactly their valid steps (``lengths`` and ``reverse`` as in the
forward kernel).
"""

import numpy as np
from numba import prange

from numrnn.kernels.activations import typed
from numrnn.kernels.common import block_rows, mask_rows, time_index
from numrnn.kernels.jit import kernel, parallel_kernel
from numrnn.kernels.matvec import product
from numrnn.kernels.plan import block_count


@kernel
def _update_row(b, r, t, grad_output, grad_state, gates, h_prev, grad_projection, step_n):
    """z's and n's pre-activation gradients of batch row ``b`` (row ``r`` of its block)
    at position ``t``.

    ``grad_state[b]`` holds dL/dh_t from later steps on entry and leaves holding
    the direct part ``dh_t * z`` of dL/dh_{t-1}; ``step_n[r]`` receives ``da_n``
    for the product with ``W_hn``.
    """
    hidden = grad_state.shape[1]
    one = typed(1.0, grad_state[b, 0])
    gate_z, gate_n = gates[t, b, hidden:2 * hidden], gates[t, b, 2 * hidden:]
    grad_z, grad_n = grad_projection[t, b, hidden:2 * hidden], grad_projection[t, b, 2 * hidden:]
    dh_row, grad_out, h_old, d_n_row = grad_state[b], grad_output[t, b], h_prev[t, b], step_n[r]
    for j in range(hidden):
        dh = dh_row[j] + grad_out[j]
        z, n = gate_z[j], gate_n[j]
        d_n = dh * (one - z) * (one - n * n)
        grad_z[j] = dh * (h_old[j] - n) * z * (one - z)
        grad_n[j] = d_n
        d_n_row[j] = d_n
        dh_row[j] = dh * z


@kernel
def _reset_row(b, r, t, grad_state, gates, h_prev, grad_reset, grad_projection, step_rz):
    """r's pre-activation gradient of batch row ``b`` from ``grad_reset[r]`` (``d_rh``);
    adds ``d_rh * r`` to ``grad_state[b]`` and puts ``[da_r da_z]`` in ``step_rz[r]``."""
    hidden = grad_state.shape[1]
    one = typed(1.0, grad_state[b, 0])
    gate_r, grad_r = gates[t, b, :hidden], grad_projection[t, b, :hidden]
    dh_row, h_old, d_reset = grad_state[b], h_prev[t, b], grad_reset[r]
    for j in range(hidden):
        r_gate = gate_r[j]
        grad_r[j] = d_reset[j] * h_old[j] * r_gate * (one - r_gate)
        dh_row[j] += d_reset[j] * r_gate
    step_rz[r] = grad_projection[t, b, :2 * hidden]


@kernel
def _backward_block(block, grad_output, grad_state, gates, h_prev, weight_rz, weight_n, lengths,
                    reverse, grad_projection, recurrent_mask):
    """All steps back for the rows of batch block ``block``; its own two products each step."""
    batch, hidden = grad_state.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    # Zeros: rows whose steps have not started yet keep these rows at zero, and
    # their product rows are ignored.
    step_n = np.zeros((rows, hidden), dtype=gates.dtype)
    step_rz = np.zeros((rows, 2 * hidden), dtype=gates.dtype)
    grad_reset = np.empty((rows, hidden), dtype=gates.dtype)
    through_weights = np.empty((rows, hidden), dtype=gates.dtype)
    masked = recurrent_mask.shape[0] > 0
    for step in range(lengths[first:stop].max() - 1, -1, -1):
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _update_row(first + r, r, time_index(step, length, reverse), grad_output,
                            grad_state, gates, h_prev, grad_projection, step_n)
        product(step_n, weight_n, grad_reset)
        if masked:
            mask_rows(grad_reset, recurrent_mask, first, grad_reset)
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _reset_row(first + r, r, time_index(step, length, reverse), grad_state, gates,
                           h_prev, grad_reset, grad_projection, step_rz)
        product(step_rz, weight_rz, through_weights)
        if masked:
            mask_rows(through_weights, recurrent_mask, first, through_weights)
        for r in range(rows):
            if step < lengths[first + r]:
                for j in range(hidden):
                    grad_state[first + r, j] += through_weights[r, j]


@parallel_kernel
def backward_recurrence(grad_output, grad_state, gates, h_prev, weight_rz, weight_n, lengths,
                        reverse, grad_projection, recurrent_mask):
    """Walk the steps backwards; ``grad_state`` (B, H) holds dL/dh_n on entry, dL/dh0 on return.

    ``weight_rz`` is ``W_hrz`` (2H, H) and ``weight_n`` ``W_hn`` (H, H), each
    row-major or packed. Fills ``grad_projection`` (T, B, 3H, zero-filled) with
    ``[da_r da_z da_n]`` at each valid position. ``recurrent_mask`` (B, H), or
    empty for none, is the forward's. Batch blocks run in parallel.
    """
    blocks = block_count(grad_state.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_state, gates, h_prev, weight_rz, weight_n,
                        lengths, reverse, grad_projection, recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_state, gates, h_prev, weight_rz,
                        weight_n, lengths, reverse, grad_projection, recurrent_mask)
