"""The fused GRU with the reset gate applied before the recurrent product: its forward.

The GRU of Cho et al. (2014), Keras's ``reset_after=False`` and ONNX's
``linear_before_reset=0``. :mod:`numrnn.kernels.gru` runs it when its options
hold ``reset_after=False``; its backward recurrence is
:mod:`numrnn.kernels.gru_reset_before_backward`. Same weights, shapes and gate
order (r, z, n) as PyTorch's variant; only n differs::

    r  = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z  = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n  = tanh(W_in x_t + b_in + W_hn (r * h_{t-1}) + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

n's recurrent product needs r first, so each step makes two products: ``h
W_hrzᵀ`` (rows, 2H), then ``(r * h) W_hnᵀ`` (rows, H), the multiply-adds of
the PyTorch variant's one (rows, 3H) product. The rest is that variant's
structure: one input-projection GEMM before the loop, ``lengths`` and
``reverse`` handled per row, fixed batch blocks each running its whole
recurrence on one core, so results are bit-identical for any thread count.

There is no joint step: where the plan would give the PyTorch variant one
(large float32 batches), this variant runs the projection path with both parts
of ``W_hhᵀ`` packed (``plan_for(..., joint=False)``).

A recurrent dropout mask ``m`` (B, H) multiplies h wherever it enters a
recurrent product, as in :mod:`numrnn.kernels.gru`: ``W_hrz (m * h_{t-1})``
and ``W_hn (r * (m * h_{t-1}))``, while the update ``z * h_{t-1}`` carries the
unmasked state (Keras's ``recurrent_dropout`` with ``reset_after=False``).
"""

import numpy as np
from numba import prange

from numrnn.kernels.activations import sigmoid, tanh, typed
from numrnn.kernels.common import block_rows, mask_rows, stacked_biases, time_index
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import inline_kernel, kernel, parallel_kernel
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for


@inline_kernel
def _reset_gates(pre_r, pre_z, h_old):
    """One hidden unit's r, z and ``r * h_{t-1}``, the input of n's recurrent product."""
    r_gate = sigmoid(pre_r)
    return r_gate, sigmoid(pre_z), r_gate * h_old


@inline_kernel
def _new_state(pre_n, z, h_old):
    """One hidden unit's n and new state."""
    n = tanh(pre_n)
    return n, (typed(1.0, z) - z) * n + z * h_old


@kernel
def _gate_row(b, r, t, projection, gates_rz, biases, h_read, reset_rows):
    """r and z of batch row ``b`` (row ``r`` of its block) at position ``t``.

    ``gates_rz[r]`` holds the hidden parts of r's and z's pre-activations on
    entry and r, z on return; ``h_read`` holds the h the recurrent products read
    (``m * h_{t-1}`` under a recurrent mask) and ``reset_rows[r]`` receives ``r``
    times it.
    """
    hidden = h_read.shape[1]
    # NOTE: row views per gate, as in numrnn.kernels.gru, so the loop vectorises.
    pre_r, pre_z = projection[t, b, :hidden], projection[t, b, hidden:2 * hidden]
    gate_r, gate_z = gates_rz[r, :hidden], gates_rz[r, hidden:]
    in_r, in_z = biases[0, :hidden], biases[0, hidden:2 * hidden]
    bias_r, bias_z = biases[1, :hidden], biases[1, hidden:2 * hidden]
    h_row, reset_row = h_read[r], reset_rows[r]
    for j in range(hidden):
        r_gate, z, reset_h = _reset_gates(pre_r[j] + in_r[j] + gate_r[j] + bias_r[j],
                                          pre_z[j] + in_z[j] + gate_z[j] + bias_z[j], h_row[j])
        gate_r[j] = r_gate
        gate_z[j] = z
        reset_row[j] = reset_h


@kernel
def _step_row(b, r, t, projection, gates_rz, recurrent_n, biases, h_block, reset_rows, output,
              gates, reset_h, h_prev, keep):
    """Finish the step of batch row ``b`` (row ``r`` of its block) at position ``t``:
    n from ``recurrent_n[r]`` (``(r * h) W_hnᵀ``), then the new state."""
    hidden = h_block.shape[1]
    pre_n, rec_n = projection[t, b, 2 * hidden:], recurrent_n[r]
    in_n, bias_n = biases[0, 2 * hidden:], biases[1, 2 * hidden:]
    gate_z_row = gates_rz[r, hidden:]
    h_row, out_row = h_block[r], output[t, b]
    # Two loops, not one with `if keep` inside: conditional stores keep LLVM from
    # vectorising the loop at all (see lstm._step_row).
    if keep:
        gate_r_row, reset_row = gates_rz[r, :hidden], reset_rows[r]
        gate_r, gate_z = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden]
        gate_n, reset_saved, h_prev_row = gates[t, b, 2 * hidden:], reset_h[t, b], h_prev[t, b]
        for j in range(hidden):
            z, h_old = gate_z_row[j], h_row[j]
            n, h_new = _new_state(pre_n[j] + in_n[j] + rec_n[j] + bias_n[j], z, h_old)
            h_row[j] = h_new
            out_row[j] = h_new
            gate_r[j], gate_z[j], gate_n[j] = gate_r_row[j], z, n
            reset_saved[j] = reset_row[j]
            h_prev_row[j] = h_old
    else:
        for j in range(hidden):
            _, h_new = _new_state(pre_n[j] + in_n[j] + rec_n[j] + bias_n[j], gate_z_row[j],
                                  h_row[j])
            h_row[j] = h_new
            out_row[j] = h_new


@kernel
def _run_block(block, projection, weight_rz_t, weight_n_t, biases, lengths, reverse, state,
               output, gates, reset_h, h_prev, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own two products each step.

    Under a recurrent mask ``dropped`` holds the masked h both products read;
    ``h_block`` keeps the state.
    """
    batch, hidden = state.shape
    first, stop = block_rows(block, batch)
    rows = stop - first
    h_block = state[first:stop].copy()
    gates_rz = np.empty((rows, 2 * hidden), dtype=projection.dtype)
    # Zeros rather than empty: a row past its length keeps what it last held
    # here, and its product row is computed and ignored, so it must be finite.
    reset_rows = np.zeros((rows, hidden), dtype=projection.dtype)
    recurrent_n = np.empty((rows, hidden), dtype=projection.dtype)
    masked = recurrent_mask.shape[0] > 0
    dropped = np.empty_like(h_block) if masked else h_block
    for step in range(lengths[first:stop].max()):
        if masked:
            mask_rows(h_block, recurrent_mask, first, dropped)
        product(dropped, weight_rz_t, gates_rz)
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _gate_row(first + r, r, time_index(step, length, reverse), projection, gates_rz,
                          biases, dropped, reset_rows)
        product(reset_rows, weight_n_t, recurrent_n)
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _step_row(first + r, r, time_index(step, length, reverse), projection, gates_rz,
                          recurrent_n, biases, h_block, reset_rows, output, gates, reset_h,
                          h_prev, keep)
    state[first:stop] = h_block


@parallel_kernel
def _forward(x, weight_ih, weight_rz_t, weight_n_t, bias_ih, bias_hh, lengths, reverse, h0,
             projection, output, gates, reset_h, h_prev, keep, recurrent_mask):
    """Run all steps in one compiled call; returns h_n (B, H).

    As :func:`numrnn.kernels.gru._forward`, with ``W_hhᵀ`` in two parts:
    ``weight_rz_t`` (H, 2H) and ``weight_n_t`` (H, H), each a row-major copy, a
    transposed view or packed panels. With ``keep``, ``gates`` (T, B, 3H)
    receives r, z, n, ``reset_h`` (T, B, H) ``r * h_{t-1}`` (``r * m *
    h_{t-1}`` under a mask) and ``h_prev`` (T, B, H) the state each position
    started from, unmasked. ``recurrent_mask`` (B, H), or empty for none,
    multiplies each row's h before the recurrent products.
    """
    batch = x.shape[1]
    project_inputs(x, weight_ih, projection)
    biases = stacked_biases(bias_ih, bias_hh, weight_ih.shape[0], x)
    state = h0.copy()
    blocks = block_count(batch)
    if blocks == 1:
        _run_block(np.int64(0), projection, weight_rz_t, weight_n_t, biases, lengths, reverse,
                   state, output, gates, reset_h, h_prev, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), projection, weight_rz_t, weight_n_t, biases, lengths,
                       reverse, state, output, gates, reset_h, h_prev, keep, recurrent_mask)
    return state


def run(x, states, weights, lengths, reverse, keep, recurrent_mask):
    """This variant's part of the contract (:mod:`numrnn.kernels.recurrent`), called by
    :mod:`numrnn.kernels.gru` on ready arrays (``recurrent_mask`` (B, H), or empty for
    none); saved is ``(gates, reset_h, h_prev)``."""
    (h0,), (weight_ih, weight_hh, bias_ih, bias_hh) = states, weights
    steps, batch, n_in = x.shape
    hidden, n_gates = weight_hh.shape[1], weight_ih.shape[0]
    residual_shape = (steps, batch, hidden) if keep else (0, 0, 0)
    gates = np.zeros((steps, batch, n_gates) if keep else (0, 0, 0), dtype=x.dtype)
    reset_h = np.zeros(residual_shape, dtype=x.dtype)
    h_prev = np.zeros(residual_shape, dtype=x.dtype)
    output = np.zeros((steps, batch, hidden), dtype=x.dtype)
    projection = np.empty((steps, batch, n_gates), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 3, joint=False)
    weight_rz_t = product_weight(weight_hh[:2 * hidden].T, plan.recurrent_weight)
    weight_n_t = product_weight(weight_hh[2 * hidden:].T, plan.recurrent_weight)
    with kernel_blas(plan.pins_blas):
        state = _forward(x, weight_ih, weight_rz_t, weight_n_t, bias_ih, bias_hh, lengths,
                         reverse, h0, projection, output, gates, reset_h, h_prev, keep,
                         recurrent_mask)
    return output, (state,), (gates, reset_h, h_prev)
