"""Backpropagation through time for the fused LSTM of :mod:`numrnn.kernels.lstm`.

With ``tc = tanh(c_t)``, the incoming ``dh = dL/dh_t`` (from the output at t and
from step t+1) and ``dc = dL/dc_t`` (from step t+1), one step back is::

    dc    += dh * o * (1 - tc²)
    d_i = dc * g * i(1-i);   d_f = dc * c_{t-1} * f(1-f)
    d_g = dc * i * (1-g²);   d_o = dh * tc * o(1-o)            (pre-activation grads)
    dc_{t-1} = dc * f
    dh_{t-1} = [d_i d_f d_g d_o] W_hh                           (B, 4H) @ (4H, H)

With a recurrent dropout mask m (B, H) the forward multiplied ``m * h_{t-1}`` by
``W_hh``: ``dh_{t-1}`` is then the product above times m, and ``dW_hh`` reads the
masked h.

Only ``dh_{t-1}`` is sequential. The pre-activation gradients of every step are
stored (T, B, 4H) and the parameter and input gradients come from one GEMM each
after the loop, all in one parallel region
(:func:`numrnn.kernels.gradient_products.gradient_products`)::

    dx = dG W_ih,   dW_ih = dGᵀ x,   dW_hh = dGᵀ h_prev,   db_ih = db_hh = Σ dG

A row runs back through exactly its valid steps, in the order it ran forward
(``lengths`` and ``reverse`` as in the forward kernel): padded positions get
zero gradients, and the gradients of ``h_n``/``c_n`` enter a row at its own last
valid step. The peephole LSTM (``peepholes=True``) walks back through
:mod:`numrnn.kernels.lstm_peephole_backward`, the layer-normalised one through
:mod:`numrnn.kernels.lstm_layer_norm_backward`, the projected one through
:mod:`numrnn.kernels.lstm_projection_backward`.
"""

import functools

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels import (
    lstm_layer_norm_backward,
    lstm_peephole_backward,
    lstm_projection_backward,
    recurrent,
)
from numrnn.kernels.activations import tanh, typed
from numrnn.kernels.common import block_rows, longest_length, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas
from numrnn.kernels.gradient_products import gradient_products
from numrnn.kernels.jit import linked_kernel, parallel_driver
from numrnn.kernels.layer_norm_rows import layer_normalised
from numrnn.kernels.lstm_peephole import has_peepholes
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory


@linked_kernel
def _backward_rows(first, rows, step, grad_output, grad_h_n, lengths, reverse, h0, c0, output,
                   gates, cells, grad_cells, grad_c, grad_gates, prev_hidden, grad_h_prev,
                   step_grad, c_prev):
    """Take the ``rows`` rows of a block, from batch row ``first``, back through loop
    step ``step``; a row past its length only zeroes its padding at position ``step``.
    ``c_prev`` (rows, H) is scratch.

    One call a block and step, not one a row, as :func:`numrnn.kernels.lstm._joint_step_rows`:
    each call of a kernel that takes arrays counted a reference to each of them,
    an atomic pair on memory the other block's thread counts too. Inside, a row
    view is made only where the loop needs one to vectorise (the four gates of
    one array) and always from the same array: a view chosen between two arrays
    (``c0[b]`` or ``cells[t - 1, b]``) left numba an atomic pair a row it could
    not prune. Those rows are copied into ``prev_hidden`` and ``c_prev`` instead.
    """
    hidden = grad_c.shape[1]
    one = typed(1.0, grad_c)
    for r in range(rows):
        b = first + r
        length = lengths[b]
        if step >= length:
            # Position `step` lies past this row's length (see the forward kernel).
            for j in range(4 * hidden):
                step_grad[r, j] = 0.0
                grad_gates[step, b, j] = 0.0
            for j in range(hidden):
                prev_hidden[step, b, j] = 0.0
            continue
        t = time_index(step, length, reverse)
        # Element loops, not slice assignments: numba checks a slice assignment's
        # shapes at run time and compiles the formatting of its error message
        # (seconds of a first call, docs/performance.md "Cold start").
        if step > 0:
            prev_t = time_index(step - 1, length, reverse)
            for j in range(hidden):
                prev_hidden[t, b, j] = output[prev_t, b, j]
                c_prev[r, j] = cells[prev_t, b, j]
        else:
            for j in range(hidden):
                prev_hidden[t, b, j] = h0[b, j]
                c_prev[r, j] = c0[b, j]
        # A row's first step back gets dL/dh_n; later ones what the GEMM after the
        # previous step left in grad_h_prev.
        if step == length - 1:
            for j in range(hidden):
                grad_h_prev[r, j] = grad_h_n[b, j]
        if grad_cells.shape[0] > 0:
            for j in range(hidden):
                grad_c[b, j] += grad_cells[t, b, j]
        # NOTE: row views per gate, as in the forward kernel, so the loop vectorises.
        gate_i, gate_f = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden]
        gate_g, gate_o = gates[t, b, 2 * hidden:3 * hidden], gates[t, b, 3 * hidden:]
        d_gates = step_grad[r]
        grad_i, grad_f = d_gates[:hidden], d_gates[hidden:2 * hidden]
        grad_g, grad_o = d_gates[2 * hidden:3 * hidden], d_gates[3 * hidden:]
        for j in range(hidden):
            dh = grad_output[t, b, j] + grad_h_prev[r, j]
            i, f, g, o = gate_i[j], gate_f[j], gate_g[j], gate_o[j]
            tc = tanh(cells[t, b, j])
            dc = grad_c[b, j] + dh * o * (one - tc * tc)
            grad_i[j] = dc * g * i * (one - i)
            grad_f[j] = dc * c_prev[r, j] * f * (one - f)
            grad_g[j] = dc * i * (one - g * g)
            grad_o[j] = dh * tc * o * (one - o)
            grad_c[b, j] = dc * f
        for j in range(4 * hidden):
            grad_gates[t, b, j] = d_gates[j]


@linked_kernel
def _backward_block(block, grad_output, grad_h_n, weight_hh, lengths, reverse, h0, c0, output,
                    gates, cells, grad_cells, grad_c, grad_gates, prev_hidden, grad_h0,
                    recurrent_mask):
    """All steps back for the rows of batch block ``block``; its own GEMM each step."""
    steps, batch, n_gates = gates.shape
    first, stop = block_rows(block, batch)
    step_grad = np.zeros((stop - first, n_gates), dtype=gates.dtype)
    grad_h_prev = np.zeros((stop - first, n_gates // 4), dtype=gates.dtype)
    c_prev = np.empty((stop - first, n_gates // 4), dtype=gates.dtype)
    longest = longest_length(lengths, first, stop)
    masked = recurrent_mask.shape[0] > 0
    for step in range(steps - 1, -1, -1):
        _backward_rows(first, stop - first, step, grad_output, grad_h_n, lengths, reverse, h0,
                       c0, output, gates, cells, grad_cells, grad_c, grad_gates, prev_hidden,
                       grad_h_prev, step_grad, c_prev)
        if step < longest:
            product(step_grad, weight_hh, grad_h_prev)
            if masked:
                mask_rows(grad_h_prev, recurrent_mask, first, grad_h_prev)
    for r in range(stop - first):
        grad_h0_row, grad_row = grad_h0[first + r], grad_h_prev[r]
        for j in range(grad_h_prev.shape[1]):
            grad_h0_row[j] = grad_row[j]


@parallel_driver
def _backward_recurrence(grad_output, grad_h_n, weight_hh, lengths, reverse, h0, c0, output,
                         gates, cells, grad_cells, grad_c, grad_gates, prev_hidden, grad_h0,
                         recurrent_mask):
    """Walk the steps backwards, filling ``grad_gates`` and ``prev_hidden``.

    Parameters
    ----------
    grad_output : (T, B, H); grad_h_n : (B, H)
    weight_hh : (4H, H)
        Contiguous, or packed (``Plan.backward_weight``, :mod:`numrnn.kernels.plan`).
    lengths : (B,) int64; reverse : bool
    h0, c0 : (B, H); output : (T, B, H); gates : (T, B, 4H); cells : (T, B, H)
        The forward inputs and residuals.
    grad_cells : (T, B, H), or empty for none
        The gradient of c at each position (per-step cell states), added to dc there.
    grad_c : (B, H)
        ``dL/dc_n`` on entry, ``dL/dc0`` on return.
    grad_gates : (T, B, 4H)
        Filled with the pre-activation gradients (zeros at padded positions).
    prev_hidden : (T, B, H)
        Filled with the h each position's step started from (zeros where padded),
        the right-hand factor of ``dW_hh``.
    grad_h0 : (B, H)
        ``dL/dh0`` on return.
    recurrent_mask : (B, H), or empty for none
        The forward's recurrent dropout mask: multiplies the gradient through ``W_hh``.

    Batch blocks run in parallel as in the forward kernel. A driver
    (:mod:`numrnn.kernels.jit`).
    """
    blocks = block_count(h0.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_h_n, weight_hh, lengths, reverse, h0, c0,
                        output, gates, cells, grad_cells, grad_c, grad_gates, prev_hidden,
                        grad_h0, recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_h_n, weight_hh, lengths, reverse, h0,
                        c0, output, gates, cells, grad_cells, grad_c, grad_gates, prev_hidden,
                        grad_h0, recurrent_mask)


# What the kernels take for "no gradient of the per-step cell states": empty, not
# zeros, so the plain call reads nothing more.
_NO_CELL_GRADIENTS = {np.dtype(dtype): np.zeros((0, 0, 0), dtype) for dtype in (np.float32,
                                                                               np.float64)}


def backward(grad_output, grad_finals, x, states, weights, saved, lengths=None, reverse=False,
             options=None, needs=None, recurrent_mask=None):
    """Gradients of the LSTM of :func:`numrnn.kernels.lstm.forward_train`.

    The contract of :mod:`numrnn.kernels.recurrent`: ``grad_finals`` is
    ``(grad_h_n, grad_c_n)`` (zeros where unused); ``x``, ``states``,
    ``weights``, ``lengths`` and ``reverse`` as given to ``forward_train``;
    ``saved`` what it returned. Returns ``(grad_x (T, B, I), grad_h0, grad_c0
    (B, H), grad_weight_ih (4H, I), grad_weight_hh (4H, H), grad_bias_ih,
    grad_bias_hh (4H,))``, and ``grad_peephole (3H,)`` with ``peepholes=True``;
    None for each gradient ``needs`` does not ask for.

    With ``proj_size`` in ``options`` the weights hold ``weight_hr`` fifth and
    its gradient comes last (:mod:`numrnn.kernels.lstm_projection_backward`).
    ``recurrent_mask``: the one ``forward_train`` ran with.
    """
    return recurrent.backward(_backward, grad_output, grad_finals, x, states, weights, saved,
                              lengths, reverse, options, needs, recurrent_mask)


def cell_states_backward(grad_cells, grad_output, grad_finals, x, states, weights, saved,
                         lengths=None, reverse=False, options=None, needs=None,
                         recurrent_mask=None):
    """:func:`backward` with ``grad_cells`` (T, B, H), the gradient of the cell state at
    every position (:func:`numrnn.kernels.lstm.cell_states`), zeros past each length."""
    run = functools.partial(_backward, grad_cells=np.ascontiguousarray(grad_cells))
    return recurrent.backward(run, grad_output, grad_finals, x, states, weights, saved,
                              lengths, reverse, options, needs, recurrent_mask)


# The memory of the pre-activation gradients and the h each step started from,
# reused from step to step.
_GRADIENTS = ReusedMemory()


def _backward(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, options,
              needs, recurrent_mask, grad_cells=None):
    masked = recurrent.masked(recurrent_mask)
    if has_peepholes(options) or layer_normalised(options):
        if grad_cells is not None:
            raise ArgumentError("lstm: per-step cell states are not available with "
                                "peepholes or layer_norm yet")
        if has_peepholes(options):
            return lstm_peephole_backward.backward(grad_output, grad_finals, x, states,
                                                   weights, saved, lengths, reverse, needs,
                                                   recurrent_mask)
        return lstm_layer_norm_backward.backward_run(grad_output, grad_finals, x, states,
                                                     weights, saved, lengths, reverse, needs,
                                                     recurrent_mask)
    if grad_cells is None:
        grad_cells = _NO_CELL_GRADIENTS[x.dtype]
    if options.get("proj_size", 0):
        return lstm_projection_backward.run_backward(grad_output, grad_finals, x, states,
                                                     weights, saved, lengths, reverse, needs,
                                                     grad_cells, recurrent_mask)
    (grad_h_n, grad_c_n), (h0, c0) = grad_finals, states
    weight_ih, weight_hh = weights[0], weights[1]
    output, gates, cells = saved
    steps, batch, n_in = x.shape
    hidden = h0.shape[1]
    n_gates = 4 * hidden
    grad_c = grad_c_n.copy()
    # The recurrence writes every position of both (zeros where padded).
    grad_gates, prev_hidden = _GRADIENTS.arrays(((steps, batch, n_gates), (steps, batch, hidden)),
                                                x.dtype, False)
    grad_h0 = np.empty((batch, hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 4)
    with kernel_blas(plan.backward_pins_blas):
        _backward_recurrence(grad_output, grad_h_n,
                             product_weight(weight_hh, plan.backward_weight,
                                            (plan.backward_product, plan.backward_last_product)),
                             lengths, reverse,
                             h0, c0, output, gates, cells, grad_cells, grad_c, grad_gates,
                             prev_hidden, grad_h0, recurrent_mask)
    if masked:
        # W_hh multiplied the masked state: its gradient reads that.
        prev_hidden *= recurrent_mask

    want_x, want_h0, want_c0, want_w_ih, want_w_hh, want_b_ih, want_b_hh = needs
    flat = grad_gates.reshape(steps * batch, n_gates)
    grad_bias = np.empty(n_gates, dtype=x.dtype) if (want_b_ih or want_b_hh) else None
    grad_x, grad_w_ih, grad_w_hh = gradient_products(
        flat, weight_ih, x.reshape(steps * batch, n_in), prev_hidden.reshape(steps * batch, hidden),
        (want_x, want_w_ih, want_w_hh), bias=grad_bias)
    return (
        grad_x.reshape(steps, batch, n_in) if want_x else None,
        grad_h0 if want_h0 else None,
        grad_c if want_c0 else None,
        grad_w_ih,
        grad_w_hh,
        grad_bias if want_b_ih else None,
        grad_bias.copy() if want_b_hh else None,
    )
