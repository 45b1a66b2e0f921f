"""The fused GRU: forward (train / infer) and backward through time.

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
with one large GEMM each after the loop. Gate loops split the batch across
cores with per-row work in a fixed order, so results are bit-identical for any
``numba.set_num_threads``.
"""

import math

import numpy as np
from numba import prange

from numrnn.kernels.common import PARALLEL_MIN_ELEMENTS, sigmoid, time_index
from numrnn.kernels.jit import kernel, parallel_kernel


@kernel
def _step_row(b, t, projection, recurrent, bias_hh, state, output, gates, hidden_n, h_prev,
              keep):
    """Advance row ``b`` by one step at position ``t``, updating ``state[b]`` in place."""
    hidden = state.shape[1]
    for j in range(hidden):
        r = sigmoid(projection[t, b, j] + recurrent[b, j] + bias_hh[j])
        z = sigmoid(projection[t, b, hidden + j] + recurrent[b, hidden + j]
                    + bias_hh[hidden + j])
        hn = recurrent[b, 2 * hidden + j] + bias_hh[2 * hidden + j]
        n = math.tanh(projection[t, b, 2 * hidden + j] + r * hn)
        h_old = state[b, j]
        h_new = (1.0 - z) * n + z * h_old
        state[b, j] = h_new
        output[t, b, j] = h_new
        if keep:
            gates[t, b, j] = r
            gates[t, b, hidden + j] = z
            gates[t, b, 2 * hidden + j] = n
            hidden_n[t, b, j] = hn
            h_prev[t, b, j] = h_old


@parallel_kernel
def _recurrence(projection, weight_hh_t, bias_hh, lengths, reverse, state, output, gates,
                hidden_n, h_prev, keep):
    """Run all steps; ``state`` (B, H) holds h0 on entry and h_n on return.

    ``projection`` (T, B, 3H) is ``x W_ihᵀ + b_ih``; ``weight_hh_t`` is ``W_hhᵀ``
    (H, 3H), contiguous. ``output`` (T, B, H) must be zero-filled. With ``keep``,
    ``gates`` (T, B, 3H) receives r, z, n, ``hidden_n`` (T, B, H) ``W_hn h + b_hn``
    and ``h_prev`` (T, B, H) the state each position started from; positions past
    a row's length are left as they were (zeros).
    """
    steps, batch, _ = projection.shape
    hidden = state.shape[1]
    recurrent = np.empty((batch, 3 * hidden), dtype=projection.dtype)
    longest = lengths.max()
    parallel = batch * hidden >= PARALLEL_MIN_ELEMENTS
    for step in range(longest):
        np.dot(state, weight_hh_t, recurrent)
        if parallel:
            for b in prange(batch):
                if step < lengths[b]:
                    t = time_index(step, lengths[b], reverse)
                    _step_row(b, t, projection, recurrent, bias_hh, state, output, gates,
                              hidden_n, h_prev, keep)
        else:
            for b in range(batch):
                if step < lengths[b]:
                    t = time_index(step, lengths[b], reverse)
                    _step_row(b, t, projection, recurrent, bias_hh, state, output, gates,
                              hidden_n, h_prev, keep)


@kernel
def _backward_row(b, t, grad_output, grad_state, gates, hidden_n, h_prev, grad_projection,
                  grad_recurrent, step_grad):
    """Gate gradients of row ``b`` at position ``t``.

    ``grad_state[b]`` holds dL/dh_t from later steps on entry; it leaves holding
    the direct part ``dh_t * z`` of dL/dh_{t-1} (the caller adds the part through
    ``W_hh``). ``step_grad[b]`` receives the pre-activation gradients of
    ``h W_hhᵀ + b_hh`` for this step's GEMM.
    """
    hidden = grad_state.shape[1]
    for j in range(hidden):
        dh = grad_state[b, j] + grad_output[t, b, j]
        r = gates[t, b, j]
        z = gates[t, b, hidden + j]
        n = gates[t, b, 2 * hidden + j]
        d_n = dh * (1.0 - z) * (1.0 - n * n)
        d_z = dh * (h_prev[t, b, j] - n) * z * (1.0 - z)
        d_r = d_n * hidden_n[t, b, j] * r * (1.0 - r)
        d_hn = d_n * r
        grad_projection[t, b, j] = d_r
        grad_projection[t, b, hidden + j] = d_z
        grad_projection[t, b, 2 * hidden + j] = d_n
        grad_recurrent[t, b, j] = d_r
        grad_recurrent[t, b, hidden + j] = d_z
        grad_recurrent[t, b, 2 * hidden + j] = d_hn
        step_grad[b, j] = d_r
        step_grad[b, hidden + j] = d_z
        step_grad[b, 2 * hidden + j] = d_hn
        grad_state[b, j] = dh * z


@parallel_kernel
def _backward_recurrence(grad_output, grad_state, gates, hidden_n, h_prev, weight_hh, lengths,
                         reverse, grad_projection, grad_recurrent):
    """Walk the steps backwards; ``grad_state`` (B, H) holds dL/dh_n on entry, dL/dh0 on return.

    Fills ``grad_projection`` and ``grad_recurrent`` (T, B, 3H, zero-filled): the
    gradients of ``x W_ihᵀ + b_ih`` and of ``h W_hhᵀ + b_hh`` at each valid position.
    Only ``dh_{t-1} = dh_t * z + dG_h W_hh`` is sequential.
    """
    steps, batch, _ = gates.shape
    hidden = grad_state.shape[1]
    step_grad = np.zeros((batch, 3 * hidden), dtype=gates.dtype)
    through_weights = np.empty((batch, hidden), dtype=gates.dtype)
    parallel = batch * hidden >= PARALLEL_MIN_ELEMENTS
    for step in range(lengths.max() - 1, -1, -1):
        if parallel:
            for b in prange(batch):
                if step < lengths[b]:
                    t = time_index(step, lengths[b], reverse)
                    _backward_row(b, t, grad_output, grad_state, gates, hidden_n, h_prev,
                                  grad_projection, grad_recurrent, step_grad)
        else:
            for b in range(batch):
                if step < lengths[b]:
                    t = time_index(step, lengths[b], reverse)
                    _backward_row(b, t, grad_output, grad_state, gates, hidden_n, h_prev,
                                  grad_projection, grad_recurrent, step_grad)
        np.dot(step_grad, weight_hh, through_weights)
        # Rows whose steps have not started yet keep dL/dh_n untouched; their
        # step_grad rows are still zero, so the GEMM row is ignored, not added.
        for b in range(batch):
            if step < lengths[b]:
                for j in range(hidden):
                    grad_state[b, j] += through_weights[b, j]


def _projection(x, weight_ih, bias_ih):
    """``x W_ihᵀ + b_ih`` for every step at once, (T, B, 3H): one GEMM, not T small ones."""
    steps, batch, n_in = x.shape
    projection = np.dot(x.reshape(steps * batch, n_in), weight_ih.T)
    if bias_ih is not None:
        projection += bias_ih
    return projection.reshape(steps, batch, weight_ih.shape[0])


def _run(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse, keep):
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    if lengths is None:
        lengths = np.full(batch, steps, dtype=np.int64)
    if bias_hh is None:
        bias_hh = np.zeros(3 * hidden, dtype=x.dtype)
    residual_shape = (steps, batch, hidden) if keep else (0, 0, 0)
    gates = np.zeros((steps, batch, 3 * hidden) if keep else (0, 0, 0), dtype=x.dtype)
    hidden_n = np.zeros(residual_shape, dtype=x.dtype)
    h_prev = np.zeros(residual_shape, dtype=x.dtype)
    output = np.zeros((steps, batch, hidden), dtype=x.dtype)
    state = np.array(h0, dtype=x.dtype, order="C", copy=True)
    _recurrence(_projection(x, weight_ih, bias_ih), np.ascontiguousarray(weight_hh.T), bias_hh,
                lengths, reverse, state, output, gates, hidden_n, h_prev, keep)
    return output, state, (gates, hidden_n, h_prev)


def forward_train(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
                  reverse=False):
    """GRU over a sequence, keeping what :func:`backward` needs.

    Parameters
    ----------
    x : ndarray (T, B, I), float32 or float64, C-contiguous
    h0 : ndarray (B, H), same dtype
    weight_ih : ndarray (3H, I); weight_hh : ndarray (3H, H), rows in gate order r, z, n
    bias_ih, bias_hh : ndarray (3H,) or None (no bias)
    lengths : ndarray (B,) int64 with values in 1..T, or None for all T
    reverse : bool

    Returns
    -------
    output : (T, B, H)
        h at each row's valid positions, zeros past its length.
    h_n : (B, H)
        Each row's state after its last valid step.
    saved : tuple
        ``(gates, hidden_n, h_prev)``: r, z, n (T, B, 3H); ``W_hn h + b_hn`` and the
        state each position started from (T, B, H); zeros past each length.
    """
    return _run(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse, keep=True)


def forward_infer(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
                  reverse=False):
    """Like :func:`forward_train` but keeps no residuals: returns ``(output, h_n)``."""
    output, h_n, _ = _run(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse,
                          keep=False)
    return output, h_n


def backward(grad_output, grad_h_n, x, weight_ih, weight_hh, saved, lengths=None,
             reverse=False, needs=(True,) * 6):
    """Backpropagation through time for :func:`forward_train`.

    Parameters
    ----------
    grad_output : ndarray (T, B, H)
        dL/d output (entries past a row's length are ignored).
    grad_h_n : ndarray (B, H)
        dL/d h_n.
    x, weight_ih, weight_hh, lengths, reverse
        As given to :func:`forward_train`.
    saved : tuple
        The third value :func:`forward_train` returned.
    needs : 6 bools
        Which of the gradients below to compute; the others come back as None.

    Returns
    -------
    grad_x (T, B, I), grad_h0 (B, H), grad_weight_ih (3H, I), grad_weight_hh (3H, H),
    grad_bias_ih (3H,), grad_bias_hh (3H,)
    """
    gates, hidden_n, h_prev = saved
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    if lengths is None:
        lengths = np.full(batch, steps, dtype=np.int64)
    grad_state = np.array(grad_h_n, dtype=x.dtype, order="C", copy=True)
    grad_projection = np.zeros((steps, batch, 3 * hidden), dtype=x.dtype)
    grad_recurrent = np.zeros((steps, batch, 3 * hidden), dtype=x.dtype)
    _backward_recurrence(np.ascontiguousarray(grad_output), grad_state, gates, hidden_n, h_prev,
                         np.ascontiguousarray(weight_hh), lengths, reverse, grad_projection,
                         grad_recurrent)
    return _weight_gradients(x, h_prev, weight_ih, grad_state, grad_projection, grad_recurrent,
                             needs)


def _weight_gradients(x, h_prev, weight_ih, grad_h0, grad_projection, grad_recurrent, needs):
    """The parallel half of backward: one large GEMM (or sum) per gradient, over all steps."""
    steps, batch, n_in = x.shape
    gate_cols = grad_projection.shape[2]
    d_proj = grad_projection.reshape(steps * batch, gate_cols)
    d_rec = grad_recurrent.reshape(steps * batch, gate_cols)
    need_x, need_h0, need_w_ih, need_w_hh, need_b_ih, need_b_hh = needs
    return (
        np.dot(d_proj, weight_ih).reshape(steps, batch, n_in) if need_x else None,
        grad_h0 if need_h0 else None,
        np.dot(d_proj.T, x.reshape(steps * batch, n_in)) if need_w_ih else None,
        np.dot(d_rec.T, h_prev.reshape(steps * batch, -1)) if need_w_hh else None,
        d_proj.sum(axis=0) if need_b_ih else None,
        d_rec.sum(axis=0) if need_b_hh else None,
    )
