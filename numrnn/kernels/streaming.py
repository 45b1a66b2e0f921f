"""One time step of a stacked, unidirectional LSTM / GRU / Elman RNN, for serving.

A server that answers one frame at a time calls these once per step with a
batch of 1 (or a few). At that size the work is a few matrix-vector products
(~0.2 MFLOP at H=128), so what costs is everything around them: allocating,
dispatching one small BLAS call per layer and gate, crossing into Python per
layer. Each kernel therefore does every layer of the stack in one call, writes
only into buffers the caller preallocated, and does its products as plain
loops (no BLAS call, no allocation, nothing shared, ``nogil``), so many threads
can each drive their own state at once.

Packed weights (see :func:`pack_layer` for one layer's block): for each layer
``l``, ``layout[l] = (in_offset, hidden_offset, bias_offset)`` indexes one flat
``weights`` vector holding

- ``W_ihᵀ`` at ``in_offset``: (input_size, G*H), row-major,
- ``W_hhᵀ`` at ``hidden_offset``: (H, G*H), row-major,
- the bias at ``bias_offset``: ``b_ih + b_hh`` (G*H,) for LSTM and RNN; for GRU
  ``b_ih`` then ``b_hh`` (2 * 3H), because r multiplies the hidden part of n,
  so the input and hidden parts are kept apart;
- any further parameters of the layer's cell right after the bias, in kernel
  order, each raveled and a matrix transposed as ``W_ih`` and ``W_hh`` are: the
  peephole LSTM's ``weight_peephole`` (3H,), the projected LSTM's ``W_hrᵀ``
  (H, P), the layer-normalised cells' gains and shifts
  (:mod:`numrnn.kernels.streaming_layer_norm`).

Transposed so that the inner loop runs along G*H contiguous columns: input
elements times weight rows, accumulated into the gate row — a vectorisable
axpy without a reduction, so it needs no reassociation.

Activations come from :mod:`numrnn.kernels.activations`, as in the sequence
kernels: exact in float64, a vectorisable rational tanh in float32 (the libm
calls cost ~9 µs of a ~15 µs step at H=128 otherwise).

Gate orders are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n); the reset-before
GRU (:func:`gru_reset_before_step`) is packed as the GRU. ``state`` is
``(L, S, B, H)`` with ``S = 2`` for LSTM (h, c) and 1 otherwise; ``gates``
``(B, W)`` is scratch with ``W >= G*H`` (GRU: ``W >= 6H``, input then hidden
parts); ``output`` ``(B, H)`` receives the last layer's new h. A projected LSTM
(:func:`lstm_projection_step`) has ``output`` ``(B, P)``, and its h is the
first P columns of ``state[:, 0]``.
"""

import numpy as np

from numrnn.kernels.activations import sigmoid, tanh, typed
from numrnn.kernels.jit import inline_kernel, product_kernel
from numrnn.kernels.matvec import accumulate

# FMA contraction (numrnn.kernels.jit.product_kernel): float64 stays within
# 1e-15 of the layer.
step_kernel = product_kernel


# Copies between arrays are element loops, not slice assignments: an assignment
# between arrays makes Numba check the shapes at run time and compile the
# formatting of its error message, about 10 s of CPU time of a first sample in a
# loaded ``numrnn demo`` (shapes are checked in Python, by the Streamer).
@inline_kernel
def _copy_rows(target, source):
    """``target[:, :] = source`` for 2-D arrays of one shape."""
    for b in range(target.shape[0]):
        target_row, source_row = target[b], source[b]
        for j in range(target_row.shape[0]):
            target_row[j] = source_row[j]


@inline_kernel
def _fill_rows(target, values):
    """Every row of the 2-D ``target`` starts with the 1-D ``values``."""
    for b in range(target.shape[0]):
        row = target[b]
        for j in range(values.shape[0]):
            row[j] = values[j]


def pack_layer(weight_ih, weight_hh, bias_ih, bias_hh, split_bias):
    """One layer's block of the flat weight vector: ``W_ihᵀ, W_hhᵀ, bias``, raveled.

    Biases may be None (zeros). With ``split_bias`` (the GRU) the bias is ``b_ih``
    then ``b_hh``, else their sum.
    """
    rows = weight_hh.shape[0]
    dtype = weight_hh.dtype
    bias_ih = np.zeros(rows, dtype) if bias_ih is None else bias_ih
    bias_hh = np.zeros(rows, dtype) if bias_hh is None else bias_hh
    bias = np.concatenate([bias_ih, bias_hh]) if split_bias else bias_ih + bias_hh
    return np.concatenate([weight_ih.T.ravel(), weight_hh.T.ravel(), bias]).astype(dtype)


@step_kernel
def _preactivations(gates, layer_input, hidden_state, weights, layout, layer, columns,
                    split_hidden):
    """Bias plus input and hidden products of every batch row, into ``gates``.

    Without ``split_hidden`` both products add into ``gates[:, :columns]``. With it
    (GRU, where r multiplies the hidden part of n) the input part goes to
    ``gates[:, :columns]`` and the hidden part to ``gates[:, columns:2 * columns]``,
    each with its own bias.
    """
    bias = layout[layer, 2]
    width = 2 * columns if split_hidden else columns
    _fill_rows(gates, weights[bias:bias + width])
    # np.int64: a literal 0 would compile accumulate a second time, for Literal[int](0).
    accumulate(gates, np.int64(0), layer_input, weights, layout[layer, 0], columns, columns)
    accumulate(gates, columns if split_hidden else 0, hidden_state, weights, layout[layer, 1],
               columns, columns)


@step_kernel
def lstm_step(x, weights, layout, state, gates, output):
    """Advance every layer of an LSTM stack by one step. ``x`` (B, I); see module doc."""
    layers, _, batch, hidden = state.shape
    columns = 4 * hidden
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0]
        h = state[layer, 0]
        c = state[layer, 1]
        _preactivations(gates, layer_input, h, weights, layout, layer, columns, False)
        for b in range(batch):
            gate_row, h_row, c_row = gates[b], h[b], c[b]
            for j in range(hidden):
                i = sigmoid(gate_row[j])
                f = sigmoid(gate_row[hidden + j])
                g = tanh(gate_row[2 * hidden + j])
                o = sigmoid(gate_row[3 * hidden + j])
                c_new = f * c_row[j] + i * g
                c_row[j] = c_new
                h_row[j] = o * tanh(c_new)
    _copy_rows(output, state[layers - 1, 0])


@step_kernel
def lstm_peephole_step(x, weights, layout, state, gates, output):
    """Advance every layer of a peephole LSTM stack (``peepholes=True``) by one step.

    Packed as :func:`lstm_step`'s, with the peephole vector ``p_i, p_f, p_o``
    (3H,) after the bias. ``x`` (B, I).
    """
    layers, _, batch, hidden = state.shape
    columns = 4 * hidden
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0]
        h = state[layer, 0]
        c = state[layer, 1]
        peephole = weights[layout[layer, 2] + columns:layout[layer, 2] + columns + 3 * hidden]
        _preactivations(gates, layer_input, h, weights, layout, layer, columns, False)
        for b in range(batch):
            gate_row, h_row, c_row = gates[b], h[b], c[b]
            for j in range(hidden):
                c_old = c_row[j]
                i = sigmoid(gate_row[j] + peephole[j] * c_old)
                f = sigmoid(gate_row[hidden + j] + peephole[hidden + j] * c_old)
                g = tanh(gate_row[2 * hidden + j])
                c_new = f * c_old + i * g
                o = sigmoid(gate_row[3 * hidden + j] + peephole[2 * hidden + j] * c_new)
                c_row[j] = c_new
                h_row[j] = o * tanh(c_new)
    _copy_rows(output, state[layers - 1, 0])


@step_kernel
def lstm_projection_step(x, weights, layout, state, gates, output):
    """Advance every layer of a projected LSTM stack (``proj_size`` P) by one step.

    Packed as :func:`lstm_step`'s with ``W_hhᵀ`` (P, 4H), and ``W_hrᵀ`` (H, P) after
    the bias; P is ``output``'s width. The gate loop leaves ``m = o * tanh(c)`` in
    the first H columns of ``gates``, then ``h = m W_hrᵀ`` (PyTorch's projection).
    ``x`` (B, I).
    """
    layers, _, batch, hidden = state.shape
    proj = output.shape[1]
    columns = 4 * hidden
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0, :, :proj]
        h = state[layer, 0, :, :proj]
        c = state[layer, 1]
        _preactivations(gates, layer_input, h, weights, layout, layer, columns, False)
        for b in range(batch):
            gate_row, c_row = gates[b], c[b]
            for j in range(hidden):
                i = sigmoid(gate_row[j])
                f = sigmoid(gate_row[hidden + j])
                g = tanh(gate_row[2 * hidden + j])
                o = sigmoid(gate_row[3 * hidden + j])
                c_new = f * c_row[j] + i * g
                c_row[j] = c_new
                gate_row[j] = o * tanh(c_new)
        h[:, :] = typed(0.0, output[0, 0])
        accumulate(h, np.int64(0), gates[:, :hidden], weights, layout[layer, 2] + columns, proj,
                   proj)
    _copy_rows(output, state[layers - 1, 0, :, :proj])


@step_kernel
def gru_step(x, weights, layout, state, gates, output):
    """Advance every layer of a GRU stack by one step. ``x`` (B, I); see module doc."""
    layers, _, batch, hidden = state.shape
    columns = 3 * hidden
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0]
        h = state[layer, 0]
        # gates: input parts of r, z, n (+ b_ih), then hidden parts (+ b_hh).
        _preactivations(gates, layer_input, h, weights, layout, layer, columns, True)
        for b in range(batch):
            gate_row, h_row = gates[b], h[b]
            for j in range(hidden):
                r = sigmoid(gate_row[j] + gate_row[columns + j])
                z = sigmoid(gate_row[hidden + j] + gate_row[columns + hidden + j])
                n = tanh(gate_row[2 * hidden + j] + r * gate_row[columns + 2 * hidden + j])
                h_row[j] = (typed(1.0, z) - z) * n + z * h_row[j]
    _copy_rows(output, state[layers - 1, 0])


@step_kernel
def gru_reset_before_step(x, weights, layout, state, gates, output):
    """Advance every layer of a reset-before GRU stack (``reset_after=False``) by one step.

    Packed as :func:`gru_step`'s; n's recurrent product reads ``r * h``, so it
    follows the gates: ``gates`` holds the input parts of r, z, n (+ ``b_ih``),
    then the hidden parts of r and z (+ their ``b_hh``), whose columns then take
    ``r * h`` and z, then ``(r * h) W_hnᵀ + b_hn``. ``x`` (B, I).
    """
    layers, _, batch, hidden = state.shape
    columns = 3 * hidden
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0]
        h = state[layer, 0]
        bias, hidden_weights = layout[layer, 2], layout[layer, 1]
        _fill_rows(gates, weights[bias:bias + 2 * columns])
        accumulate(gates, np.int64(0), layer_input, weights, layout[layer, 0], columns, columns)
        # W_hhᵀ is (H, 3H) row-major: r's and z's columns first, then n's.
        accumulate(gates, columns, h, weights, hidden_weights, 2 * hidden, columns)
        for b in range(batch):
            gate_row, h_row = gates[b], h[b]
            for j in range(hidden):
                r = sigmoid(gate_row[j] + gate_row[columns + j])
                z = sigmoid(gate_row[hidden + j] + gate_row[columns + hidden + j])
                gate_row[columns + j] = r * h_row[j]
                gate_row[columns + hidden + j] = z
        accumulate(gates, columns + 2 * hidden, gates[:, columns:columns + hidden], weights,
                   hidden_weights + 2 * hidden, hidden, columns)
        for b in range(batch):
            gate_row, h_row = gates[b], h[b]
            for j in range(hidden):
                z = gate_row[columns + hidden + j]
                n = tanh(gate_row[2 * hidden + j] + gate_row[columns + 2 * hidden + j])
                h_row[j] = (typed(1.0, z) - z) * n + z * h_row[j]
    _copy_rows(output, state[layers - 1, 0])


@step_kernel
def _rnn_step(x, weights, layout, state, gates, output, relu):
    layers, _, batch, hidden = state.shape
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0]
        h = state[layer, 0]
        _preactivations(gates, layer_input, h, weights, layout, layer, hidden, False)
        for b in range(batch):
            gate_row, h_row = gates[b], h[b]
            for j in range(hidden):
                preact = gate_row[j]
                if relu:
                    h_row[j] = preact if preact > 0 else typed(0.0, preact)
                else:
                    h_row[j] = tanh(preact)
    _copy_rows(output, state[layers - 1, 0])


# Two entry points rather than a flag argument, so all four kernels share one
# signature and Streamer.step calls any of them the same way.
@step_kernel
def rnn_tanh_step(x, weights, layout, state, gates, output):
    """Advance every layer of a tanh Elman RNN stack by one step. ``x`` (B, I)."""
    _rnn_step(x, weights, layout, state, gates, output, False)


@step_kernel
def rnn_relu_step(x, weights, layout, state, gates, output):
    """Advance every layer of a ReLU Elman RNN stack by one step. ``x`` (B, I)."""
    _rnn_step(x, weights, layout, state, gates, output, True)
