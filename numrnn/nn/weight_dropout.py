"""Weight dropout on the recurrent weights (DropConnect on ``W_hh``; Merity et al. 2018).

In training mode a recurrent layer built with ``weight_dropout=p`` multiplies
each of its ``weight_hh`` by a fresh mask per forward pass: each element kept
with probability ``1 - p`` and scaled by ``1 / (1 - p)``, drawn from the
layer's generator as its dropout masks between layers are
(:func:`numrnn.autograd.ops.dropout.scaled_dropout_mask`). The product is a tape
op on the weight, outside the kernels, so every step of every sequence in the
batch sees the same dropped weights and the gradient reaches the undropped
weight through the mask. In evaluation mode nothing is dropped.
"""

import numbers

from numrnn.autograd.ops.dropout import dropout
from numrnn.errors import ArgumentError

__all__ = ["check_weight_dropout", "drop_recurrent_weights"]


def check_weight_dropout(op, value):
    """``value`` as a float in [0, 1), else an :class:`ArgumentError` naming ``op``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0.0 <= value < 1.0:
        raise ArgumentError(f"{op}: weight_dropout must be a number in [0, 1), got {value!r}")
    return float(value)


def drop_recurrent_weights(weights, cell_parameters, p, rng):
    """``weights`` (every layer's and direction's parameters in the stack's order, each
    cell's named by ``cell_parameters``) with each ``weight_hh`` replaced by its dropped
    copy, masks drawn from ``rng`` in that order."""
    position, count = cell_parameters.index("weight_hh"), len(cell_parameters)
    return [dropout(weight, p, True, rng) if index % count == position else weight
            for index, weight in enumerate(weights)]
