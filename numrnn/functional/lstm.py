"""The fused LSTM as tape ops: ``lstm`` over a sequence, ``lstm_cell`` for one step.

Equations (gate order i, f, g, o, as PyTorch)::

    gates = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh
    i, f, o = sigmoid(...), g = tanh(...)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Inputs are validated here, before any kernel runs; the kernels live in
:mod:`numrnn.kernels.lstm` (forward) and :mod:`numrnn.kernels.lstm_backward`.
"""

import numpy as np

from numrnn.autograd.function import Function
from numrnn.functional.checks import (
    check_lengths,
    check_recurrent_input,
    check_state,
    contiguous,
    data_of,
    optional_contiguous,
)
from numrnn.kernels import lstm as lstm_kernel
from numrnn.kernels import lstm_backward

__all__ = ["LSTMCell", "LSTMSequence", "lstm", "lstm_cell"]


class LSTMSequence(Function):
    """Fused LSTM over a (T, B, I) sequence: outputs ``(output, h_n, c_n)``.

    Inputs: ``x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh`` (biases may be
    None); static: ``lengths`` ((B,) int64, validated) and ``reverse``.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, *, lengths, reverse):
        x, h0, c0 = contiguous(x), contiguous(h0), contiguous(c0)
        weight_ih, weight_hh = contiguous(weight_ih), contiguous(weight_hh)
        bias_ih, bias_hh = optional_contiguous(bias_ih), optional_contiguous(bias_hh)
        if not any(ctx.needs_input_grad):
            return lstm_kernel.forward_infer(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
                                             lengths, reverse)
        output, h_n, c_n, gates, cells = lstm_kernel.forward_train(
            x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse)
        ctx.save(x, h0, c0, weight_ih, weight_hh, output, gates, cells, lengths, reverse)
        return output, h_n, c_n

    @staticmethod
    def backward(ctx, grad_output, grad_h_n, grad_c_n):
        x, h0, c0, weight_ih, weight_hh, output, gates, cells, lengths, reverse = ctx.saved
        return lstm_backward.backward(
            contiguous(grad_output), contiguous(grad_h_n), contiguous(grad_c_n),
            x, h0, c0, weight_ih, weight_hh, output, gates, cells, lengths, reverse,
            needed=ctx.needs_input_grad)


class LSTMCell(Function):
    """One fused LSTM step on (B, I) input: outputs ``(h_new, c_new)``.

    Runs the sequence kernels with T = 1, so the cell and the sequence share
    one forward and one backward rule.
    """

    @staticmethod
    def forward(ctx, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        x, h, c = contiguous(x[None]), contiguous(h), contiguous(c)
        weight_ih, weight_hh = contiguous(weight_ih), contiguous(weight_hh)
        bias_ih, bias_hh = optional_contiguous(bias_ih), optional_contiguous(bias_hh)
        if not any(ctx.needs_input_grad):
            _, h_new, c_new = lstm_kernel.forward_infer(x, h, c, weight_ih, weight_hh, bias_ih,
                                                        bias_hh)
            return h_new, c_new
        output, h_new, c_new, gates, cells = lstm_kernel.forward_train(
            x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
        ctx.save(x, h, c, weight_ih, weight_hh, output, gates, cells)
        return h_new, c_new

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        x, h, c, weight_ih, weight_hh, output, gates, cells = ctx.saved
        # With one step, h_new is output[0]: its gradient enters once, as dL/dh_n.
        grads = lstm_backward.backward(
            np.zeros_like(output), contiguous(grad_h), contiguous(grad_c), x, h, c,
            weight_ih, weight_hh, output, gates, cells, needed=ctx.needs_input_grad)
        grad_x = grads[0]
        return (None if grad_x is None else grad_x[0],) + grads[1:]


def lstm(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None,
         reverse=False):
    """Run a single-layer, single-direction LSTM over a time-major sequence.

    Parameters
    ----------
    x : Tensor or ndarray, shape (T, B, I), float32 or float64
    h0, c0 : Tensor, ndarray (B, H) or None
        Initial hidden and cell states; None means zeros.
    weight_ih : (4H, I); weight_hh : (4H, H)
        Gate blocks stacked in PyTorch's order i, f, g, o.
    bias_ih, bias_hh : (4H,) or None
        None means no bias.
    lengths : (B,) integers in 1..T, or None
        Valid steps of each row (any order), instead of packing: row ``b`` runs
        over positions ``0 .. lengths[b] - 1``; later positions output zeros and
        leave its state alone.
    reverse : bool
        Run each row backwards over its valid part (positions ``lengths[b] - 1``
        down to 0): the reverse direction of a bidirectional LSTM.

    Returns
    -------
    output : Tensor (T, B, H)
        h at every valid position, zeros past each row's length.
    h_n, c_n : Tensor (B, H)
        Each row's states after its own last valid step.

    Gradients flow to ``x``, ``h0``, ``c0`` and every weight and bias.

    Example
    -------
    >>> out, h_n, c_n = lstm(x, None, None, w_ih, w_hh, b_ih, b_hh, lengths=[5, 3])
    """
    op = "lstm"
    dtype, hidden = check_recurrent_input(op, x, "TBI", weight_ih, weight_hh, bias_ih, bias_hh,
                                          4)
    steps, batch, _ = data_of(x).shape
    h0 = check_state(op, "h0", h0, (batch, hidden), dtype)
    c0 = check_state(op, "c0", c0, (batch, hidden), dtype)
    lengths = check_lengths(op, lengths, steps, batch)
    return LSTMSequence.apply(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
                              lengths=lengths, reverse=bool(reverse))


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step, for decoders that feed their outputs back in.

    ``x`` is (B, I); ``h``, ``c`` are (B, H) or None (zeros); weights and biases as
    in :func:`lstm`. Returns ``(h_new, c_new)``, Tensors of shape (B, H).
    """
    op = "lstm_cell"
    dtype, hidden = check_recurrent_input(op, x, "BI", weight_ih, weight_hh, bias_ih, bias_hh, 4)
    batch = data_of(x).shape[0]
    h = check_state(op, "h", h, (batch, hidden), dtype)
    c = check_state(op, "c", c, (batch, hidden), dtype)
    return LSTMCell.apply(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
