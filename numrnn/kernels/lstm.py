"""The fused LSTM forward: input projection as one GEMM, then one jitted time loop.

Gate order is PyTorch's (i, f, g, o); with ``G = 4H`` gate columns::

    gates = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh          (B, 4H)
    i, f, o = sigmoid(gates[:, 0:H]), sigmoid(gates[:, H:2H]), sigmoid(gates[:, 3H:4H])
    g = tanh(gates[:, 2H:3H])
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Shapes are time-major: ``x`` (T, B, I), states (B, H), output (T, B, H).

``lengths`` (int64, one per batch row, each in 1..T) runs row ``b`` over its first
``lengths[b]`` positions only; later positions output zeros and leave its state
alone, so ``h_n``/``c_n`` are each row's state after its own last valid step.
With ``reverse=True`` every row runs backwards over its valid part only
(positions ``L-1, ..., 0``), as a bidirectional LSTM's reverse direction does on
a packed sequence. The kernels trust their inputs: shapes, dtypes and lengths
are validated by :mod:`numrnn.functional.lstm` first (Numba checks no bounds).

Measured structure (see DESIGN.md): the input projection for all steps is one
large GEMM; inside the loop only ``h W_hhᵀ`` is sequential. Float32 batches
whose blocks use packed weights take the joint step instead
(:func:`_forward_joint`): each step multiplies ``[x_t, h_{t-1}]`` by the packed
``[W_ihᵀ; W_hhᵀ]``, so no (T, B, 4H) projection goes through memory. The batch
splits into fixed blocks (:func:`numrnn.kernels.plan.block_size`), each
running its whole recurrence, GEMM included, on one core: one parallel region
per call instead of a barrier per step, and one BLAS thread per block. Block
boundaries do not depend on the thread count, so neither do the results, to
the bit. Gate activations come from :mod:`numrnn.kernels.activations`
(vectorised in float32, libm in float64).
The backward pass lives in :mod:`numrnn.kernels.lstm_backward`.

With the option ``proj_size`` P > 0 these entry points run PyTorch's projected
LSTM, :mod:`numrnn.kernels.lstm_projection`; with ``peepholes=True`` the peephole
LSTM (ONNX's ``P``), whose weights end with one peephole vector (3H,):
:mod:`numrnn.kernels.lstm_peephole`; with ``layer_norm=True``, the
layer-normalised LSTM of :mod:`numrnn.kernels.lstm_layer_norm` (six more
weights after the four). The three do not combine (the cell table refuses it).
"""

import numpy as np
from numba import prange

from numrnn.errors import ArgumentError
from numrnn.kernels import lstm_layer_norm, lstm_peephole, packed, recurrent
from numrnn.kernels.activations import sigmoid, tanh
from numrnn.kernels.common import (
    block_rows,
    combined_bias,
    joint_buffers,
    longest_length,
    mask_rows,
    time_index,
)
from numrnn.kernels.gemm import kernel_blas, project_inputs
from numrnn.kernels.jit import (
    inline_kernel,
    kernel,
    linked_kernel,
    parallel_driver,
    parallel_kernel,
)
from numrnn.kernels.layer_norm_rows import layer_normalised
from numrnn.kernels.matvec import product, product_weight
from numrnn.kernels.plan import JOINT, block_count, plan_for
from numrnn.kernels.reused_memory import ReusedMemory


@inline_kernel
def _cell_update(pre_i, pre_f, pre_g, pre_o, c_prev):
    """One hidden unit's gates and new state from its four preactivations."""
    i = sigmoid(pre_i)
    f = sigmoid(pre_f)
    g = tanh(pre_g)
    o = sigmoid(pre_o)
    c = f * c_prev + i * g
    return i, f, g, o, c, o * tanh(c)


@inline_kernel
def _zero_padding(step, b, output, gates, cells, keep):
    """Zero row ``b``'s output at padded position ``step``, and with ``keep`` its
    gates and cells there.

    Past its length a row never visits position ``step`` (in either direction),
    so this zeroes each padded position exactly once.
    """
    for j in range(output.shape[2]):
        output[step, b, j] = 0.0
    if keep:
        for j in range(gates.shape[2]):
            gates[step, b, j] = 0.0
        for j in range(cells.shape[2]):
            cells[step, b, j] = 0.0


@kernel
def _step_row(b, r, step, projection, recurrent, bias, lengths, reverse, h_block, c_state,
              output, cells, keep):
    """Advance batch row ``b`` (row ``r`` of its block) by loop step ``step``.

    A row past its length only zeroes its padding at position ``step``.
    """
    hidden = h_block.shape[1]
    length = lengths[b]
    if step >= length:
        _zero_padding(step, b, output, projection, cells, keep)
        return
    t = time_index(step, length, reverse)
    # NOTE: one row view per gate, not offsets into one row: LLVM cannot tell that
    # writes at j and hidden + j never collide (hidden is unknown) and would not
    # vectorise the loop; distinct views get a cheap runtime overlap check instead.
    pre_i, pre_f = projection[t, b, :hidden], projection[t, b, hidden:2 * hidden]
    pre_g, pre_o = projection[t, b, 2 * hidden:3 * hidden], projection[t, b, 3 * hidden:]
    rec_i, rec_f = recurrent[r, :hidden], recurrent[r, hidden:2 * hidden]
    rec_g, rec_o = recurrent[r, 2 * hidden:3 * hidden], recurrent[r, 3 * hidden:]
    bias_i, bias_f = bias[:hidden], bias[hidden:2 * hidden]
    bias_g, bias_o = bias[2 * hidden:3 * hidden], bias[3 * hidden:]
    c_row, h_row, out_row = c_state[b], h_block[r], output[t, b]
    # Two loops, not one with `if keep` inside: conditional stores keep LLVM from
    # vectorising the loop at all (measured 25-31 ns per element instead of 4.5).
    if keep:
        cell_row = cells[t, b]
        for j in range(hidden):
            i, f, g, o, c, h = _cell_update(
                pre_i[j] + rec_i[j] + bias_i[j], pre_f[j] + rec_f[j] + bias_f[j],
                pre_g[j] + rec_g[j] + bias_g[j], pre_o[j] + rec_o[j] + bias_o[j], c_row[j])
            c_row[j] = c
            h_row[j] = h
            out_row[j] = h
            pre_i[j], pre_f[j], pre_g[j], pre_o[j] = i, f, g, o
            cell_row[j] = c
    else:
        for j in range(hidden):
            _, _, _, _, c, h = _cell_update(
                pre_i[j] + rec_i[j] + bias_i[j], pre_f[j] + rec_f[j] + bias_f[j],
                pre_g[j] + rec_g[j] + bias_g[j], pre_o[j] + rec_o[j] + bias_o[j], c_row[j])
            c_row[j] = c
            h_row[j] = h
            out_row[j] = h


@kernel
def _run_block(block, projection, weight_hh_t, bias, lengths, reverse, h_state, c_state, output,
               cells, keep, recurrent_mask):
    """All steps for the rows of batch block ``block``; its own GEMM each step."""
    steps, batch, n_gates = projection.shape
    first, stop = block_rows(block, batch)
    h_block = h_state[first:stop].copy()
    recurrent = np.empty((stop - first, n_gates), dtype=projection.dtype)
    longest = longest_length(lengths, first, stop)
    masked = recurrent_mask.shape[0] > 0
    dropped = np.empty_like(h_block) if masked else h_block
    for step in range(steps):
        if step < longest:
            if masked:
                mask_rows(h_block, recurrent_mask, first, dropped)
                product(dropped, weight_hh_t, recurrent)
            else:
                product(h_block, weight_hh_t, recurrent)
        for r in range(stop - first):
            _step_row(first + r, r, step, projection, recurrent, bias, lengths, reverse,
                      h_block, c_state, output, cells, keep)
    # A loop, not a slice assignment (see _run_block_joint).
    for r in range(stop - first):
        h_row, block_row = h_state[first + r], h_block[r]
        for j in range(h_block.shape[1]):
            h_row[j] = block_row[j]


@linked_kernel
def _joint_step_rows(first, rows, step, preactivations, bias, lengths, reverse, joint, c_state,
                     output, gates, cells, keep):
    """:func:`_step_row` for the joint path, for the ``rows`` rows of a block from
    batch row ``first``: ``preactivations[r]`` holds both products of row ``r``, and
    its h is the tail of ``joint[r]``.

    One call a block and step, not one a row: a call of a kernel that takes
    arrays increments and decrements each array's reference count (an atomic
    operation on memory the other block's thread touches too), seven pairs a
    call here, which cost as much as the gate loop of a 64-unit row.
    """
    hidden = c_state.shape[1]
    bias_i, bias_f = bias[:hidden], bias[hidden:2 * hidden]
    bias_g, bias_o = bias[2 * hidden:3 * hidden], bias[3 * hidden:]
    for r in range(rows):
        b = first + r
        length = lengths[b]
        if step >= length:
            # Inline, not _zero_padding: its arguments' references, counted on
            # this path, stayed one atomic pair a row (LLVM merges them with the
            # other path's into the loop's latch, where numba cannot prune them).
            for j in range(hidden):
                output[step, b, j] = 0.0
            if keep:
                for j in range(4 * hidden):
                    gates[step, b, j] = 0.0
                for j in range(hidden):
                    cells[step, b, j] = 0.0
            continue
        t = time_index(step, length, reverse)
        pre_i, pre_f = preactivations[r, :hidden], preactivations[r, hidden:2 * hidden]
        pre_g, pre_o = preactivations[r, 2 * hidden:3 * hidden], preactivations[r, 3 * hidden:]
        # A row of `joint` (C-contiguous) rather than of a (rows, H) view of it:
        # stores through a view numba types as non-contiguous do not vectorise.
        h_row, out_row = joint[r, joint.shape[1] - hidden:], output[t, b]
        if keep:
            gate_i, gate_f = gates[t, b, :hidden], gates[t, b, hidden:2 * hidden]
            gate_g, gate_o = gates[t, b, 2 * hidden:3 * hidden], gates[t, b, 3 * hidden:]
            for j in range(hidden):
                i, f, g, o, c, h = _cell_update(pre_i[j] + bias_i[j], pre_f[j] + bias_f[j],
                                                pre_g[j] + bias_g[j], pre_o[j] + bias_o[j],
                                                c_state[b, j])
                c_state[b, j] = c
                h_row[j] = h
                out_row[j] = h
                gate_i[j], gate_f[j], gate_g[j], gate_o[j] = i, f, g, o
                cells[t, b, j] = c
        else:
            for j in range(hidden):
                _, _, _, _, c, h = _cell_update(pre_i[j] + bias_i[j], pre_f[j] + bias_f[j],
                                                pre_g[j] + bias_g[j], pre_o[j] + bias_o[j],
                                                c_state[b, j])
                c_state[b, j] = c
                h_row[j] = h
                out_row[j] = h


@linked_kernel
def _run_block_joint(block, x, joint_weight, bias, lengths, reverse, h_state, c_state, output,
                     gates, cells, keep, recurrent_mask):
    """:func:`_run_block` with one product per step for the input and recurrent parts.

    Each row's ``[x_t, h_{t-1}]`` sits in one buffer, multiplied by the packed
    ``[W_ihᵀ; W_hhᵀ]``: the preactivations come out of the register tiles and go
    straight to the gate loop, with no (T, B, 4H) projection written to memory
    and read back, and no separate GEMM call. With a recurrent mask the tail of
    ``joint`` holds the masked h the product reads, and the state itself is kept
    apart, in ``h_kept``.
    """
    steps, batch, n_in = x.shape
    hidden = h_state.shape[1]
    first, stop = block_rows(block, batch)
    rows = stop - first
    masked = recurrent_mask.shape[0] > 0
    joint, h_kept = joint_buffers(x, h_state, recurrent_mask, first, rows)
    preactivations = np.empty((rows, 4 * hidden), dtype=x.dtype)
    longest = longest_length(lengths, first, stop)
    for step in range(steps):
        if step < longest:
            # A row past its length keeps its last input: its products are
            # computed and ignored, its state is left alone.
            # Indexed, not through row views: a view made in this loop cost an
            # atomic reference count pair a row and step (x's count is the other
            # block's thread's too); see _joint_step_rows.
            for r in range(rows):
                length = lengths[first + r]
                if step < length:
                    t = time_index(step, length, reverse)
                    for j in range(n_in):
                        joint[r, j] = x[t, first + r, j]
            packed.product(joint, joint_weight, preactivations)
        _joint_step_rows(first, rows, step, preactivations, bias, lengths, reverse, joint,
                         c_state, output, gates, cells, keep)
        if masked:
            for r in range(rows):
                if step < lengths[first + r]:
                    for j in range(hidden):
                        h_kept[r, j] = joint[r, n_in + j]
                        joint[r, n_in + j] *= recurrent_mask[first + r, j]
    for r in range(rows):
        h_row = h_state[first + r]
        if masked:
            kept_row = h_kept[r]
            for j in range(hidden):
                h_row[j] = kept_row[j]
        else:
            joint_row = joint[r]
            for j in range(hidden):
                h_row[j] = joint_row[n_in + j]


@parallel_driver
def _forward_joint(x, joint_weight, bias_ih, bias_hh, lengths, reverse, h_state, c_state, output,
                   gates, cells, keep, recurrent_mask):
    """:func:`_forward` for large float32 batches (see :func:`_run`).

    ``joint_weight`` is ``[W_ihᵀ; W_hhᵀ]`` packed by
    :func:`~numrnn.kernels.packed.pack_stacked`; ``gates`` (T, B, 4H) receives
    the activations with ``keep`` (zeros at padded positions), else is empty.
    ``h_state`` and ``c_state`` hold h0 and c0 on entry, h_n and c_n on return.
    No BLAS is called. A driver (:mod:`numrnn.kernels.jit`): it only calls
    kernels, so the states are copied by the caller.
    """
    bias = combined_bias(bias_ih, bias_hh, 4 * h_state.shape[1], x)
    for block in prange(block_count(x.shape[1])):
        _run_block_joint(np.int64(block), x, joint_weight, bias, lengths, reverse, h_state,
                         c_state, output, gates, cells, keep, recurrent_mask)


@parallel_kernel
def _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, h0, c0, projection,
             output, cells, keep, recurrent_mask):
    """Run the LSTM over all steps: one compiled call for the whole layer.

    At B = 1, T = 50, H = 64 a Python call per part (projection, biases,
    recurrence) cost more than the recurrence itself. The large arrays come
    from the caller: NumPy allocates them with transparent huge pages, and
    allocated in here (4 KB pages) they made the large LSTM's forward 7% slower.

    Parameters
    ----------
    x : (T, B, I), C-contiguous
    weight_ih : (4H, I)
    weight_hh_t : (H, 4H)
        ``W_hhᵀ``: a row-major copy, a transposed view or packed panels
        (``Plan.recurrent_weight``, :mod:`numrnn.kernels.plan`).
    bias_ih, bias_hh : (4H,) or None
        Added in the gate loop (:func:`~numrnn.kernels.common.combined_bias`).
    lengths : (B,) int64
    reverse : bool
    h0, c0 : (B, H)
        Initial states (not modified).
    projection : (T, B, 4H), any contents
        Receives ``x W_ihᵀ``, one GEMM for all steps; with ``keep``,
        overwritten at each valid position by the gate activations (i, f, g, o)
        for backward, and zeroed at padded positions.
    output : (T, B, H), any contents
        Filled completely: h at valid positions, zeros elsewhere.
    cells : (T, B, H) with ``keep``, else empty
        Receives c_t at valid positions, zeros elsewhere.
    keep : bool
        Whether to keep residuals (gates into the projection, ``cells``).
    recurrent_mask : (B, H), or empty for none
        Recurrent dropout: each row's h is multiplied by its mask row before
        the recurrent product (:mod:`numrnn.kernels.recurrent`).

    Returns
    -------
    h_n, c_n : (B, H)
    """
    batch = x.shape[1]
    n_gates = weight_ih.shape[0]
    project_inputs(x, weight_ih, projection)
    bias = combined_bias(bias_ih, bias_hh, n_gates, x)
    h_state, c_state = h0.copy(), c0.copy()
    blocks = block_count(batch)
    if blocks == 1:
        _run_block(np.int64(0), projection, weight_hh_t, bias, lengths, reverse, h_state, c_state,
                   output, cells, keep, recurrent_mask)
    else:
        for block in prange(blocks):
            _run_block(np.int64(block), projection, weight_hh_t, bias, lengths, reverse, h_state,
                       c_state, output, cells, keep, recurrent_mask)
    return h_state, c_state


# The memory of the training residuals (gates, cells), reused from step to step.
_RESIDUALS = ReusedMemory()
# The memory of a training call's output: a site of its own, since the caller keeps
# the output (a read-out of its last step holds a view) and must not keep the
# residuals' block from serving the next call with it.
_OUTPUTS = ReusedMemory()


def _run(x, states, weights, lengths, reverse, options, keep, recurrent_mask):
    """The LSTM's part of the contract (:mod:`numrnn.kernels.recurrent`): its
    residuals' arrays and its product path; saved is ``(output, gates, cells)``
    (with ``layer_norm``, :func:`numrnn.kernels.lstm_layer_norm.run`'s)."""
    peepholes, normalised = lstm_peephole.has_peepholes(options), layer_normalised(options)
    projected = bool(options.get("proj_size", 0))
    if peepholes + normalised + projected > 1:
        raise ArgumentError("lstm: proj_size, peepholes and layer_norm do not combine yet")
    if projected:
        return _run_projected(x, states, weights, lengths, reverse, options, keep,
                              recurrent_mask)
    if peepholes:
        return lstm_peephole.run(x, states, weights, lengths, reverse, keep, recurrent_mask)
    if normalised:
        return lstm_layer_norm.run(x, states, weights, lengths, reverse, keep, recurrent_mask)
    (h0, c0), (weight_ih, weight_hh, bias_ih, bias_hh) = states, weights
    steps, batch, n_in = x.shape
    hidden, n_gates = weight_hh.shape[1], weight_ih.shape[0]
    if keep:
        # The kernels write every position of all three (zeros where padded).
        (output,) = _OUTPUTS.arrays(((steps, batch, hidden),), x.dtype, False)
        gates, cells = _RESIDUALS.arrays(((steps, batch, n_gates), (steps, batch, hidden)),
                                         x.dtype, False)
    else:
        output = np.empty((steps, batch, hidden), dtype=x.dtype)
        gates = cells = np.empty((0, 0, 0), dtype=x.dtype)
    plan = plan_for(x.dtype, batch, steps, n_in, hidden, 4)
    if plan.product == JOINT:
        # Large float32 batches: one register-tiled product per step for both parts.
        joint_weight = packed.pack_stacked(weight_ih.T, weight_hh.T)
        h_n, c_n = h0.copy(), c0.copy()
        _forward_joint(x, joint_weight, bias_ih, bias_hh, lengths, reverse, h_n, c_n, output,
                       gates, cells, keep, recurrent_mask)
        return output, (h_n, c_n), (output, gates, cells)
    # The projection becomes the gate activations, kept or not.
    projection = gates if keep else np.empty((steps, batch, n_gates), dtype=x.dtype)
    weight_hh_t = product_weight(weight_hh.T, plan.recurrent_weight,
                                 (plan.product, plan.last_product))
    with kernel_blas(plan.pins_blas):
        h_n, c_n = _forward(x, weight_ih, weight_hh_t, bias_ih, bias_hh, lengths, reverse, h0,
                            c0, projection, output, cells, keep, recurrent_mask)
    return output, (h_n, c_n), (output, projection, cells)


def _run_projected(x, states, weights, lengths, reverse, options, keep, recurrent_mask):
    """The LSTM with ``proj_size`` (:mod:`numrnn.kernels.lstm_projection`)."""
    # Imported here: that module builds on this one's _cell_update.
    from numrnn.kernels import lstm_projection
    return lstm_projection.run(x, states, weights, lengths, reverse, options, keep,
                               recurrent_mask)


def cell_states(saved, options=None):
    """c at every position, (T, B, H) with zeros past each row's length, from what
    :func:`forward_train` saved (the plain or projected LSTM's residuals; the peephole
    and layer-normalised ones keep theirs differently and are refused)."""
    options = options or {}
    if lstm_peephole.has_peepholes(options) or layer_normalised(options):
        raise ArgumentError("lstm: per-step cell states are not available with peepholes "
                            "or layer_norm yet")
    # A copy: the cells share one block of reused memory with the other residuals,
    # and a caller holding them would keep the whole block from serving later calls.
    return saved[2].copy()


def forward_train(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None):
    """LSTM over a sequence, keeping what :func:`lstm_backward.backward` needs.

    The contract of :mod:`numrnn.kernels.recurrent`: ``states`` is ``(h0, c0)``,
    ``weights`` is ``(weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh)``
    with biases (4H,) or None. Returns ``(output, (h_n, c_n), saved)``: output
    (T, B, H) is h at each row's valid positions and zeros past its length;
    ``saved`` holds the output, the gate activations i, f, g, o (T, B, 4H) and
    the cell states c (T, B, H), zeros past each length (:func:`cell_states`).

    ``options`` may hold ``proj_size`` P > 0: PyTorch's projected LSTM
    (:mod:`numrnn.kernels.lstm_projection`), with ``weight_hh`` (4H, P) and a fifth
    weight ``weight_hr`` (P, H); h0, h_n and the output then have P features. With
    ``peepholes=True`` a fifth weight holds the peepholes (3H,) in the order ``p_i,
    p_f, p_o``; with ``layer_norm=True`` six more hold the normalisations' gains
    and shifts. ``recurrent_mask`` (B, size of h) or None: recurrent dropout on h
    before ``W_hh`` (:mod:`numrnn.kernels.recurrent`), with any of the options.
    """
    return recurrent.forward(_run, x, states, weights, lengths, reverse, options, True,
                             recurrent_mask)


def forward_infer(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None):
    """Like :func:`forward_train` but keeps no residuals: returns ``(output, (h_n, c_n))``."""
    output, finals, _ = recurrent.forward(_run, x, states, weights, lengths, reverse, options,
                                          False, recurrent_mask)
    return output, finals
