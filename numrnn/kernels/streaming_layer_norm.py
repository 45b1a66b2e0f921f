"""One time step of a stacked, unidirectional layer-normalised LSTM or GRU, for serving.

The streaming counterparts of :mod:`numrnn.kernels.lstm_layer_norm` and
:mod:`numrnn.kernels.gru_layer_norm` (equations in ``docs/cell_variants.md``),
keeping the contract of :mod:`numrnn.kernels.streaming`: every layer of the
stack in one call, nothing allocated, plain loops, ``nogil``.

Packed as the plain cell's block (``W_ihᵀ``, ``W_hhᵀ``, the bias: ``b_ih + b_hh``
for the LSTM, ``b_ih`` then ``b_hh`` for the GRU), followed by the gains and
shifts in the layout's order: ``γ_ih, β_ih, γ_hh, β_hh`` (G*H each), then the
LSTM's ``γ_c, β_c`` (H each).

The two products are normalised apart, per gate block, so ``gates`` holds the
input product in its first G*H columns and the recurrent product in the next
G*H; after them the LSTM keeps ``LN(c_t)`` (H columns), and one column takes
each normalisation's rstd (unused here, but :func:`normalise_blocks` writes it):
``W >= 9H + 1`` for the LSTM and ``W >= 6H + 1`` for the GRU.
"""

from numrnn.kernels.activations import sigmoid, tanh, typed
from numrnn.kernels.jit import inline_kernel
from numrnn.kernels.layer_norm_rows import normalise_blocks
from numrnn.kernels.matvec import accumulate
from numrnn.kernels.streaming import step_kernel

__all__ = ["gru_layer_norm_step", "lstm_layer_norm_step"]


@step_kernel
def _normalised_products(gates, layer_input, hidden_state, weights, layout, layer, columns,
                         spare):
    """The input product into ``gates[:, :columns]``, the recurrent one into
    ``gates[:, columns:2 * columns]``, each gate block then normalised in place;
    column ``spare`` takes the rstd."""
    for b in range(gates.shape[0]):
        gates[b, :2 * columns] = typed(0.0, gates[b, 0])
    accumulate(gates, 0, layer_input, weights, layout[layer, 0], columns, columns)
    accumulate(gates, columns, hidden_state, weights, layout[layer, 1], columns, columns)
    hidden = hidden_state.shape[1]
    for b in range(gates.shape[0]):
        row = gates[b]
        for block in range(2 * columns // hidden):
            normalise_blocks(row[block * hidden:(block + 1) * hidden], 1, row[spare:spare + 1])


@inline_kernel
def _preactivation(row, gain_ih, gain_hh, shift_ih, shift_hh, additive, columns, k):
    """Gate row ``k``'s pre-activation from the normalised products in ``row``."""
    return (gain_ih[k] * row[k] + gain_hh[k] * row[columns + k]
            + (shift_ih[k] + shift_hh[k] + additive[k]))


@step_kernel
def lstm_layer_norm_step(x, weights, layout, state, gates, output):
    """Advance every layer of a layer-normalised LSTM stack by one step. ``x`` (B, I)."""
    layers, _, batch, hidden = state.shape
    columns = 4 * hidden
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0]
        h = state[layer, 0]
        c = state[layer, 1]
        bias = layout[layer, 2]
        additive = weights[bias:bias + columns]
        norm = bias + columns
        gain_ih, shift_ih = weights[norm:norm + columns], weights[norm + columns:norm + 2 * columns]
        gain_hh = weights[norm + 2 * columns:norm + 3 * columns]
        shift_hh = weights[norm + 3 * columns:norm + 4 * columns]
        gain_c = weights[norm + 4 * columns:norm + 4 * columns + hidden]
        shift_c = weights[norm + 4 * columns + hidden:norm + 4 * columns + 2 * hidden]
        spare = 2 * columns + hidden
        _normalised_products(gates, layer_input, h, weights, layout, layer, columns, spare)
        for b in range(batch):
            row, h_row, c_row = gates[b], h[b], c[b]
            normed_c = row[2 * columns:2 * columns + hidden]
            for j in range(hidden):
                i = sigmoid(_preactivation(row, gain_ih, gain_hh, shift_ih, shift_hh, additive,
                                           columns, j))
                f = sigmoid(_preactivation(row, gain_ih, gain_hh, shift_ih, shift_hh, additive,
                                           columns, hidden + j))
                g = tanh(_preactivation(row, gain_ih, gain_hh, shift_ih, shift_hh, additive,
                                        columns, 2 * hidden + j))
                o = sigmoid(_preactivation(row, gain_ih, gain_hh, shift_ih, shift_hh, additive,
                                           columns, 3 * hidden + j))
                c_new = f * c_row[j] + i * g
                c_row[j] = c_new
                normed_c[j] = c_new
                row[j] = o
            normalise_blocks(normed_c, 1, row[spare:spare + 1])
            for j in range(hidden):
                h_row[j] = row[j] * tanh(gain_c[j] * normed_c[j] + shift_c[j])
    output[:, :] = state[layers - 1, 0]


@step_kernel
def gru_layer_norm_step(x, weights, layout, state, gates, output):
    """Advance every layer of a layer-normalised GRU stack by one step. ``x`` (B, I)."""
    layers, _, batch, hidden = state.shape
    columns = 3 * hidden
    one = typed(1.0, output[0, 0])
    for layer in range(layers):
        layer_input = x if layer == 0 else state[layer - 1, 0]
        h = state[layer, 0]
        bias = layout[layer, 2]
        bias_ih, bias_hh = weights[bias:bias + columns], weights[bias + columns:bias + 2 * columns]
        norm = bias + 2 * columns
        gain_ih, shift_ih = weights[norm:norm + columns], weights[norm + columns:norm + 2 * columns]
        gain_hh = weights[norm + 2 * columns:norm + 3 * columns]
        shift_hh = weights[norm + 3 * columns:norm + 4 * columns]
        _normalised_products(gates, layer_input, h, weights, layout, layer, columns, 2 * columns)
        for b in range(batch):
            row, h_row = gates[b], h[b]
            for j in range(hidden):
                r = sigmoid(gain_ih[j] * row[j] + (shift_ih[j] + bias_ih[j])
                            + gain_hh[j] * row[columns + j] + (shift_hh[j] + bias_hh[j]))
                k = hidden + j
                z = sigmoid(gain_ih[k] * row[k] + (shift_ih[k] + bias_ih[k])
                            + gain_hh[k] * row[columns + k] + (shift_hh[k] + bias_hh[k]))
                k = 2 * hidden + j
                hidden_n = gain_hh[k] * row[columns + k] + (shift_hh[k] + bias_hh[k])
                n = tanh(gain_ih[k] * row[k] + (shift_ih[k] + bias_ih[k]) + r * hidden_n)
                h_row[j] = (one - z) * n + z * h_row[j]
    output[:, :] = state[layers - 1, 0]
