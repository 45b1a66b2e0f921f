"""The fused recurrent tape ops of every cell kind: one layer over a sequence, and one step.

:class:`RecurrentSequence` and :class:`RecurrentStep` run any kind of the table
(:mod:`numrnn.functional.cell_kinds`) through its kernels, which all keep the
contract of :mod:`numrnn.kernels.recurrent`; a whole stacked, bidirectional
layer is :mod:`numrnn.functional.recurrent_stack`. The public ops (``lstm``,
``gru_cell``, ...) validate their arguments with :func:`checked_sequence` and
:func:`checked_step`, then apply these.

When no input needs a gradient (``no_grad``, or only constants), the forward
runs the inference kernel, which keeps no residuals, and nothing is recorded.

A sequence op may take fixed variational dropout masks (:func:`checked_sequence`):
the input mask multiplies ``x`` as a tape op before the fused one (it is the
same at every step), the recurrent mask goes into the kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.functional.checks import (
    check_float_dtype,
    check_lengths,
    check_recurrent_input,
    check_shape,
    check_state,
    data_of,
)

if TYPE_CHECKING:
    from typing import Any

    from numrnn.autograd.function import Context
    from numrnn.functional.cell_kinds import CellKind

__all__ = ["RecurrentSequence", "RecurrentStep", "checked_sequence", "checked_step"]


def _ready(x, arrays):
    """C-contiguous input, states and weights, made once here so that what is saved
    for backward is what the forward kernel read."""
    return np.ascontiguousarray(x), tuple(
        None if array is None else np.ascontiguousarray(array) for array in arrays)


class RecurrentSequence(Function):
    """One layer and direction of a cell kind over a (T, B, I) sequence.

    Inputs: ``x``, the initial states in the kind's order, then ``weight_ih,
    weight_hh, bias_ih, bias_hh`` (biases may be None); static: ``kind``,
    ``options`` (dict), ``lengths`` ((B,) int64, validated), ``reverse`` and
    ``recurrent_mask`` ((B, H) or None, validated). Outputs: ``(output, *final_states)``.
    """

    @staticmethod
    def forward(ctx, x, *arrays, kind, options, lengths, reverse, recurrent_mask=None):
        x, arrays = _ready(x, arrays)
        count = len(kind.states)
        states, weights = arrays[:count], arrays[count:]
        if not any(ctx.needs_input_grad):
            output, finals = kind.forward_infer(x, states, weights, lengths, reverse, options,
                                                recurrent_mask)
            return (output, *finals)
        output, finals, saved = kind.forward_train(x, states, weights, lengths, reverse,
                                                   options, recurrent_mask)
        ctx.save(x, states, weights, saved, kind, options, lengths, reverse, recurrent_mask)
        return (output, *finals)

    @staticmethod
    def backward(ctx, grad_output, *grad_finals):
        x, states, weights, saved, kind, options, lengths, reverse, recurrent_mask = ctx.saved
        return kind.backward(grad_output, grad_finals, x, states, weights, saved, lengths,
                             reverse, options, ctx.needs_input_grad,
                             recurrent_mask=recurrent_mask)


class RecurrentStep(Function):
    """One step of a cell kind: outputs the new states (one Tensor for a kind with one
    state, else a tuple).

    Runs the sequence kernels with T = 1, so a cell and a sequence share one
    forward and one backward rule. Inputs as :class:`RecurrentSequence`, a None
    state meaning zeros; static: ``kind``, ``options``, ``batched``: True
    for a (B, I) input and (B, H) states, False for an unbatched (I,) input and
    (H,) states, and ``recurrent_mask``: None, or a checked (B, size of h) variational
    dropout mask that multiplies h before the recurrent product (B = 1 unbatched).
    """

    @staticmethod
    def forward(ctx: Context, x: Any, *arrays: Any, kind: CellKind, options: Any,
                batched: bool = True, recurrent_mask: Any = None) -> Any:
        count = len(kind.states)
        x = x.reshape(1, -1, x.shape[-1])
        batch = x.shape[1]
        # Sized by the cell table: a projected LSTM's h has weight_hh's columns, c H.
        weight_hh = arrays[count + 1]
        sizes = kind.state_sizes(weight_hh.shape[0] // kind.gate_count, options)
        states = tuple(np.zeros((batch, size), dtype=x.dtype) if state is None
                       else state.reshape(batch, size)
                       for state, size in zip(arrays[:count], sizes))
        x, arrays = _ready(x, states + arrays[count:])
        states, weights = arrays[:count], arrays[count:]
        if not any(ctx.needs_input_grad):
            _, finals = kind.forward_infer(x, states, weights, None, False, options,
                                           recurrent_mask)
        else:
            _, finals, saved = kind.forward_train(x, states, weights, None, False, options,
                                                  recurrent_mask)
            ctx.save(x, states, weights, saved, kind, options, batched, recurrent_mask)
        if not batched:
            finals = tuple(state.reshape(-1) for state in finals)
        return finals if count > 1 else finals[0]

    @staticmethod
    def backward(ctx: Context, *grad_finals: Any) -> Any:
        x, states, weights, saved, kind, options, batched, recurrent_mask = ctx.saved
        grad_finals = tuple(grad.reshape(state.shape)
                            for grad, state in zip(grad_finals, states))
        # With one step, h_new is output[0]: its gradient enters once, as dL/dh_n.
        grad_output = np.zeros((1,) + states[0].shape, dtype=x.dtype)
        grads = kind.backward(grad_output, grad_finals, x, states, weights, saved, None, False,
                              options, ctx.needs_input_grad, recurrent_mask=recurrent_mask)
        grad_x, grad_states = grads[0], grads[1:1 + len(states)]
        if not batched:
            grad_states = tuple(None if grad is None else grad.reshape(-1)
                                for grad in grad_states)
        if grad_x is not None:
            grad_x = grad_x[0] if batched else grad_x.reshape(-1)
        return (grad_x, *grad_states, *grads[1 + len(states):])


def _check_option_weights(op, kind, weights, input_size, hidden, options, dtype):
    """The weights ``options`` add after the standard four (``weights[4:]``), each
    against the shape the kind's layout gives it."""
    layout = kind.parameters(input_size, hidden, options)[4:]
    for (name, shape), weight in zip(layout, weights[4:]):
        check_float_dtype(op, name, weight, dtype)
        check_shape(op, name, weight, shape)


def _check_mask(op, name, mask, shape, dtype):
    """A fixed dropout mask: an ndarray (or a Tensor's array) of ``shape`` and ``dtype``."""
    if mask is None:
        return None
    array = data_of(mask)
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"{op}: {name} must be an ndarray, Tensor or None, "
                                f"got {type(mask).__name__}")
    check_float_dtype(op, name, array, dtype)
    check_shape(op, name, array, shape)
    return np.ascontiguousarray(array)


def checked_sequence(op, kind, x, states, weights, lengths, reverse, options, input_mask=None,
                     recurrent_mask=None):
    """Validate a sequence op's arguments, then apply :class:`RecurrentSequence`.

    ``states`` is ``((name, value), ...)`` in the kind's order, a None value
    meaning zeros; ``weights`` the four weights, then any the kind's ``options``
    add; ``input_mask`` (B, I) and ``recurrent_mask`` (B, H) fixed variational
    dropout masks or None. Errors name ``op``.
    """
    dtype, hidden = check_recurrent_input(op, x, "TBI", *weights[:4], kind.gate_count)
    steps, batch, width = data_of(x).shape
    _check_option_weights(op, kind, weights, width, hidden, options, dtype)
    states = [check_state(op, name, value, (batch, hidden), dtype) for name, value in states]
    lengths = check_lengths(op, lengths, steps, batch)
    input_mask = _check_mask(op, "input_mask", input_mask, (batch, width), dtype)
    recurrent_mask = _check_mask(op, "recurrent_mask", recurrent_mask, (batch, hidden), dtype)
    if recurrent_mask is not None:
        refusal = kind.refusal(options, recurrent_dropout=True)
        if refusal is not None:
            raise ArgumentError(f"{op}: recurrent_mask given, but {refusal}")
    if input_mask is not None:
        # The same at every step: one product before the fused op, a tape op, so the
        # input's gradient comes back through the mask.
        x = (x if isinstance(x, Tensor) else Tensor(x)) * input_mask
    return RecurrentSequence.apply(x, *states, *weights, kind=kind, options=options,
                                   lengths=lengths, reverse=bool(reverse),
                                   recurrent_mask=recurrent_mask)


def checked_step(op, kind, x, states, weights, options):
    """Validate a one-step op's arguments, then apply :class:`RecurrentStep`."""
    dtype, hidden = check_recurrent_input(op, x, "BI", *weights[:4], kind.gate_count)
    _check_option_weights(op, kind, weights, data_of(x).shape[1], hidden, options, dtype)
    batch = data_of(x).shape[0]
    states = [check_state(op, name, value, (batch, hidden), dtype) for name, value in states]
    return RecurrentStep.apply(x, *states, *weights, kind=kind, options=options)
