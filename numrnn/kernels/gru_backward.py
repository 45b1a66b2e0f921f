"""Backpropagation through time for the fused GRU of :mod:`numrnn.kernels.gru`.

With ``h_t = (1 - z) * n + z * h_{t-1}`` and ``n = tanh(a_n + r * hn)``, where
``hn = W_hn h_{t-1} + b_hn`` was saved by the forward pass, one step back from
``dh = dL/dh_t`` (the output's gradient at t plus what step t+1 sent back) is::

    dn  = dh * (1 - z) * (1 - n²);      dz = dh * (h_{t-1} - n) * z(1-z)
    dr  = dn * hn * r(1-r);             d_hn = dn * r
    dh_{t-1} = dh * z + [dr dz d_hn] W_hh                 (B, 3H) @ (3H, H)

With a recurrent dropout mask m (B, H) the product's part is multiplied by m (the
forward multiplied ``m * h_{t-1}`` by ``W_hh``; ``z * h_{t-1}`` took h unmasked),
and ``dW_hh`` reads the masked h.

Only ``dh_{t-1}`` is sequential: the pre-activation gradients of every step are
stored, and ``dx``, ``dW_ih``, ``dW_hh`` and the bias gradients are one large
GEMM or sum each after the loop. A row runs back through exactly its valid
steps, in the order it ran forward (``lengths`` and ``reverse`` as in the
forward kernel); padded positions get zero gradients, and the gradient of
``h_n`` enters a row at its own last valid step. The reset-before variant
(``reset_after=False``) walks back through
:mod:`numrnn.kernels.gru_reset_before_backward` and shares the gradients after
the loop.
"""

import numpy as np
from numba import prange
from numba.core import types
from numba.extending import overload

from numrnn.kernels import gru_layer_norm_backward, gru_reset_before_backward, recurrent
from numrnn.kernels.activations import typed
from numrnn.kernels.blas import gemm
from numrnn.kernels.common import block_rows, longest_length, mask_rows, time_index
from numrnn.kernels.gemm import kernel_blas
from numrnn.kernels.gru import resets_after
from numrnn.kernels.gru_gradient_products import gru_gradient_products
from numrnn.kernels.jit import INLINED_OVERLOAD_OPTIONS, linked_kernel, parallel_driver
from numrnn.kernels.layer_norm_rows import layer_normalised
from numrnn.kernels.matvec import ThroughGemm, product, product_weight
from numrnn.kernels.plan import block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory


def _through_weights(rows, weight, out):
    """``out[...] = rows @ weight`` inside :func:`_backward_block`: the product
    :func:`numrnn.kernels.matvec.product` makes, to the bit."""
    product(rows, weight, out)


# numba compiles an overload's implementation (blas.gemm's glue here) once per
# argument types and per compile flags of the function it is typed in. These are
# the flags a linked kernel is typed with (numrnn.kernels.jit), so that the GEMM
# below and the gradient products' (gru_gradient_products._task, a linked kernel)
# share one (tests/test_cold_start.py).
@overload(_through_weights, inline="always", jit_options=INLINED_OVERLOAD_OPTIONS)
def _through_weights_impl(rows, weight, out):
    # A weight marked ThroughGemm takes the GEMM product() would take, called here,
    # with the rows as rows[0:n:1]: numba types that as layout "A", as the tasks'
    # row ranges, and it is the same memory and strides, so the same BLAS call and
    # bits. A first call then compiles blas.gemm's glue once, not twice (for "A"
    # and "C" rows), and not product() at all (docs/performance.md, "Cold start").
    # Other weights (loops, packed panels) go through product() as before.
    if isinstance(weight, types.BaseNamedTuple) and weight.instance_class is ThroughGemm:
        return lambda rows, weight, out: gemm(rows[0:rows.shape[0]:1], weight.weight, out)
    return lambda rows, weight, out: product(rows, weight, out)


@linked_kernel
def _backward_row(b, r, t, grad_output, grad_state, gates, hidden_n, h_prev, grad_projection,
                  grad_hidden_n, step_grad):
    """Gate gradients of batch row ``b`` (row ``r`` of its block) at position ``t``.

    ``grad_state[b]`` holds dL/dh_t from later steps on entry; it leaves holding
    the direct part ``dh_t * z`` of dL/dh_{t-1} (the caller adds the part through
    ``W_hh``). ``step_grad[r]`` receives the pre-activation gradients of
    ``h W_hhᵀ + b_hh`` for this step's GEMM; their r and z parts equal those of
    ``x W_ihᵀ + b_ih`` (in ``grad_projection``), so only the n part is kept, in
    ``grad_hidden_n``.
    """
    hidden = grad_state.shape[1]
    one = typed(1.0, grad_state[b, 0])
    # NOTE: row views per gate, as in the forward kernel, so the loop vectorises.
    gate_r, gate_z, gate_n = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden], \
        gates[t, b, 2 * hidden:]
    d_step = step_grad[r]
    grad_r, grad_z, grad_hn = d_step[:hidden], d_step[hidden:2 * hidden], d_step[2 * hidden:]
    grad_n = grad_projection[t, b, 2 * hidden:]
    dh_row, grad_out, hn_row, h_old = grad_state[b], grad_output[t, b], hidden_n[t, b], \
        h_prev[t, b]
    for j in range(hidden):
        dh = dh_row[j] + grad_out[j]
        r_gate, z, n = gate_r[j], gate_z[j], gate_n[j]
        d_n = dh * (one - z) * (one - n * n)
        grad_z[j] = dh * (h_old[j] - n) * z * (one - z)
        grad_r[j] = d_n * hn_row[j] * r_gate * (one - r_gate)
        grad_hn[j] = d_n * r_gate
        grad_n[j] = d_n
        dh_row[j] = dh * z
    # r and z enter x W_ihᵀ and h W_hhᵀ alike; only the n gate's gradients differ.
    # Element loops, not slice assignments: numba checks a slice assignment's
    # shapes at run time and compiles the formatting of its error message
    # (seconds of a first call, docs/performance.md "Cold start").
    grad_row, hn_grad_row = grad_projection[t, b], grad_hidden_n[t, b]
    for j in range(2 * hidden):
        grad_row[j] = d_step[j]
    for j in range(hidden):
        hn_grad_row[j] = grad_hn[j]


@linked_kernel
def _backward_block(block, grad_output, grad_state, gates, hidden_n, h_prev, weight_hh, lengths,
                    reverse, grad_projection, grad_hidden_n, recurrent_mask):
    """All steps back for the rows of batch block ``block``; its own GEMM each step."""
    batch, hidden = grad_state.shape
    first, stop = block_rows(block, batch)
    # Zeroed by a loop, not np.zeros: one numba allocation helper fewer to compile
    # in a first call (docs/performance.md "Cold start").
    step_grad = np.empty((stop - first, 3 * hidden), dtype=gates.dtype)
    for r in range(stop - first):
        step_row = step_grad[r]
        for j in range(3 * hidden):
            step_row[j] = 0
    through_weights = np.empty((stop - first, hidden), dtype=gates.dtype)
    masked = recurrent_mask.shape[0] > 0
    for step in range(longest_length(lengths, first, stop) - 1, -1, -1):
        for r in range(stop - first):
            length = lengths[first + r]
            if step < length:
                _backward_row(first + r, r, time_index(step, length, reverse), grad_output,
                              grad_state, gates, hidden_n, h_prev, grad_projection,
                              grad_hidden_n, step_grad)
        _through_weights(step_grad, weight_hh, through_weights)
        if masked:
            mask_rows(through_weights, recurrent_mask, first, through_weights)
        # Rows whose steps have not started yet keep dL/dh_n untouched; their
        # step_grad rows are still zero, so the GEMM row is ignored, not added.
        for r in range(stop - first):
            if step < lengths[first + r]:
                state_row, through_row = grad_state[first + r], through_weights[r]
                for j in range(hidden):
                    state_row[j] += through_row[j]


@parallel_driver
def _backward_recurrence(grad_output, grad_state, gates, hidden_n, h_prev, weight_hh, lengths,
                         reverse, grad_projection, grad_hidden_n, recurrent_mask):
    """Walk the steps backwards; ``grad_state`` (B, H) holds dL/dh_n on entry, dL/dh0 on return.

    Fills ``grad_projection`` (T, B, 3H) and ``grad_hidden_n`` (T, B, H), which
    hold zeros at padded positions (the caller zero-fills them when any row is
    shorter than T): the gradients of ``x W_ihᵀ + b_ih`` and of the n part of
    ``h W_hhᵀ + b_hh`` at each valid position.
    Only ``dh_{t-1} = dh_t * z + dG_h W_hh`` is sequential (its second part times
    ``recurrent_mask`` (B, H) unless that is empty); batch blocks run in parallel.
    A driver (:mod:`numrnn.kernels.jit`).
    """
    blocks = block_count(grad_state.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_state, gates, hidden_n, h_prev, weight_hh,
                        lengths, reverse, grad_projection, grad_hidden_n, recurrent_mask)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_state, gates, hidden_n, h_prev,
                        weight_hh, lengths, reverse, grad_projection, grad_hidden_n,
                        recurrent_mask)


def backward(grad_output, grad_finals, x, states, weights, saved, lengths=None, reverse=False,
             options=None, needs=None, recurrent_mask=None):
    """Backpropagation through time for :func:`forward_train`.

    The contract of :mod:`numrnn.kernels.recurrent`: ``grad_finals`` is
    ``(grad_h_n,)``; the rest as given to and returned by ``forward_train``.
    Returns ``(grad_x (T, B, I), grad_h0 (B, H), grad_weight_ih (3H, I),
    grad_weight_hh (3H, H), grad_bias_ih (3H,), grad_bias_hh (3H,))``, None
    for each gradient ``needs`` does not ask for. ``recurrent_mask``: the one
    ``forward_train`` ran with (any variant).
    """
    return recurrent.backward(_backward, grad_output, grad_finals, x, states, weights, saved,
                              lengths, reverse, options, needs, recurrent_mask)


# The memory of the pre-activation gradients, reused from step to step.
_GRADIENTS = ReusedMemory()


def _backward(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, options,
              needs, recurrent_mask):
    if layer_normalised(options, resets_after(options)):
        return gru_layer_norm_backward.backward_run(grad_output, grad_finals, x, states, weights,
                                                    saved, lengths, reverse, needs,
                                                    recurrent_mask)
    gates, hidden_n, h_prev = saved
    # W_hh multiplied the masked state: its gradient reads that.
    h_read = h_prev * recurrent_mask if recurrent.masked(recurrent_mask) else h_prev
    weight_ih, weight_hh = weights[0], weights[1]
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    grad_state = grad_finals[0].copy()
    plan = plan_for(x.dtype, batch, steps, x.shape[2], hidden, 3)
    if not resets_after(options):
        grad_projection = np.zeros((steps, batch, 3 * hidden), dtype=x.dtype)
        # saved holds r * h_{t-1} (h masked under a recurrent mask), the input of n's
        # recurrent product, in place of hidden_n; b_hn sits beside b_in, outside r,
        # so n's recurrent pre-activation gradient is its input one.
        with kernel_blas(plan.backward_pins_blas):
            gru_reset_before_backward.backward_recurrence(
                grad_output, grad_state, gates, h_prev,
                product_weight(weight_hh[:2 * hidden], plan.backward_weight),
                product_weight(weight_hh[2 * hidden:], plan.backward_weight), lengths, reverse,
                grad_projection, recurrent_mask)
        return _weight_gradients(x, h_read, hidden_n, weight_ih, grad_state, grad_projection,
                                 None, needs)
    # The recurrence writes every valid position: the padded ones must hold zeros.
    padded = lengths.size > 0 and lengths.min() < steps
    grad_projection, grad_hidden_n = _GRADIENTS.arrays(
        ((steps, batch, 3 * hidden), (steps, batch, hidden)), x.dtype, padded)
    with kernel_blas(plan.backward_pins_blas):
        _backward_recurrence(grad_output, grad_state, gates, hidden_n, h_prev,
                             product_weight(weight_hh, plan.backward_weight,
                                            (plan.backward_product, plan.backward_last_product)),
                             lengths, reverse,
                             grad_projection, grad_hidden_n, recurrent_mask)
    return _weight_gradients(x, h_read, h_read, weight_ih, grad_state, grad_projection,
                             grad_hidden_n, needs)


def _weight_gradients(x, h_prev, n_inputs, weight_ih, grad_h0, grad_projection, grad_hidden_n,
                      needs):
    """The parallel half of backward: the three products in one parallel region
    (:func:`~numrnn.kernels.gru_gradient_products.gru_gradient_products`), the bias sums.

    The gradient of the recurrent pre-activations ``[h W_hrzᵀ, u W_hnᵀ] + b_hh``
    is ``grad_projection``'s r and z columns next to ``grad_hidden_n`` (None in
    the reset-before variant, where it is ``grad_projection``'s n columns): both
    weight-gradient halves read those in place. ``n_inputs`` is ``u``, what
    ``W_hn`` multiplied: ``h_{t-1}`` (``h_prev``), or ``r * h_{t-1}`` in the
    reset-before variant.
    """
    steps, batch, n_in = x.shape
    positions = steps * batch
    d_proj = grad_projection.reshape(positions, grad_projection.shape[2])
    hidden = d_proj.shape[1] // 3
    d_hidden_n = None if grad_hidden_n is None else grad_hidden_n.reshape(positions, hidden)
    need_x, need_h0, need_w_ih, need_w_hh, need_b_ih, need_b_hh = needs
    grad_x, grad_w_ih, grad_w_hh = gru_gradient_products(
        d_proj, d_hidden_n, weight_ih, x.reshape(positions, n_in),
        h_prev.reshape(positions, hidden), n_inputs.reshape(positions, hidden),
        (need_x, need_w_ih, need_w_hh))
    grad_b_hh = None
    if need_b_hh:
        n_sums = (d_proj[:, 2 * hidden:] if d_hidden_n is None else d_hidden_n).sum(axis=0)
        grad_b_hh = np.concatenate([d_proj[:, :2 * hidden].sum(axis=0), n_sums])
    return (
        grad_x.reshape(steps, batch, n_in) if need_x else None,
        grad_h0 if need_h0 else None,
        grad_w_ih,
        grad_w_hh,
        d_proj.sum(axis=0) if need_b_ih else None,
        grad_b_hh,
    )
