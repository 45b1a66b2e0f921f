"""The fused Elman RNN forward (train / infer); the backward is
:mod:`numrnn.kernels.elman_backward`.

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
from numrnn.kernels.common import (
    block_rows,
    combined_bias,
    longest_length,
    mask_rows,
    time_index,
)
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import inline_kernel, kernel, parallel_driver
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
               h_prev, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own GEMM each step."""
    batch, hidden = state.shape
    first, stop = block_rows(block, batch)
    h_block = state[first:stop].copy()
    recurrent = np.empty((stop - first, hidden), dtype=projection.dtype)
    masked = recurrent_mask.shape[0] > 0
    dropped = np.empty_like(h_block) if masked else h_block
    for step in range(longest_length(lengths, first, stop)):
        if masked:
            mask_rows(h_block, recurrent_mask, first, dropped)
            product(dropped, weight_hh_t, recurrent)
        else:
            product(h_block, weight_hh_t, recurrent)
        for r in range(stop - first):
            length = lengths[first + r]
            if step < length:
                _step_row(first + r, r, time_index(step, length, reverse), projection,
                          recurrent, bias, h_block, output, h_prev, relu, keep)
    # An element loop, not a slice assignment: numba checks a slice assignment's
    # shapes at run time and compiles the formatting of its error message
    # (seconds of a first call, docs/performance.md "Cold start").
    for r in range(stop - first):
        state_row, block_row = state[first + r], h_block[r]
        for j in range(hidden):
            state_row[j] = block_row[j]


@parallel_driver
def _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, relu, state,
             projection, output, h_prev, keep, recurrent_mask):
    """Run all steps in one compiled call; ``state`` (B, H) holds h0 on entry, h_n on return.

    ``x`` (T, B, I) is C-contiguous; ``projection`` (T, B, H) receives
    ``x W_ihᵀ``, one GEMM for all steps. ``weight_hh_t`` is ``W_hhᵀ`` (a
    row-major copy, a transposed view or packed panels); ``bias_ih``/``bias_hh``
    (H,) or None are summed once and added in the step loop. ``output`` (T, B, H)
    must be zero-filled. With ``keep``, ``h_prev`` (T, B, H) receives the state
    each valid position started from. ``recurrent_mask`` (B, H) multiplies each
    row's h before the recurrent product (empty: no mask). The caller allocates
    the large arrays (see :func:`numrnn.kernels.lstm._forward`) and copies the
    state: this is a driver (:mod:`numrnn.kernels.jit`), it only calls kernels.
    Batch blocks run in parallel.
    """
    batch = x.shape[1]
    hidden = weight_ih.shape[0]
    project_inputs(x, weight_ih, projection)
    bias = combined_bias(bias_ih, bias_hh, hidden, x)
    blocks = block_count(batch)
    if blocks == 1:
        _run_block(np.int64(0), projection, weight_hh_t, bias, lengths, reverse, relu, state,
                   output, h_prev, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), projection, weight_hh_t, bias, lengths, reverse, relu,
                       state, output, h_prev, keep, recurrent_mask)


def _run(x, states, weights, lengths, reverse, options, keep, recurrent_mask):
    """The Elman RNN's part of the contract (:mod:`numrnn.kernels.recurrent`): its
    residuals' arrays; saved is ``(output, h_prev)``, h_prev unmasked."""
    (h0,), (weight_ih, weight_hh, bias_ih, bias_hh) = states, weights
    steps, batch, n_in = x.shape
    hidden = weight_hh.shape[1]
    relu = is_relu(options)
    h_prev = np.zeros((steps, batch, hidden) if keep else (0, 0, 0), dtype=x.dtype)
    output = np.zeros((steps, batch, hidden), dtype=x.dtype)
    projection = np.empty((steps, batch, hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 1)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight)
    state = h0.copy()
    with kernel_blas(plan.pins_blas):
        _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, relu, state,
                 projection, output, h_prev, keep, recurrent_mask)
    return output, (state,), (output, h_prev)


def is_relu(options):
    """Whether ``options`` choose the ReLU; tanh is the default."""
    nonlinearity = options.get("nonlinearity", "tanh")
    if nonlinearity not in NONLINEARITIES:
        raise ArgumentError(f"elman: nonlinearity must be one of {NONLINEARITIES}, "
                            f"got {nonlinearity!r}")
    return nonlinearity == "relu"


def forward_train(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None):
    """Elman RNN over a sequence, keeping what :func:`backward` needs.

    The contract of :mod:`numrnn.kernels.recurrent`: ``states`` is ``(h0,)``,
    ``weights`` is ``(weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh)``
    with biases (H,) or None; ``options`` may name the ``nonlinearity``,
    'tanh' (the default) or 'relu'. Returns ``(output, (h_n,), saved)``;
    ``saved`` holds the output and h_prev (T, B, H), the state each position
    started from, zeros past each length. ``recurrent_mask`` (B, H) or None:
    recurrent dropout on h before ``W_hh`` (:mod:`numrnn.kernels.recurrent`).
    """
    return recurrent.forward(_run, x, states, weights, lengths, reverse, options, True,
                             recurrent_mask)


def forward_infer(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None):
    """Like :func:`forward_train` but keeps no residuals: returns ``(output, (h_n,))``."""
    output, finals, _ = recurrent.forward(_run, x, states, weights, lengths, reverse, options,
                                          False, recurrent_mask)
    return output, finals
