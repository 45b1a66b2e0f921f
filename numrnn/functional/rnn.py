"""The fused Elman RNN as tape ops: ``rnn`` over a sequence, ``rnn_cell`` for one step.

Equation::

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

Inputs are validated here, before any kernel runs; the kernels live in
:mod:`numrnn.kernels.elman`.
"""

import numpy as np

from numrnn.autograd.function import Function
from numrnn.functional.checks import (
    check_choice,
    check_lengths,
    check_recurrent_input,
    check_state,
    contiguous,
    data_of,
    optional_contiguous,
)
from numrnn.kernels import elman as elman_kernel


class RNNSequence(Function):
    """Fused Elman RNN over a (T, B, I) sequence: outputs ``(output, h_n)``.

    Inputs: ``x, h0, weight_ih, weight_hh, bias_ih, bias_hh`` (biases may be None);
    static: ``lengths`` ((B,) int64, validated), ``reverse`` and ``nonlinearity``.
    """

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, *, lengths, reverse,
                nonlinearity):
        x, h0 = contiguous(x), contiguous(h0)
        weight_ih, weight_hh = contiguous(weight_ih), contiguous(weight_hh)
        bias_ih, bias_hh = optional_contiguous(bias_ih), optional_contiguous(bias_hh)
        if not any(ctx.needs_input_grad):
            return elman_kernel.forward_infer(x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                                              lengths, reverse, nonlinearity)
        output, h_n, saved = elman_kernel.forward_train(x, h0, weight_ih, weight_hh, bias_ih,
                                                        bias_hh, lengths, reverse, nonlinearity)
        ctx.save(x, weight_ih, weight_hh, saved, lengths, reverse, nonlinearity)
        return output, h_n

    @staticmethod
    def backward(ctx, grad_output, grad_h_n):
        x, weight_ih, weight_hh, saved, lengths, reverse, nonlinearity = ctx.saved
        return elman_kernel.backward(grad_output, grad_h_n, x, weight_ih, weight_hh, saved,
                                     lengths, reverse, nonlinearity,
                                     needs=ctx.needs_input_grad)


class RNNCell(Function):
    """One fused Elman step on (B, I) input: outputs ``h_new``.

    Runs the sequence kernels with T = 1, so the cell and the sequence share
    one forward and one backward rule.
    """

    @staticmethod
    def forward(ctx, x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, nonlinearity):
        x, h = contiguous(x[None]), contiguous(h)
        weight_ih, weight_hh = contiguous(weight_ih), contiguous(weight_hh)
        bias_ih, bias_hh = optional_contiguous(bias_ih), optional_contiguous(bias_hh)
        if not any(ctx.needs_input_grad):
            return elman_kernel.forward_infer(x, h, weight_ih, weight_hh, bias_ih, bias_hh,
                                              nonlinearity=nonlinearity)[1]
        _, h_new, saved = elman_kernel.forward_train(x, h, weight_ih, weight_hh, bias_ih,
                                                     bias_hh, nonlinearity=nonlinearity)
        ctx.save(x, weight_ih, weight_hh, saved, nonlinearity)
        return h_new

    @staticmethod
    def backward(ctx, grad_h):
        x, weight_ih, weight_hh, saved, nonlinearity = ctx.saved
        # With one step, h_new is output[0]: its gradient enters once, as dL/dh_n.
        grads = elman_kernel.backward(np.zeros((1,) + grad_h.shape, grad_h.dtype), grad_h, x,
                                      weight_ih, weight_hh, saved, nonlinearity=nonlinearity,
                                      needs=ctx.needs_input_grad)
        grad_x = grads[0]
        return (None if grad_x is None else grad_x[0],) + grads[1:]


def rnn(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None, reverse=False,
        nonlinearity="tanh"):
    """Run a single-layer, single-direction Elman RNN over a time-major sequence.

    Parameters
    ----------
    x : Tensor or ndarray, shape (T, B, I), float32 or float64
    h0 : Tensor, ndarray (B, H) or None
        Initial hidden state; None means zeros.
    weight_ih : (H, I); weight_hh : (H, H)
    bias_ih, bias_hh : (H,) or None
        None means no bias.
    lengths : (B,) integers in 1..T, or None
        Valid steps of each row (any order), instead of packing: row ``b`` runs
        over positions ``0 .. lengths[b] - 1``; later positions output zeros and
        leave its state alone.
    reverse : bool
        Run each row backwards over its valid part (positions ``lengths[b] - 1``
        down to 0): the reverse direction of a bidirectional RNN.
    nonlinearity : 'tanh' or 'relu'
        The activation; ReLU's derivative at 0 is taken as 0, as in PyTorch.

    Returns
    -------
    output : Tensor (T, B, H)
        h at every valid position, zeros past each row's length.
    h_n : Tensor (B, H)
        Each row's state after its own last valid step.

    Gradients flow to ``x``, ``h0`` and every weight and bias.

    Example
    -------
    >>> out, h_n = rnn(x, None, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")
    """
    op = "rnn"
    check_choice(op, "nonlinearity", nonlinearity, elman_kernel.NONLINEARITIES)
    dtype, hidden = check_recurrent_input(op, x, "TBI", weight_ih, weight_hh, bias_ih, bias_hh,
                                          gates=1)
    steps, batch, _ = data_of(x).shape
    h0 = check_state(op, "h0", h0, (batch, hidden), dtype)
    lengths = check_lengths(op, lengths, steps, batch)
    return RNNSequence.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                             reverse=bool(reverse), nonlinearity=nonlinearity)


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One Elman RNN step, for decoders that feed their outputs back in.

    ``x`` is (B, I); ``h`` is (B, H) or None (zeros); weights, biases and
    ``nonlinearity`` as in :func:`rnn`. Returns ``h_new``, a Tensor of shape (B, H).
    """
    op = "rnn_cell"
    check_choice(op, "nonlinearity", nonlinearity, elman_kernel.NONLINEARITIES)
    dtype, hidden = check_recurrent_input(op, x, "BI", weight_ih, weight_hh, bias_ih, bias_hh,
                                          gates=1)
    h = check_state(op, "h", h, (data_of(x).shape[0], hidden), dtype)
    return RNNCell.apply(x, h, weight_ih, weight_hh, bias_ih, bias_hh,
                         nonlinearity=nonlinearity)


__all__ = ["RNNCell", "RNNSequence", "rnn", "rnn_cell"]
