"""The fused peephole LSTM (ONNX's LSTM with input ``P``): its forward.

:mod:`numrnn.kernels.lstm` runs it when its options hold ``peepholes=True``;
its backward is :mod:`numrnn.kernels.lstm_peephole_backward`. Same weights,
shapes and gate order (i, f, g, o) as the plain LSTM, plus one peephole
vector ``p`` (3H,) in the order ``p_i, p_f, p_o``. The input and forget gates
look at the previous cell state, the output gate at the new one (Gers &
Schmidhuber 2000; ONNX's semantics)::

    a = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh                  (B, 4H)
    i = sigmoid(a_i + p_i * c_{t-1});   f = sigmoid(a_f + p_f * c_{t-1})
    g = tanh(a_g);                      c_t = f * c_{t-1} + i * g
    o = sigmoid(a_o + p_o * c_t);       h_t = o * tanh(c_t)

The peepholes are element-wise, so the products are the plain LSTM's: one
input-projection GEMM before the loop, one ``h W_hhᵀ`` per step, ``lengths``
and ``reverse`` handled per row, fixed batch blocks each running its whole
recurrence on one core, so results are bit-identical for any thread count.
There is no joint step (``plan_for(..., joint=False)``): large float32
batches run the projection path with ``W_hhᵀ`` packed. Recurrent dropout
(:mod:`numrnn.kernels.recurrent`) multiplies ``h_{t-1}`` by its row's mask
before ``W_hhᵀ``, as in the plain LSTM; the peepholes read ``c``, which is not
masked.
"""

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels.activations import sigmoid, tanh
from numrnn.kernels.common import block_rows, combined_bias, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import inline_kernel, kernel, parallel_kernel
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for


def has_peepholes(options):
    """Whether ``options`` choose the peephole LSTM (``peepholes``, False by default)."""
    peepholes = options.get("peepholes", False)
    if not isinstance(peepholes, (bool, np.bool_)):
        raise ArgumentError(f"lstm: peepholes must be True or False, got {peepholes!r}")
    return bool(peepholes)


@inline_kernel
def _peephole_update(pre_i, pre_f, pre_g, pre_o, c_prev, peep_i, peep_f, peep_o):
    """One hidden unit's gates and new state from its four preactivations."""
    i = sigmoid(pre_i + peep_i * c_prev)
    f = sigmoid(pre_f + peep_f * c_prev)
    g = tanh(pre_g)
    c = f * c_prev + i * g
    o = sigmoid(pre_o + peep_o * c)
    return i, f, g, o, c, o * tanh(c)


@kernel
def _step_row(b, r, t, projection, recurrent, bias, peephole, h_block, c_state, output, cells,
              keep):
    """Advance batch row ``b`` (row ``r`` of its block) by one step at position ``t``;
    with ``keep`` the gate activations overwrite the row's projection there."""
    hidden = h_block.shape[1]
    # NOTE: row views per gate, as in numrnn.kernels.lstm, so the loop vectorises.
    pre_i, pre_f = projection[t, b, :hidden], projection[t, b, hidden:2 * hidden]
    pre_g, pre_o = projection[t, b, 2 * hidden:3 * hidden], projection[t, b, 3 * hidden:]
    rec_i, rec_f = recurrent[r, :hidden], recurrent[r, hidden:2 * hidden]
    rec_g, rec_o = recurrent[r, 2 * hidden:3 * hidden], recurrent[r, 3 * hidden:]
    bias_i, bias_f = bias[:hidden], bias[hidden:2 * hidden]
    bias_g, bias_o = bias[2 * hidden:3 * hidden], bias[3 * hidden:]
    peep_i, peep_f, peep_o = peephole[:hidden], peephole[hidden:2 * hidden], \
        peephole[2 * hidden:]
    c_row, h_row, out_row = c_state[b], h_block[r], output[t, b]
    # Two loops, not one with `if keep` inside (see numrnn.kernels.lstm._step_row).
    if keep:
        cell_row = cells[t, b]
        for j in range(hidden):
            i, f, g, o, c, h = _peephole_update(
                pre_i[j] + rec_i[j] + bias_i[j], pre_f[j] + rec_f[j] + bias_f[j],
                pre_g[j] + rec_g[j] + bias_g[j], pre_o[j] + rec_o[j] + bias_o[j], c_row[j],
                peep_i[j], peep_f[j], peep_o[j])
            c_row[j] = c
            h_row[j] = h
            out_row[j] = h
            pre_i[j], pre_f[j], pre_g[j], pre_o[j] = i, f, g, o
            cell_row[j] = c
    else:
        for j in range(hidden):
            _, _, _, _, c, h = _peephole_update(
                pre_i[j] + rec_i[j] + bias_i[j], pre_f[j] + rec_f[j] + bias_f[j],
                pre_g[j] + rec_g[j] + bias_g[j], pre_o[j] + rec_o[j] + bias_o[j], c_row[j],
                peep_i[j], peep_f[j], peep_o[j])
            c_row[j] = c
            h_row[j] = h
            out_row[j] = h


@kernel
def _run_block(block, projection, weight_hh_t, bias, peephole, lengths, reverse, h_state,
               c_state, output, cells, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own product each step, of
    h times the recurrent mask if there is one."""
    batch, hidden = h_state.shape
    first, stop = block_rows(block, batch)
    h_block = h_state[first:stop].copy()
    recurrent = np.empty((stop - first, 4 * hidden), dtype=projection.dtype)
    masked = recurrent_mask.shape[0] > 0
    dropped = np.empty_like(h_block) if masked else h_block
    for step in range(lengths[first:stop].max()):
        if masked:
            mask_rows(h_block, recurrent_mask, first, dropped)
        product(dropped, weight_hh_t, recurrent)  # dropped is h_block when unmasked
        for r in range(stop - first):
            length = lengths[first + r]
            if step < length:
                _step_row(first + r, r, time_index(step, length, reverse), projection,
                          recurrent, bias, peephole, h_block, c_state, output, cells, keep)
    h_state[first:stop] = h_block


@parallel_kernel
def _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, peephole, lengths, reverse, h0, c0,
             projection, output, cells, keep, recurrent_mask):
    """Run all steps in one compiled call; returns ``(h_n, c_n)``.

    As :func:`numrnn.kernels.lstm._forward`, with ``peephole`` (3H,) and
    ``output`` and ``cells`` zero-filled by the caller: positions past a row's
    length are never visited, so they stay zero. ``projection`` (T, B, 4H)
    receives ``x W_ihᵀ`` and, with ``keep``, the gate activations at each valid
    position (what lies at padded positions is never read). ``recurrent_mask``
    (B, H), or empty for none, as the plain LSTM's.
    """
    batch = x.shape[1]
    n_gates = weight_ih.shape[0]
    project_inputs(x, weight_ih, projection)
    bias = combined_bias(bias_ih, bias_hh, n_gates, x)
    h_state, c_state = h0.copy(), c0.copy()
    blocks = block_count(batch)
    if blocks == 1:
        _run_block(np.int64(0), projection, weight_hh_t, bias, peephole, lengths, reverse, h_state,
                   c_state, output, cells, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), projection, weight_hh_t, bias, peephole, lengths, reverse,
                       h_state, c_state, output, cells, keep, recurrent_mask)
    return h_state, c_state


def run(x, states, weights, lengths, reverse, keep, recurrent_mask):
    """This variant's part of the contract (:mod:`numrnn.kernels.recurrent`), called by
    :mod:`numrnn.kernels.lstm` on ready arrays (``recurrent_mask`` (B, H) or empty);
    saved is ``(output, gates, cells)`` as for the plain LSTM."""
    (h0, c0), (weight_ih, weight_hh, bias_ih, bias_hh, peephole) = states, weights
    steps, batch, n_in = x.shape
    hidden, n_gates = weight_hh.shape[1], weight_ih.shape[0]
    output = np.zeros((steps, batch, hidden), dtype=x.dtype)
    cells = np.zeros((steps, batch, hidden) if keep else (0, 0, 0), dtype=x.dtype)
    projection = np.empty((steps, batch, n_gates), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 4, joint=False)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight)
    with kernel_blas(plan.pins_blas):
        h_n, c_n = _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, peephole, lengths,
                            reverse, h0, c0, projection, output, cells, keep, recurrent_mask)
    return output, (h_n, c_n), (output, projection, cells)
