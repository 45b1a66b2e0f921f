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
any thread count. Float32 batches whose weights pack take the joint step
instead (:func:`_forward_joint`, as the LSTM's): each step multiplies
``[x_t, h_{t-1}]`` by the packed ``[W_ihᵀ; W_hhᵀ]``, so the whole forward is
one parallel region of register-tiled products, with no projection GEMM.
"""

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels import packed, recurrent
from numrnn.kernels.activations import tanh, typed
from numrnn.kernels.common import (
    block_rows,
    combined_bias,
    joint_buffers,
    longest_length,
    mask_rows,
    time_index,
)
from numrnn.kernels.gemm import kernel_blas, matmul_into
from numrnn.kernels.jit import inline_kernel, linked_kernel, parallel_driver
from numrnn.kernels.matvec import dot_rows, product, product_weight
from numrnn.kernels.plan import GEMM, JOINT, block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory

NONLINEARITIES = ("tanh", "relu")


@inline_kernel
def _activate(preact, relu):
    """The Elman nonlinearity: ``max(preact, 0)`` with ``relu``, else tanh."""
    if relu:
        zero = typed(0.0, preact)
        return preact if preact > zero else zero
    return tanh(preact)


@linked_kernel
def _step_row(b, r, t, projection, recurrent, bias, h_block, output, h_prev, relu, keep, spare):
    """Advance batch row ``b`` (row ``r`` of its block) by one step at position ``t``.

    Without ``keep`` the state each position started from goes to ``spare`` (H,), a
    scratch row, instead of ``h_prev``: one loop for both cases, not one each (a
    first call types, lowers and optimises the loop and its inlined activations
    once; docs/performance.md "Cold start"). A store, not an ``if keep`` inside
    the loop: conditional stores keep LLVM from vectorising it (see lstm._step_row).
    """
    hidden = h_block.shape[1]
    pre_row, rec_row, h_row, out_row = projection[t, b], recurrent[r], h_block[r], output[t, b]
    prev_row = h_prev[t, b] if keep else spare
    for j in range(hidden):
        h_new = _activate(pre_row[j] + rec_row[j] + bias[j], relu)
        prev_row[j] = h_row[j]
        h_row[j] = h_new
        out_row[j] = h_new


@linked_kernel
def _run_block(block, projection, weight_hh_t, bias, lengths, reverse, relu, state, output,
               h_prev, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own GEMM each step."""
    batch, hidden = state.shape
    first, stop = block_rows(block, batch)
    h_block = state[first:stop].copy()
    recurrent = np.empty((stop - first, hidden), dtype=projection.dtype)
    masked = recurrent_mask.shape[0] > 0
    # np.empty, not np.empty_like: one numba allocation helper fewer to compile.
    dropped = np.empty((stop - first, hidden), dtype=projection.dtype) if masked else h_block
    spare = np.empty(hidden, dtype=projection.dtype)
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
                          recurrent, bias, h_block, output, h_prev, relu, keep, spare)
    # An element loop, not a slice assignment: numba checks a slice assignment's
    # shapes at run time and compiles the formatting of its error message
    # (seconds of a first call, docs/performance.md "Cold start").
    for r in range(stop - first):
        state_row, block_row = state[first + r], h_block[r]
        for j in range(hidden):
            state_row[j] = block_row[j]


@parallel_driver
def _forward(projection, state, weight_hh_t, bias_ih, bias_hh, lengths, reverse, relu, output,
             h_prev, keep, recurrent_mask):
    """Run all steps in one compiled call; ``state`` (B, H) holds h0 on entry, h_n on return.

    ``projection`` (T, B, H) holds ``x W_ihᵀ`` (:func:`_project_inputs`).
    ``weight_hh_t`` is ``W_hhᵀ`` (a row-major copy, a transposed view or packed
    panels); ``bias_ih``/``bias_hh`` (H,) or None are summed once and added in
    the step loop. ``output`` (T, B, H) must be zero-filled. With ``keep``,
    ``h_prev`` (T, B, H) receives the state each valid position started from.
    ``recurrent_mask`` (B, H) multiplies each row's h before the recurrent
    product (empty: no mask). The caller allocates the large arrays (see
    :func:`numrnn.kernels.lstm._forward`) and copies the state: this is a driver
    (:mod:`numrnn.kernels.jit`), it only calls kernels. Batch blocks run in parallel.
    """
    batch, hidden = state.shape
    bias = combined_bias(bias_ih, bias_hh, hidden, projection)
    blocks = block_count(batch)
    if blocks == 1:
        _run_block(np.int64(0), projection, weight_hh_t, bias, lengths, reverse, relu, state,
                   output, h_prev, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), projection, weight_hh_t, bias, lengths, reverse, relu,
                       state, output, h_prev, keep, recurrent_mask)


def _project_inputs(x, weight_ih, projection, calls_blas):
    """``projection[...] = x W_ihᵀ`` for a C-contiguous (T, B, I) ``x``, before
    :func:`_forward`: one GEMM where the plan says so (``calls_blas``), else
    dot-product loops.

    Here in Python rather than inside the driver (:func:`numrnn.kernels.gemm.project_inputs`),
    so that a first call compiles the path it takes, not both, and the driver does
    not link their code in (docs/performance.md, "Cold start"). The GEMM reads
    ``W_ihᵀ`` through a transposed view, as before: a row-major copy would share
    the recurrent products' BLAS glue, but changed results in the last bit where
    a GEMM chunk had 8 or 16 rows (T·B = 80 and 200; presumably OpenBLAS's
    small-matrix kernels, which differ by layout). The caller keeps BLAS on
    one thread.
    """
    steps, batch, n_in = x.shape
    rows = x.reshape(steps * batch, n_in)
    flat = projection.reshape(steps * batch, projection.shape[2])
    if calls_blas:
        matmul_into(rows, weight_ih.T, flat)
    else:
        dot_rows(rows, weight_ih, flat)


# The memory of a training call's output and of its residual h_prev, reused from step
# to step, each on a site of its own: the caller keeps the output (see lstm._OUTPUTS).
_OUTPUTS = ReusedMemory()
_RESIDUALS = ReusedMemory()


@linked_kernel
def _joint_step_row(b, r, t, preactivations, bias, joint, h_kept, output, h_prev, relu, keep,
                    masked, spare):
    """:func:`_step_row` for the joint path: ``preactivations[r]`` holds both products.

    The state is the tail of ``joint[r]``, or ``h_kept[r]`` with a recurrent
    mask (the tail then holds the masked state the next product reads).
    """
    hidden = preactivations.shape[1]
    pre_row, out_row = preactivations[r], output[t, b]
    # A row of `joint` (C-contiguous), not a (rows, H) view: stores through a
    # view numba types as non-contiguous do not vectorise (see lstm._joint_step_rows).
    h_row = h_kept[r] if masked else joint[r, joint.shape[1] - hidden:]
    prev_row = h_prev[t, b] if keep else spare
    for j in range(hidden):
        h_new = _activate(pre_row[j] + bias[j], relu)
        prev_row[j] = h_row[j]
        h_row[j] = h_new
        out_row[j] = h_new


@linked_kernel
def _run_block_joint(block, x, joint_weight, bias, lengths, reverse, relu, state, output, h_prev,
                     keep, recurrent_mask):
    """:func:`_run_block` with one product per step for the input and recurrent parts.

    Each row's ``[x_t, h_{t-1}]`` sits in one buffer, multiplied by the packed
    ``[W_ihᵀ; W_hhᵀ]`` (see :func:`numrnn.kernels.lstm._run_block_joint`). With a
    recurrent mask the tail of ``joint`` holds the masked h and the state is
    kept apart, in ``h_kept``.
    """
    steps, batch, n_in = x.shape
    hidden = state.shape[1]
    first, stop = block_rows(block, batch)
    rows = stop - first
    masked = recurrent_mask.shape[0] > 0
    joint, h_kept = joint_buffers(x, state, recurrent_mask, first, rows)
    preactivations = np.empty((rows, hidden), dtype=x.dtype)
    spare = np.empty(hidden, dtype=x.dtype)
    for step in range(longest_length(lengths, first, stop)):
        # A row past its length keeps its last input: its products are computed
        # and ignored, its state is left alone.
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                x_row, joint_row = x[time_index(step, length, reverse), first + r], joint[r]
                for j in range(n_in):
                    joint_row[j] = x_row[j]
        packed.product(joint, joint_weight, preactivations)
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _joint_step_row(first + r, r, time_index(step, length, reverse), preactivations,
                                bias, joint, h_kept, output, h_prev, relu, keep, masked, spare)
                if masked:
                    h_row, kept_row = joint[r, n_in:], h_kept[r]
                    mask_row = recurrent_mask[first + r]
                    for j in range(hidden):
                        h_row[j] = kept_row[j] * mask_row[j]
    for r in range(rows):
        h_row = state[first + r]
        source = h_kept[r] if masked else joint[r, n_in:]
        for j in range(hidden):
            h_row[j] = source[j]


@parallel_driver
def _forward_joint(x, joint_weight, bias_ih, bias_hh, lengths, reverse, relu, state, output,
                   h_prev, keep, recurrent_mask):
    """:func:`_forward` for large float32 batches (see :func:`_run`).

    ``joint_weight`` is ``[W_ihᵀ; W_hhᵀ]`` packed by
    :func:`~numrnn.kernels.packed.pack_stacked`. ``state`` holds h0 on entry,
    h_n on return (the caller copies it). No BLAS is called. A driver
    (:mod:`numrnn.kernels.jit`): it only calls kernels.
    """
    bias = combined_bias(bias_ih, bias_hh, state.shape[1], x)
    for block in prange(block_count(x.shape[1])):
        _run_block_joint(np.int64(block), x, joint_weight, bias, lengths, reverse, relu, state,
                         output, h_prev, keep, recurrent_mask)


def _run(x, states, weights, lengths, reverse, options, keep, recurrent_mask):
    """The Elman RNN's part of the contract (:mod:`numrnn.kernels.recurrent`): its
    residuals' arrays; saved is ``(output, h_prev)``, h_prev unmasked."""
    (h0,), (weight_ih, weight_hh, bias_ih, bias_hh) = states, weights
    steps, batch, n_in = x.shape
    hidden = weight_hh.shape[1]
    relu = is_relu(options)
    if keep:
        # Zeroed, as fresh arrays were: the kernels skip padded positions.
        (output,) = _OUTPUTS.arrays(((steps, batch, hidden),), x.dtype, True)
        (h_prev,) = _RESIDUALS.arrays(((steps, batch, hidden),), x.dtype, True)
    else:
        output = np.zeros((steps, batch, hidden), dtype=x.dtype)
        h_prev = np.zeros((0, 0, 0), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 1)
    if plan.product == JOINT:
        # Large float32 batches: one register-tiled product per step for both parts.
        state = h0.copy()
        _forward_joint(x, packed.pack_stacked(weight_ih.T, weight_hh.T), bias_ih, bias_hh,
                       lengths, reverse, relu, state, output, h_prev, keep, recurrent_mask)
        return output, (state,), (output, h_prev)
    projection = np.empty((steps, batch, hidden), dtype=x.dtype)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight,
                                 (plan.product, plan.last_product))
    state = h0.copy()
    with kernel_blas(plan.pins_blas):
        _project_inputs(x, weight_ih, projection, plan.projection == GEMM)
        _forward(projection, state, weight_hh_t, bias_ih, bias_hh, lengths, reverse, relu,
                 output, h_prev, keep, recurrent_mask)
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
