"""Backpropagation through time for the fused Elman RNN of :mod:`numrnn.kernels.elman`.

With ``h_t = act(a_t)``, one step back from ``dh = dL/dh_t`` (the output's
gradient at t plus what step t+1 sent back) is::

    da_t     = dh * act'(a_t)          (from h_t: 1 - h² for tanh, h > 0 for relu)
    dh_{t-1} = da_t W_hh                                    (B, H) @ (H, H)

With a recurrent dropout mask m (B, H), the forward multiplied ``m * h_{t-1}`` by
``W_hh``: then ``dh_{t-1} = (da_t W_hh) * m`` and ``dW_hh`` reads the masked h.

Only ``dh_{t-1}`` is sequential: the pre-activation gradients of every step are
stored, and ``dx``, ``dW_ih`` and ``dW_hh`` are one large GEMM each after the
loop, the two weight gradients side by side in one parallel call where they are
large (:func:`numrnn.kernels.plan.weight_gradient_chunks`). The bias gradient is
summed inside the loop, per batch block, and the blocks' sums added in block
order after it: a NumPy sum over the (T·B, H) gradients after the loop was a
serial millisecond of a 2-thread training step at B = 64, T = 100.
A row runs back through exactly its valid steps, in the order it ran forward;
padded positions get zero gradients.
"""

import numpy as np
from numba import prange

from numrnn.kernels import recurrent
from numrnn.kernels.activations import typed
from numrnn.kernels.blas import gemm
from numrnn.kernels.common import block_rows, longest_length, mask_rows, time_index
from numrnn.kernels.elman import is_relu
from numrnn.kernels.gemm import kernel_blas, matmul
from numrnn.kernels.jit import linked_kernel, parallel_driver, parallel_kernel
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for, weight_gradient_chunks
from numrnn.kernels.reused_memory import ReusedMemory


@linked_kernel
def _backward_row(b, r, t, grad_output, grad_state, output, relu, grad_preact, step_grad,
                  bias_sum):
    """Pre-activation gradient of batch row ``b`` (row ``r`` of its block) at position ``t``,
    added to its block's ``bias_sum``."""
    one, zero = typed(1.0, grad_state[b, 0]), typed(0.0, grad_state[b, 0])
    # Row views, indexed by j alone: each multi-index access is lowered with its own
    # wrap-around and stride code, so these are less IR to type, lower and optimise.
    dh_row, out_grad, h_row = grad_state[b], grad_output[t, b], output[t, b]
    preact_row, step_row = grad_preact[t, b], step_grad[r]
    for j in range(grad_state.shape[1]):
        dh = dh_row[j] + out_grad[j]
        h = h_row[j]
        if relu:
            # NOTE: the derivative at 0 is taken as 0, as PyTorch does.
            d_a = dh if h > zero else zero
        else:
            d_a = dh * (one - h * h)
        preact_row[j] = d_a
        step_row[j] = d_a
        bias_sum[j] += d_a


@linked_kernel
def _backward_block(block, grad_output, grad_state, output, weight_hh, lengths, reverse, relu,
                    grad_preact, recurrent_mask, bias_sums):
    """All steps back for the rows of batch block ``block``; its own GEMM each step."""
    batch, hidden = grad_state.shape
    first, stop = block_rows(block, batch)
    # Zeroed by a loop, not np.zeros: one numba allocation helper fewer to compile
    # in a first call (docs/performance.md "Cold start").
    step_grad = np.empty((stop - first, hidden), dtype=output.dtype)
    for r in range(stop - first):
        step_row = step_grad[r]
        for j in range(hidden):
            step_row[j] = 0
    through_weights = np.empty((stop - first, hidden), dtype=output.dtype)
    masked = recurrent_mask.shape[0] > 0
    for step in range(longest_length(lengths, first, stop) - 1, -1, -1):
        for r in range(stop - first):
            length = lengths[first + r]
            if step < length:
                _backward_row(first + r, r, time_index(step, length, reverse), grad_output,
                              grad_state, output, relu, grad_preact, step_grad,
                              bias_sums[block])
        product(step_grad, weight_hh, through_weights)
        if masked:
            mask_rows(through_weights, recurrent_mask, first, through_weights)
        # dh_{t-1} is only the part through W_hh; rows not started keep dL/dh_n.
        for r in range(stop - first):
            if step < lengths[first + r]:
                state_row, through_row = grad_state[first + r], through_weights[r]
                for j in range(hidden):
                    state_row[j] = through_row[j]


@parallel_driver
def _backward_recurrence(grad_output, grad_state, output, weight_hh, lengths, reverse, relu,
                         grad_preact, recurrent_mask, bias_sums):
    """Walk the steps backwards; ``grad_state`` (B, H) holds dL/dh_n on entry, dL/dh0 on return.

    Fills ``grad_preact`` (T, B, H, zero-filled) with the gradient of the
    pre-activation at each valid position, and row ``k`` of ``bias_sums``
    (blocks, H, zero-filled) with its sum over block ``k``'s rows; only
    ``dh_{t-1} = da_t W_hh`` is sequential (times ``recurrent_mask`` (B, H)
    unless it is empty). Batch blocks run in parallel. A driver
    (:mod:`numrnn.kernels.jit`).
    """
    blocks = block_count(grad_state.shape[0])
    if blocks == 1:
        _backward_block(np.int64(0), grad_output, grad_state, output, weight_hh, lengths, reverse,
                        relu, grad_preact, recurrent_mask, bias_sums)
        return
    for block in prange(blocks):
        _backward_block(np.int64(block), grad_output, grad_state, output, weight_hh, lengths,
                        reverse, relu, grad_preact, recurrent_mask, bias_sums)


@parallel_kernel
def _side_by_side(d_preact_t, inputs, states, chunks, grad_weight_ih, grad_weight_hh):
    """``grad_weight_ih = d_preact_t @ inputs`` and ``grad_weight_hh = d_preact_t @ states``.

    ``d_preact_t`` (H, T*B) is the transposed view of the stored pre-activation
    gradients, ``inputs`` (T*B, I) and ``states`` (T*B, H) are C-contiguous;
    ``chunks`` (n, 2) holds the row ranges. One single-threaded GEMM per range
    and product, all of them spread over the threads: each element comes from
    the same call whatever the thread count. The caller keeps BLAS on one thread.
    """
    count = chunks.shape[0]
    for task in prange(2 * count):
        first, stop = chunks[task % count, 0], chunks[task % count, 1]
        if task < count:
            gemm(d_preact_t[first:stop], inputs, grad_weight_ih[first:stop])
        else:
            gemm(d_preact_t[first:stop], states, grad_weight_hh[first:stop])


def _weight_gradients(d_preact, inputs, states, need_w_ih, need_w_hh):
    """``(dᵀ·inputs, dᵀ·states)`` for ``d_preact`` (T*B, H), None for one not needed."""
    both = need_w_ih and need_w_hh
    chunks = weight_gradient_chunks(d_preact.shape[1], d_preact.shape[0],
                                    min(inputs.shape[1], states.shape[1])) if both else None
    if chunks is None:
        return (matmul(d_preact.T, inputs) if need_w_ih else None,
                matmul(d_preact.T, states) if need_w_hh else None)
    grad_weight_ih = np.empty((d_preact.shape[1], inputs.shape[1]), dtype=d_preact.dtype)
    grad_weight_hh = np.empty((d_preact.shape[1], states.shape[1]), dtype=d_preact.dtype)
    with kernel_blas(True):
        _side_by_side(d_preact.T, inputs, states, chunks, grad_weight_ih, grad_weight_hh)
    return grad_weight_ih, grad_weight_hh


def backward(grad_output, grad_finals, x, states, weights, saved, lengths=None, reverse=False,
             options=None, needs=None, recurrent_mask=None):
    """Backpropagation through time for :func:`forward_train`.

    The contract of :mod:`numrnn.kernels.recurrent`: ``grad_finals`` is
    ``(grad_h_n,)``; the rest as given to and returned by ``forward_train``.
    Returns ``(grad_x (T, B, I), grad_h0 (B, H), grad_weight_ih (H, I),
    grad_weight_hh (H, H), grad_bias_ih (H,), grad_bias_hh (H,))``, None for
    each gradient ``needs`` does not ask for. ``recurrent_mask``: the one
    ``forward_train`` ran with.
    """
    return recurrent.backward(_backward, grad_output, grad_finals, x, states, weights, saved,
                              lengths, reverse, options, needs, recurrent_mask)


# The memory of the pre-activation gradients, reused from step to step.
_GRADIENTS = ReusedMemory()


def _backward(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, options,
              needs, recurrent_mask):
    output, h_prev = saved
    weight_ih, weight_hh = weights[0], weights[1]
    steps, batch, n_in = x.shape
    hidden = weight_hh.shape[1]
    grad_state = grad_finals[0].copy()
    # Zeroed, as a fresh array was: the recurrence skips padded positions.
    (grad_preact,) = _GRADIENTS.arrays(((steps, batch, hidden),), x.dtype, True)
    relu = is_relu(options)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 1)
    bias_sums = np.zeros((plan.blocks, hidden), dtype=x.dtype)
    with kernel_blas(plan.backward_pins_blas):
        weight = product_weight(weight_hh, plan.backward_weight,
                                (plan.backward_product, plan.backward_last_product))
        _backward_recurrence(grad_output, grad_state, output, weight, lengths, reverse,
                             relu, grad_preact, recurrent_mask, bias_sums)
    if recurrent.masked(recurrent_mask):
        # W_hh multiplied the masked state: its gradient reads that.
        h_prev = h_prev * recurrent_mask
    d_preact = grad_preact.reshape(steps * batch, hidden)
    # The blocks' sums in block order (NumPy adds the rows of a 2-D array one by one).
    bias_grad = bias_sums.sum(axis=0) if needs[4] or needs[5] else None
    need_x, need_h0, need_w_ih, need_w_hh, need_b_ih, need_b_hh = needs
    grad_weight_ih, grad_weight_hh = _weight_gradients(
        d_preact, x.reshape(steps * batch, n_in), h_prev.reshape(steps * batch, hidden),
        need_w_ih, need_w_hh)
    return (
        matmul(d_preact, weight_ih).reshape(steps, batch, n_in) if need_x else None,
        grad_state if need_h0 else None,
        grad_weight_ih,
        grad_weight_hh,
        bias_grad if need_b_ih else None,
        bias_grad.copy() if need_b_hh else None,
    )
