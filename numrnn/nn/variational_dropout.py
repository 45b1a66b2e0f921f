"""Variational dropout of a recurrent layer's inputs and states (Gal & Ghahramani 2016).

A layer built with ``input_dropout=p`` and ``recurrent_dropout=q`` (Keras's
``dropout`` and ``recurrent_dropout``) draws, in training mode, two masks per
forward pass for each of its layers and directions: one for the layer's input
(B, width) and one for its state h (B, size of h). Each batch row keeps its
masks for the whole sequence; every element is kept with probability ``1 - p``
(or ``1 - q``) and scaled by its inverse, as
:func:`numrnn.autograd.ops.dropout.scaled_dropout_mask` draws them, from the
layer's generator, in the calling thread: the kernels' threads only read them,
so the results do not depend on the thread count.

The input mask multiplies the layer's input before the kernel's input product;
the recurrent mask goes into the kernel, which multiplies ``h_{t-1}`` by it
before ``W_hh`` at every step (:mod:`numrnn.kernels.recurrent`). In evaluation
mode, or with both rates 0, nothing is drawn and the layer runs its plain kernels.
"""

import numbers

from numrnn.autograd.ops.dropout import scaled_dropout_mask
from numrnn.errors import ArgumentError

__all__ = ["VariationalMasks", "check_variational_rate", "draw_variational_masks"]


def check_variational_rate(op, name, value):
    """``value`` as a float in [0, 1), else an :class:`ArgumentError` naming ``op`` and
    the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0.0 <= value < 1.0:
        raise ArgumentError(f"{op}: {name} must be a number in [0, 1), got {value!r}")
    return float(value)


class VariationalMasks:
    """Per layer and direction (direction fastest), the input mask and the recurrent
    mask, each a (B, features) array or None where that rate is 0."""

    __slots__ = ("inputs", "recurrent")

    def __init__(self, inputs, recurrent):
        self.inputs = tuple(inputs)
        self.recurrent = tuple(recurrent)


def draw_variational_masks(widths, state_size, batch, dtype, input_rate, recurrent_rate, rng):
    """Fresh :class:`VariationalMasks` for a stack whose layers and directions (in the
    stack's order) read inputs of ``widths`` features and carry h of ``state_size``;
    for each, the input mask is drawn before the recurrent one."""
    inputs, recurrent = [], []
    for width in widths:
        inputs.append(scaled_dropout_mask((batch, width), dtype, input_rate, rng)
                      if input_rate > 0 else None)
        recurrent.append(scaled_dropout_mask((batch, state_size), dtype, recurrent_rate, rng)
                         if recurrent_rate > 0 else None)
    return VariationalMasks(inputs, recurrent)
