"""The fused Elman RNN: forward (train / infer) and backward through time.

::

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

Shapes are time-major: ``x`` (T, B, I), states (B, H), output (T, B, H),
``W_ih`` (H, I), ``W_hh`` (H, H), biases (H,).

``lengths`` (int64, one per row, each in 1..T) runs row ``b`` over its first
``lengths[b]`` positions only: later positions output zeros and leave its state
alone, so ``h_n`` is each row's state after its own last valid step. With
``reverse=True`` each row runs backwards over its valid part (positions
``L-1 .. 0``), as the reverse direction of a bidirectional layer does on a
packed sequence. The kernels trust their inputs; :mod:`numrnn.functional.rnn`
validates shapes, dtypes and lengths first (Numba checks no bounds).

Same measured structure as :mod:`numrnn.kernels.gru`: one input-projection GEMM
before the jitted time loop, only ``dh_{t-1} = da_t W_hh`` sequential in
backward, one large GEMM per weight gradient afterwards, and fixed batch blocks
running their whole recurrence in parallel, so results are bit-identical for
any thread count.
"""

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels import recurrent
from numrnn.kernels.activations import tanh, typed
from numrnn.kernels.common import block_rows, combined_bias, time_index
from numrnn.kernels.gemm import kernel_blas, matmul, project_inputs
from numrnn.kernels.jit import inline_kernel, kernel, parallel_kernel
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import block_count, plan_for

NONLINEARITIES = ("tanh", "relu")


@inline_kernel
def _activate(preact, relu):
    """The Elman nonlinearity: ``max(preact, 0)`` with ``relu``, else tanh."""
    if relu:
        zero = typed(0.0, preact)
        return preact if preact > zero else zero
    return tanh(preact)


@kernel
def _step_row(b, r, t, projection, recurrent, bias, h_block, output, h_prev, relu, keep):
    """Advance batch row ``b`` (row ``r`` of its block) by one step at position ``t``."""
    hidden = h_block.shape[1]
    pre_row, rec_row, h_row, out_row = projection[t, b], recurrent[r], h_block[r], output[t, b]
    # Two loops, not one with `if keep` inside: conditional stores keep LLVM from
    # vectorising the loop at all (see lstm._step_row).
    if keep:
        prev_row = h_prev[t, b]
        for j in range(hidden):
            h_new = _activate(pre_row[j] + rec_row[j] + bias[j], relu)
            prev_row[j] = h_row[j]
            h_row[j] = h_new
            out_row[j] = h_new
    else:
        for j in range(hidden):
            h_new = _activate(pre_row[j] + rec_row[j] + bias[j], relu)
            h_row[j] = h_new
            out_row[j] = h_new


@kernel
def _run_block(block, projection, weight_hh_t, bias, lengths, reverse, relu, state, output,
               h_prev, keep):
    """All steps for the rows of batch block ``block``; its own GEMM each step."""
    batch, hidden = state.shape
    first, stop = block_rows(block, batch)
    h_block = state[first:stop].copy()
    recurrent = np.empty((stop - first, hidden), dtype=projection.dtype)
    for step in range(lengths[first:stop].max()):
        product(h_block, weight_hh_t, recurrent)
        for r in range(stop - first):
            length = lengths[first + r]
            if step < length:
                _step_row(first + r, r, time_index(step, length, reverse), projection,
                          recurrent, bias, h_block, output, h_prev, relu, keep)
    state[first:stop] = h_block


@parallel_kernel
def _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, relu, h0, projection,
             output, h_prev, keep):
    """Run all steps in one compiled call; returns h_n (B, H).

    ``x`` (T, B, I) is C-contiguous; ``projection`` (T, B, H) receives
    ``x W_ihᵀ``, one GEMM for all steps. ``weight_hh_t`` is ``W_hhᵀ`` (a
    row-major copy, a transposed view or packed panels); ``bias_ih``/``bias_hh``
    (H,) or None are summed once and added in the step loop. ``h0`` (B, H) is
    not modified. ``output`` (T, B, H) must be zero-filled. With ``keep``,
    ``h_prev`` (T, B, H) receives the state each valid position started from.
    The caller allocates the large arrays (see
    :func:`numrnn.kernels.lstm._forward`). Batch blocks run in parallel.
    """
    batch = x.shape[1]
    hidden = weight_ih.shape[0]
    project_inputs(x, weight_ih, projection)
    bias = combined_bias(bias_ih, bias_hh, hidden, x)
    state = h0.copy()
    blocks = block_count(batch)
    if blocks == 1:
        _run_block(0, projection, weight_hh_t, bias, lengths, reverse, relu, state, output,
                   h_prev, keep)
    else:
        for block in prange(blocks):
            _run_block(block, projection, weight_hh_t, bias, lengths, reverse, relu, state,
                       output, h_prev, keep)
    return state


@kernel
def _backward_row(b, r, t, grad_output, grad_state, output, relu, grad_preact, step_grad):
    """Pre-activation gradient of batch row ``b`` (row ``r`` of its block) at position ``t``."""
    one, zero = typed(1.0, grad_state[b, 0]), typed(0.0, grad_state[b, 0])
    for j in range(grad_state.shape[1]):
        dh = grad_state[b, j] + grad_output[t, b, j]
        h = output[t, b, j]
        if relu:
            # NOTE: the derivative at 0 is taken as 0, as PyTorch does.
            d_a = dh if h > zero else zero
        else:
            d_a = dh * (one - h * h)
        grad_preact[t, b, j] = d_a
        step_grad[r, j] = d_a


@kernel
def _backward_block(block, grad_output, grad_state, output, weight_hh, lengths, reverse, relu,
                    grad_preact):
    """All steps back for the rows of batch block ``block``; its own GEMM each step."""
    batch, hidden = grad_state.shape
    first, stop = block_rows(block, batch)
    step_grad = np.zeros((stop - first, hidden), dtype=output.dtype)
    through_weights = np.empty((stop - first, hidden), dtype=output.dtype)
    for step in range(lengths[first:stop].max() - 1, -1, -1):
        for r in range(stop - first):
            length = lengths[first + r]
            if step < length:
                _backward_row(first + r, r, time_index(step, length, reverse), grad_output,
                              grad_state, output, relu, grad_preact, step_grad)
        product(step_grad, weight_hh, through_weights)
        # dh_{t-1} is only the part through W_hh; rows not started keep dL/dh_n.
        for r in range(stop - first):
            if step < lengths[first + r]:
                for j in range(hidden):
                    grad_state[first + r, j] = through_weights[r, j]


@parallel_kernel
def _backward_recurrence(grad_output, grad_state, output, weight_hh, lengths, reverse, relu,
                         grad_preact):
    """Walk the steps backwards; ``grad_state`` (B, H) holds dL/dh_n on entry, dL/dh0 on return.

    Fills ``grad_preact`` (T, B, H, zero-filled) with the gradient of the
    pre-activation at each valid position; only ``dh_{t-1} = da_t W_hh`` is
    sequential. Batch blocks run in parallel.
    """
    blocks = block_count(grad_state.shape[0])
    if blocks == 1:
        _backward_block(0, grad_output, grad_state, output, weight_hh, lengths, reverse, relu,
                        grad_preact)
        return
    for block in prange(blocks):
        _backward_block(block, grad_output, grad_state, output, weight_hh, lengths, reverse,
                        relu, grad_preact)


def _run(x, states, weights, lengths, reverse, options, keep):
    """The Elman RNN's part of the contract (:mod:`numrnn.kernels.recurrent`): its
    residuals' arrays; saved is ``(output, h_prev)``."""
    (h0,), (weight_ih, weight_hh, bias_ih, bias_hh) = states, weights
    steps, batch, n_in = x.shape
    hidden = weight_hh.shape[1]
    relu = _is_relu(options)
    h_prev = np.zeros((steps, batch, hidden) if keep else (0, 0, 0), dtype=x.dtype)
    output = np.zeros((steps, batch, hidden), dtype=x.dtype)
    projection = np.empty((steps, batch, hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 1)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight)
    with kernel_blas(plan.pins_blas):
        state = _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, relu,
                         h0, projection, output, h_prev, keep)
    return output, (state,), (output, h_prev)


def _is_relu(options):
    """Whether ``options`` choose the ReLU; tanh is the default."""
    nonlinearity = options.get("nonlinearity", "tanh")
    if nonlinearity not in NONLINEARITIES:
        raise ArgumentError(f"elman: nonlinearity must be one of {NONLINEARITIES}, "
                            f"got {nonlinearity!r}")
    return nonlinearity == "relu"


def forward_train(x, states, weights, lengths=None, reverse=False, options=None):
    """Elman RNN over a sequence, keeping what :func:`backward` needs.

    The contract of :mod:`numrnn.kernels.recurrent`: ``states`` is ``(h0,)``,
    ``weights`` is ``(weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh)``
    with biases (H,) or None; ``options`` may name the ``nonlinearity``,
    'tanh' (the default) or 'relu'. Returns ``(output, (h_n,), saved)``;
    ``saved`` holds the output and h_prev (T, B, H), the state each position
    started from, zeros past each length.
    """
    return recurrent.forward(_run, x, states, weights, lengths, reverse, options, keep=True)


def forward_infer(x, states, weights, lengths=None, reverse=False, options=None):
    """Like :func:`forward_train` but keeps no residuals: returns ``(output, (h_n,))``."""
    output, finals, _ = recurrent.forward(_run, x, states, weights, lengths, reverse, options,
                                          keep=False)
    return output, finals


def backward(grad_output, grad_finals, x, states, weights, saved, lengths=None, reverse=False,
             options=None, needs=None):
    """Backpropagation through time for :func:`forward_train`.

    The contract of :mod:`numrnn.kernels.recurrent`: ``grad_finals`` is
    ``(grad_h_n,)``; the rest as given to and returned by ``forward_train``.
    Returns ``(grad_x (T, B, I), grad_h0 (B, H), grad_weight_ih (H, I),
    grad_weight_hh (H, H), grad_bias_ih (H,), grad_bias_hh (H,))``, None for
    each gradient ``needs`` does not ask for.
    """
    return recurrent.backward(_backward, grad_output, grad_finals, x, states, weights, saved,
                              lengths, reverse, options, needs)


def _backward(grad_output, grad_finals, x, states, weights, saved, lengths, reverse, options,
              needs):
    output, h_prev = saved
    weight_ih, weight_hh = weights[0], weights[1]
    steps, batch, n_in = x.shape
    hidden = weight_hh.shape[1]
    grad_state = grad_finals[0].copy()
    grad_preact = np.zeros((steps, batch, hidden), dtype=x.dtype)
    relu = _is_relu(options)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 1)
    with kernel_blas(plan.backward_pins_blas):
        _backward_recurrence(grad_output, grad_state, output,
                             product_weight(weight_hh, plan.backward_weight), lengths, reverse,
                             relu, grad_preact)
    d_preact = grad_preact.reshape(steps * batch, hidden)
    bias_grad = d_preact.sum(axis=0) if needs[4] or needs[5] else None
    need_x, need_h0, need_w_ih, need_w_hh, need_b_ih, need_b_hh = needs
    return (
        matmul(d_preact, weight_ih).reshape(steps, batch, n_in) if need_x else None,
        grad_state if need_h0 else None,
        matmul(d_preact.T, x.reshape(steps * batch, n_in)) if need_w_ih else None,
        matmul(d_preact.T, h_prev.reshape(steps * batch, hidden)) if need_w_hh else None,
        bias_grad if need_b_ih else None,
        bias_grad.copy() if need_b_hh else None,
    )
