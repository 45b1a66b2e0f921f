"""The fused GRU as tape ops: ``gru`` over a sequence, ``gru_cell`` for one step.

Equations (gate order r, z, n, as PyTorch)::

    r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}

Inputs are validated here, before any kernel runs; the kernels live in
:mod:`numrnn.kernels.gru`.
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
from numrnn.kernels import gru as gru_kernel


class GRUSequence(Function):
    """Fused GRU over a (T, B, I) sequence: outputs ``(output, h_n)``.

    Inputs: ``x, h0, weight_ih, weight_hh, bias_ih, bias_hh`` (biases may be None);
    static: ``lengths`` ((B,) int64, validated) and ``reverse``.
    """

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, *, lengths, reverse):
        x, h0 = contiguous(x), contiguous(h0)
        weight_ih, weight_hh = contiguous(weight_ih), contiguous(weight_hh)
        bias_ih, bias_hh = optional_contiguous(bias_ih), optional_contiguous(bias_hh)
        if not any(ctx.needs_input_grad):
            return gru_kernel.forward_infer(x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                                            lengths, reverse)
        output, h_n, saved = gru_kernel.forward_train(x, h0, weight_ih, weight_hh, bias_ih,
                                                      bias_hh, lengths, reverse)
        ctx.save(x, weight_ih, weight_hh, saved, lengths, reverse)
        return output, h_n

    @staticmethod
    def backward(ctx, grad_output, grad_h_n):
        x, weight_ih, weight_hh, saved, lengths, reverse = ctx.saved
        return gru_kernel.backward(grad_output, grad_h_n, x, weight_ih, weight_hh, saved,
                                   lengths, reverse, needs=ctx.needs_input_grad)


class GRUCell(Function):
    """One fused GRU step on (B, I) input: outputs ``h_new``.

    Runs the sequence kernels with T = 1, so the cell and the sequence share
    one forward and one backward rule.
    """

    @staticmethod
    def forward(ctx, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        x, h = contiguous(x[None]), contiguous(h)
        weight_ih, weight_hh = contiguous(weight_ih), contiguous(weight_hh)
        bias_ih, bias_hh = optional_contiguous(bias_ih), optional_contiguous(bias_hh)
        if not any(ctx.needs_input_grad):
            return gru_kernel.forward_infer(x, h, weight_ih, weight_hh, bias_ih, bias_hh)[1]
        output, h_new, saved = gru_kernel.forward_train(x, h, weight_ih, weight_hh, bias_ih,
                                                        bias_hh)
        ctx.save(x, weight_ih, weight_hh, saved)
        return h_new

    @staticmethod
    def backward(ctx, grad_h):
        x, weight_ih, weight_hh, saved = ctx.saved
        # With one step, h_new is output[0]: its gradient enters once, as dL/dh_n.
        grads = gru_kernel.backward(np.zeros((1,) + grad_h.shape, grad_h.dtype), grad_h, x,
                                    weight_ih, weight_hh, saved, needs=ctx.needs_input_grad)
        grad_x = grads[0]
        return (None if grad_x is None else grad_x[0],) + grads[1:]


def gru(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None, reverse=False):
    """Run a single-layer, single-direction GRU over a time-major sequence.

    Parameters
    ----------
    x : Tensor or ndarray, shape (T, B, I), float32 or float64
    h0 : Tensor, ndarray (B, H) or None
        Initial hidden state; None means zeros.
    weight_ih : (3H, I); weight_hh : (3H, H)
        Gate blocks stacked in PyTorch's order r, z, n.
    bias_ih, bias_hh : (3H,) or None
        None means no bias.
    lengths : (B,) integers in 1..T, or None
        Valid steps of each row (any order), instead of packing: row ``b`` runs
        over positions ``0 .. lengths[b] - 1``; later positions output zeros and
        leave its state alone.
    reverse : bool
        Run each row backwards over its valid part (positions ``lengths[b] - 1``
        down to 0): the reverse direction of a bidirectional GRU.

    Returns
    -------
    output : Tensor (T, B, H)
        h at every valid position, zeros past each row's length.
    h_n : Tensor (B, H)
        Each row's state after its own last valid step.

    Gradients flow to ``x``, ``h0`` and every weight and bias.

    Example
    -------
    >>> out, h_n = gru(x, None, w_ih, w_hh, b_ih, b_hh, lengths=[5, 3])
    """
    op = "gru"
    dtype, hidden = check_recurrent_input(op, x, "TBI", weight_ih, weight_hh, bias_ih, bias_hh,
                                          gates=3)
    steps, batch, _ = data_of(x).shape
    h0 = check_state(op, "h0", h0, (batch, hidden), dtype)
    lengths = check_lengths(op, lengths, steps, batch)
    return GRUSequence.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                             reverse=bool(reverse))


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step, for decoders that feed their outputs back in.

    ``x`` is (B, I); ``h`` is (B, H) or None (zeros); weights and biases as in
    :func:`gru`. Returns ``h_new``, a Tensor of shape (B, H).
    """
    op = "gru_cell"
    dtype, hidden = check_recurrent_input(op, x, "BI", weight_ih, weight_hh, bias_ih, bias_hh,
                                          gates=3)
    h = check_state(op, "h", h, (data_of(x).shape[0], hidden), dtype)
    return GRUCell.apply(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


__all__ = ["GRUCell", "GRUSequence", "gru", "gru_cell"]
