"""The fused GRU forward (train / infer); the backward is :mod:`numrnn.kernels.gru_backward`.

Gate order is PyTorch's (r, z, n); with ``G = 3H`` gate columns::

    r  = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z  = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n  = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}

Shapes are time-major: ``x`` (T, B, I), states (B, H), output (T, B, H),
``W_ih`` (3H, I), ``W_hh`` (3H, H), biases (3H,).

``lengths`` (int64, one per row, each in 1..T) runs row ``b`` over its first
``lengths[b]`` positions only: later positions output zeros and leave its state
alone, so ``h_n`` is each row's state after its own last valid step. With
``reverse=True`` each row runs backwards over its valid part (positions
``L-1 .. 0``), as the reverse direction of a bidirectional layer does on a
packed sequence. The kernels trust their inputs; :mod:`numrnn.functional.gru`
validates shapes, dtypes and lengths first (Numba checks no bounds).

Measured structure (see DESIGN.md): the input projection of all steps is one
GEMM before the recurrence; inside the jitted time loop only ``h W_hhᵀ`` is
sequential (the n-gate's hidden part stays separate because r multiplies it);
backward stores per-step gate gradients and forms ``dx``, ``dW_ih``, ``dW_hh``
with one large GEMM each after the loop. Float32 batches whose blocks use
packed weights make the input products per step instead, beside the recurrent
ones (:func:`_forward_joint`, as :mod:`numrnn.kernels.lstm` does). The batch
splits into fixed blocks (:mod:`numrnn.kernels.common`) that run their whole
recurrence, GEMMs included, in parallel on one BLAS thread each, so results
are bit-identical for any thread count. Activations: :mod:`numrnn.kernels.activations`.

With the option ``reset_after=False`` these entry points run the variant that
applies r before the recurrent product, ``n = tanh(W_in x_t + b_in + W_hn (r *
h_{t-1}) + b_hn)`` (Cho et al. 2014; Keras ``reset_after=False``, ONNX
``linear_before_reset=0``): :mod:`numrnn.kernels.gru_reset_before`; with
``layer_norm=True`` the layer-normalised GRU of :mod:`numrnn.kernels.gru_layer_norm`
(four more weights after the four; ``reset_after=True`` only). All three take a
recurrent dropout mask ``m`` (B, H), with one convention: ``m * h_{t-1}`` is what
the recurrent products read, and the update ``z * h_{t-1}`` carries the unmasked
state, as Keras's ``recurrent_dropout`` does.
"""

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels import gru_layer_norm, gru_reset_before, packed, recurrent
from numrnn.kernels.activations import sigmoid, tanh, typed
from numrnn.kernels.common import (
    block_rows,
    longest_length,
    mask_rows,
    stacked_biases,
    time_index,
)
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import inline_kernel, linked_kernel, parallel_driver, parallel_kernel
from numrnn.kernels.layer_norm_rows import layer_normalised
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import JOINT, block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory


@inline_kernel
def _unit_update(pre_r, pre_z, pre_n, rec_r, rec_z, hn, h_old):
    """One hidden unit's gates and new state (``hn`` is ``W_hn h + b_hn``)."""
    r_gate = sigmoid(pre_r + rec_r)
    z = sigmoid(pre_z + rec_z)
    n = tanh(pre_n + r_gate * hn)
    h_new = (typed(1.0, z) - z) * n + z * h_old
    return r_gate, z, n, hn, h_old, h_new


@linked_kernel
def _step_row(b, r, t, projection, recurrent, biases, h_block, output, gates, hidden_n,
              h_prev, keep):
    """Advance batch row ``b`` (row ``r`` of its block) by one step at position ``t``."""
    hidden = h_block.shape[1]
    # NOTE: one row view per gate, not offsets into one row: LLVM cannot tell that
    # writes at j and hidden + j never collide (hidden is unknown) and would not
    # vectorise the loop; distinct views get a cheap runtime overlap check instead.
    pre_r, pre_z = projection[t, b, :hidden], projection[t, b, hidden:2 * hidden]
    pre_n = projection[t, b, 2 * hidden:]
    rec_r, rec_z, rec_n = recurrent[r, :hidden], recurrent[r, hidden:2 * hidden], \
        recurrent[r, 2 * hidden:]
    # biases[0] is b_ih, biases[1] b_hh: added here, not as passes over the projection.
    in_r, in_z, in_n = biases[0, :hidden], biases[0, hidden:2 * hidden], biases[0, 2 * hidden:]
    bias_r, bias_z = biases[1, :hidden], biases[1, hidden:2 * hidden]
    bias_n = biases[1, 2 * hidden:]
    h_row, out_row = h_block[r], output[t, b]
    # Two loops, not one with `if keep` inside: conditional stores keep LLVM from
    # vectorising the loop at all (measured 6x slower, see lstm._step_row).
    if keep:
        gate_r, gate_z = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden]
        gate_n, hn_row, h_prev_row = gates[t, b, 2 * hidden:], hidden_n[t, b], h_prev[t, b]
        for j in range(hidden):
            r_gate, z, n, hn, h_old, h_new = _unit_update(
                pre_r[j] + in_r[j], pre_z[j] + in_z[j], pre_n[j] + in_n[j],
                rec_r[j] + bias_r[j], rec_z[j] + bias_z[j],
                rec_n[j] + bias_n[j], h_row[j])
            h_row[j] = h_new
            out_row[j] = h_new
            gate_r[j], gate_z[j], gate_n[j] = r_gate, z, n
            hn_row[j] = hn
            h_prev_row[j] = h_old
    else:
        for j in range(hidden):
            _, _, _, _, _, h_new = _unit_update(
                pre_r[j] + in_r[j], pre_z[j] + in_z[j], pre_n[j] + in_n[j],
                rec_r[j] + bias_r[j], rec_z[j] + bias_z[j],
                rec_n[j] + bias_n[j], h_row[j])
            h_row[j] = h_new
            out_row[j] = h_new


@linked_kernel
def _run_block(block, projection, weight_hh_t, biases, lengths, reverse, state, output, gates,
               hidden_n, h_prev, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own GEMM each step.

    A recurrent dropout mask multiplies h in the product only: the update
    ``z * h_{t-1}`` carries the unmasked state, as Keras's ``recurrent_dropout`` does.
    """
    batch, hidden = state.shape
    first, stop = block_rows(block, batch)
    h_block = state[first:stop].copy()
    recurrent = np.empty((stop - first, 3 * hidden), dtype=projection.dtype)
    masked = recurrent_mask.shape[0] > 0
    # np.empty, not np.empty_like: one numba allocation helper fewer to compile.
    dropped = np.empty((stop - first, hidden), dtype=projection.dtype) if masked else h_block
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
                          recurrent, biases, h_block, output, gates, hidden_n, h_prev, keep)
    # A loop, not a slice assignment (see _run_block_joint).
    for r in range(stop - first):
        state_row, block_row = state[first + r], h_block[r]
        for j in range(hidden):
            state_row[j] = block_row[j]


@linked_kernel
def _joint_step_row(b, r, t, input_sums, input_n, recurrent_n, biases, joint, h_rows, output,
                    gates, hidden_n, h_prev, keep):
    """:func:`_step_row` for the joint path: ``input_sums[r]`` holds both products of
    r and z, ``input_n[r]`` and ``recurrent_n[r]`` the two of n."""
    hidden = h_rows.shape[1]
    sum_r, sum_z = input_sums[r, :hidden], input_sums[r, hidden:]
    in_n, rec_n = input_n[r], recurrent_n[r]
    bias_in_r, bias_in_z = biases[0, :hidden], biases[0, hidden:2 * hidden]
    bias_in_n = biases[0, 2 * hidden:]
    bias_r, bias_z, bias_n = biases[1, :hidden], biases[1, hidden:2 * hidden], \
        biases[1, 2 * hidden:]
    h_row, h_joint, out_row = h_rows[r], joint[r, joint.shape[1] - hidden:], output[t, b]
    if keep:
        gate_r, gate_z = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden]
        gate_n, hn_row, h_prev_row = gates[t, b, 2 * hidden:], hidden_n[t, b], h_prev[t, b]
        for j in range(hidden):
            r_gate, z, n, hn, h_old, h_new = _unit_update(
                sum_r[j] + bias_in_r[j], sum_z[j] + bias_in_z[j], in_n[j] + bias_in_n[j],
                bias_r[j], bias_z[j], rec_n[j] + bias_n[j], h_row[j])
            h_row[j] = h_new
            h_joint[j] = h_new
            out_row[j] = h_new
            gate_r[j], gate_z[j], gate_n[j] = r_gate, z, n
            hn_row[j] = hn
            h_prev_row[j] = h_old
    else:
        for j in range(hidden):
            _, _, _, _, _, h_new = _unit_update(
                sum_r[j] + bias_in_r[j], sum_z[j] + bias_in_z[j], in_n[j] + bias_in_n[j],
                bias_r[j], bias_z[j], rec_n[j] + bias_n[j], h_row[j])
            h_row[j] = h_new
            h_joint[j] = h_new
            out_row[j] = h_new


@linked_kernel
def _run_block_joint(block, x, weight_rz, weight_in, weight_hn, biases, lengths, reverse, state,
                     output, gates, hidden_n, h_prev, keep, recurrent_mask):
    """:func:`_run_block` with the input products made per step, beside the recurrent ones.

    r and z take ``[x_t, h_{t-1}]`` times the packed ``[W_ir, W_iz; W_hr, W_hz]ᵀ``
    in one product; n's two parts stay apart (r multiplies the hidden one), one
    product each. No (T, B, 3H) projection is written to memory and read back.
    With a recurrent mask the tail of ``joint`` and ``dropped`` hold the masked h
    the products read; ``h_rows`` keeps the state.
    """
    steps, batch, n_in = x.shape
    hidden = state.shape[1]
    first, stop = block_rows(block, batch)
    rows = stop - first
    h_rows = state[first:stop].copy()
    joint = np.empty((rows, n_in + hidden), dtype=x.dtype)
    masked = recurrent_mask.shape[0] > 0
    # Element loops, not slice assignments: numba checks a slice assignment's
    # shapes at run time and compiles the formatting of its error message, which
    # took seconds of a first call's compilation (docs/performance.md, "Cold start").
    for r in range(rows):
        h_row, joint_row = h_rows[r], joint[r]
        for j in range(hidden):
            joint_row[n_in + j] = h_row[j]
    dropped = np.empty((rows, hidden), dtype=x.dtype) if masked else h_rows
    if masked:
        mask_rows(h_rows, recurrent_mask, first, joint[:, n_in:])
    x_rows = np.empty((rows, n_in), dtype=x.dtype)
    input_sums = np.empty((rows, 2 * hidden), dtype=x.dtype)
    input_n = np.empty((rows, hidden), dtype=x.dtype)
    recurrent_n = np.empty((rows, hidden), dtype=x.dtype)
    for step in range(longest_length(lengths, first, stop)):
        # A row past its length keeps its last input: its products are computed
        # and ignored, its state is left alone.
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                x_in, x_row, joint_row = x[time_index(step, length, reverse), first + r], \
                    x_rows[r], joint[r]
                for j in range(n_in):
                    x_row[j] = x_in[j]
                    joint_row[j] = x_in[j]
        packed.product(joint, weight_rz, input_sums)
        packed.product(x_rows, weight_in, input_n)
        if masked:
            mask_rows(h_rows, recurrent_mask, first, dropped)
        packed.product(dropped, weight_hn, recurrent_n)
        for r in range(rows):
            length = lengths[first + r]
            if step < length:
                _joint_step_row(first + r, r, time_index(step, length, reverse), input_sums,
                                input_n, recurrent_n, biases, joint, h_rows, output, gates,
                                hidden_n, h_prev, keep)
        if masked:
            mask_rows(h_rows, recurrent_mask, first, joint[:, n_in:])
    for r in range(rows):
        state_row, h_row = state[first + r], h_rows[r]
        for j in range(hidden):
            state_row[j] = h_row[j]


@parallel_driver
def _forward_joint(x, weight_rz, weight_in, weight_hn, bias_ih, bias_hh, lengths, reverse, state,
                   output, gates, hidden_n, h_prev, keep, recurrent_mask):
    """:func:`_forward` for large float32 batches (see :func:`_run`): the packed
    weights of :func:`_run_block_joint`, no projection, no BLAS. ``state`` holds h0
    on entry, h_n on return. A driver (:mod:`numrnn.kernels.jit`): it only calls
    kernels, so the state is copied by the caller."""
    biases = stacked_biases(bias_ih, bias_hh, 3 * state.shape[1], x)
    for block in prange(block_count(x.shape[1])):
        _run_block_joint(np.int64(block), x, weight_rz, weight_in, weight_hn, biases, lengths,
                         reverse, state, output, gates, hidden_n, h_prev, keep, recurrent_mask)


@parallel_kernel
def _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, h0, projection,
             output, gates, hidden_n, h_prev, keep, recurrent_mask):
    """Run all steps in one compiled call; returns h_n (B, H).

    ``x`` (T, B, I) is C-contiguous; ``projection`` (T, B, 3H) receives
    ``x W_ihᵀ``, one GEMM for all steps. ``weight_hh_t`` is ``W_hhᵀ`` (H, 3H): a
    row-major copy, a transposed view or packed panels. ``bias_ih``/``bias_hh``
    (3H,) or None are added in the gate loop. ``h0`` (B, H) is not modified.
    ``output`` (T, B, H) must be zero-filled. With ``keep``, ``gates`` (T, B, 3H)
    receives r, z, n, ``hidden_n`` (T, B, H) ``W_hn h + b_hn`` and ``h_prev``
    (T, B, H) the state each position started from; positions past a row's
    length are left as they were (zeros). ``recurrent_mask`` (B, H), or empty
    for none, multiplies each row's h before the recurrent product. The caller
    allocates the large arrays (see :func:`numrnn.kernels.lstm._forward`).
    Batch blocks run in parallel.
    """
    batch = x.shape[1]
    n_gates = weight_ih.shape[0]
    project_inputs(x, weight_ih, projection)
    biases = stacked_biases(bias_ih, bias_hh, n_gates, x)
    state = h0.copy()
    blocks = block_count(batch)
    if blocks == 1:
        _run_block(np.int64(0), projection, weight_hh_t, biases, lengths, reverse, state, output,
                   gates, hidden_n, h_prev, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), projection, weight_hh_t, biases, lengths, reverse, state,
                       output, gates, hidden_n, h_prev, keep, recurrent_mask)
    return state


# The memory of the training residuals (gates, hidden_n, h_prev), reused from step to step.
_RESIDUALS = ReusedMemory()
# The memory of a training call's output, on a site of its own (see lstm._OUTPUTS).
_OUTPUTS = ReusedMemory()


def _run(x, states, weights, lengths, reverse, options, keep, recurrent_mask):
    """The GRU's part of the contract (:mod:`numrnn.kernels.recurrent`): its
    residuals' arrays and its product path; saved is ``(gates, hidden_n, h_prev)``
    (for the reset-before variant ``r * h_{t-1}`` in place of ``hidden_n``; with
    ``layer_norm``, :func:`numrnn.kernels.gru_layer_norm.run`'s)."""
    if layer_normalised(options, resets_after(options)):
        return gru_layer_norm.run(x, states, weights, lengths, reverse, keep, recurrent_mask)
    if not resets_after(options):
        return gru_reset_before.run(x, states, weights, lengths, reverse, keep, recurrent_mask)
    (h0,), (weight_ih, weight_hh, bias_ih, bias_hh) = states, weights
    steps, batch, n_in = x.shape
    hidden, n_gates = weight_hh.shape[1], weight_ih.shape[0]
    if keep:
        # The kernels write every valid position: the padded ones must hold zeros.
        padded = lengths.size > 0 and lengths.min() < steps
        gates, hidden_n, h_prev = _RESIDUALS.arrays(
            ((steps, batch, n_gates), (steps, batch, hidden), (steps, batch, hidden)), x.dtype,
            padded)
        (output,) = _OUTPUTS.arrays(((steps, batch, hidden),), x.dtype, padded)
    else:
        gates = hidden_n = h_prev = np.zeros((0, 0, 0), dtype=x.dtype)
        output = np.zeros((steps, batch, hidden), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 3)
    if plan.product == JOINT:
        # Large float32 batches: the input products per step, beside the
        # recurrent ones (see lstm._run), in register tiles.
        rz, n = slice(0, 2 * hidden), slice(2 * hidden, n_gates)
        state = h0.copy()
        _forward_joint(x, packed.pack_stacked(weight_ih[rz].T, weight_hh[rz].T),
                       packed.pack(weight_ih[n].T), packed.pack(weight_hh[n].T), bias_ih,
                       bias_hh, lengths, reverse, state, output, gates, hidden_n, h_prev, keep,
                       recurrent_mask)
        return output, (state,), (gates, hidden_n, h_prev)
    projection = np.empty((steps, batch, n_gates), dtype=x.dtype)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight,
                                 (plan.product, plan.last_product))
    with kernel_blas(plan.pins_blas):
        state = _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, h0,
                         projection, output, gates, hidden_n, h_prev, keep, recurrent_mask)
    return output, (state,), (gates, hidden_n, h_prev)


def resets_after(options):
    """Whether ``options`` choose PyTorch's variant, r applied after the recurrent
    product (``reset_after``, True by default), rather than the reset-before one."""
    reset_after = options.get("reset_after", True)
    if not isinstance(reset_after, (bool, np.bool_)):
        raise ArgumentError(f"gru: reset_after must be True or False, got {reset_after!r}")
    return bool(reset_after)


def forward_train(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None):
    """GRU over a sequence, keeping what :func:`backward` needs.

    The contract of :mod:`numrnn.kernels.recurrent`: ``states`` is ``(h0,)``,
    ``weights`` is ``(weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh)``,
    rows in gate order r, z, n, biases (3H,) or None; ``options`` may hold
    ``reset_after``, True (the default, PyTorch's variant) or False. Returns
    ``(output, (h_n,), saved)``; ``saved`` holds r, z, n (T, B, 3H),
    ``W_hn h + b_hn`` (``r * h`` with ``reset_after=False``) and the state each
    position started from (T, B, H), zeros past each length. ``recurrent_mask``
    (B, H) or None: recurrent dropout on h where it enters the recurrent products,
    in every variant (see :func:`_run_block`).
    """
    return recurrent.forward(_run, x, states, weights, lengths, reverse, options, True,
                             recurrent_mask)


def forward_infer(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None):
    """Like :func:`forward_train` but keeps no residuals: returns ``(output, (h_n,))``."""
    output, finals, _ = recurrent.forward(_run, x, states, weights, lengths, reverse, options,
                                          False, recurrent_mask)
    return output, finals
