"""The affine map ``x @ weight.T + bias`` of :class:`numrnn.nn.Linear` as one op.

Written with the primitives, a Linear layer records five ops (reshape, transpose,
matmul, add, reshape) and replays five backward nodes; at the adding problem's
step (a (64, 64) read-out of an LSTM's last state) their Python calls cost more
than the products themselves. One op records one node. It computes what those
five compute, with the same NumPy calls on operands of the same layout, so its
output and gradients are the same bits: the product through :func:`_matmul`, the
input's gradient ``grad @ weight``, the weight's the transpose of ``rows.T @
grad`` (what the transpose op's backward returns), the bias's ``grad.sum(axis=0)``.
"""

from __future__ import annotations

import math

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.arithmetic import _matmul


class Affine(Function):
    """``x @ weight.T (+ bias)`` over the last axis of ``x``; ``bias`` may be None."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
        ctx.save(x.shape, rows, weight)
        y = _matmul(rows, np.transpose(weight))
        if bias is not None:
            y = y + bias
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        shape, rows, weight = ctx.saved
        grad = grad.reshape(rows.shape[0], weight.shape[0])
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad
        grad_x = _matmul(grad, weight).reshape(shape) if needs_x else None
        grad_weight = np.transpose(_matmul(np.transpose(rows), grad)) if needs_weight else None
        grad_bias = grad.sum(axis=0) if needs_bias else None
        return grad_x, grad_weight, grad_bias


def affine(x, weight, bias=None):
    """``x @ weight.T + bias`` for Tensors whose shapes the caller has checked.

    ``x`` is (..., in), ``weight`` (out, in), ``bias`` (out,) or None; the result
    is (..., out). :class:`numrnn.nn.Linear` validates its input and parameters first.
    """
    return Affine.apply(x, weight, bias)
