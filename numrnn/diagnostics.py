"""Gradient-flow diagnostics: how much of a loss's gradient reaches each time step.

``hidden_gradient_norms`` measures ``‖∂L/∂h_t‖`` for every step ``t``: the
quantity whose exponential decay (vanishing gradients) or growth (exploding
gradients) decides whether a recurrent network can learn long-range
dependencies (Bengio et al., 1994; Pascanu et al., 2013).

How: the fused sequence ops never materialise ``∂L/∂h_t``, so the layer is
replayed one step at a time through its cell (``F.lstm_cell``, ``F.gru_cell``,
``F.rnn_cell``) with the layer's own weights, and a zero "probe" leaf is
added to every ``h_t``: ``h_t' = h_t + p_t``. The forward values are unchanged,
and the gradient that backward leaves in ``p_t`` is exactly the total
derivative ``∂L/∂h_t``, through every later step (for an LSTM, with ``c_t``
held fixed: the cell state's own path is the one the forget gate protects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn import functional as F
from numrnn.autograd.grad_mode import enable_grad
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.functional.recurrent import RecurrentStep
from numrnn.nn.cells import GRUCell, LSTMCell, RNNCell
from numrnn.nn.parameter_checks import cell_specs, check_parameters, layer_specs
from numrnn.nn.rnn_base import RNNBase

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    import numpy.typing as npt

    from numrnn.nn.module import Module
    from numrnn.typing import TensorLike


def hidden_gradient_norms(layer: Module, x: TensorLike, loss_fn: Callable[..., Any],
                          hx: TensorLike | None = None, *,
                          per_row: bool = False) -> npt.NDArray[np.float64]:
    """``‖∂L/∂h_t‖`` for every step ``t`` of every layer and direction.

    Parameters
    ----------
    layer : nn.RNN, nn.LSTM, nn.GRU (stacked, bidirectional, batch_first all
        fine) or nn.RNNCell, nn.LSTMCell, nn.GRUCell
    x : ndarray or Tensor
        The input in the layer's layout: (T, B, I), (B, T, I) with
        ``batch_first``; a cell takes (T, B, I).
    loss_fn : callable ``loss_fn(output) -> Tensor``
        A scalar loss of the output the layer would return for ``x``
        ((T, B, D*H), in its layout). Parameters it uses itself (a readout)
        accumulate ``.grad`` as in any backward; the layer's do not.
    hx : optional
        Initial state as the layer takes it: ``h_0``, or ``(h_0, c_0)`` for an
        LSTM; None means zeros.
    per_row : bool, default False
        Norms per batch row instead of over the whole batch.

    Returns
    -------
    ndarray of float64, (num_layers * num_directions, T), or with ``per_row``
    (num_layers * num_directions, T, B). Row ``k = layer * D + direction``, as
    in ``h_n``; a cell gives one row. No dropout is applied (between layers,
    variational or on the weights): the diagnosis is of the deterministic network.
    """
    kind, num_layers, num_directions = _describe(layer)
    dtype = layer.dtype
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    if x.dtype != dtype:
        raise DTypeError(f"hidden_gradient_norms: x must have the layer's dtype {dtype}, "
                         f"got {x.dtype}")
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ShapeError(f"hidden_gradient_norms: x must be 3-D with T, B >= 1, "
                         f"got shape {x.shape}")
    batch_first = getattr(layer, "batch_first", False)
    if batch_first:
        x = np.swapaxes(x, 0, 1)
    steps, batch = x.shape[:2]
    # The states' sizes as the cell table gives them: a projected LSTM's h (and so its
    # probes and outputs) has proj_size features, its c hidden_size.
    sizes = kind.state_sizes(layer.hidden_size, kind.options_of(layer))
    initial = _initial_states(kind, hx, num_layers * num_directions, batch, sizes, dtype,
                              is_cell=not isinstance(layer, RNNBase))

    # Every layer's weights, checked before the first step runs.
    weights = [[_weights(layer, layer_index, direction) for direction in range(num_directions)]
               for layer_index in range(num_layers)]
    probes = np.empty((num_layers * num_directions, steps), dtype=object)
    with enable_grad():
        layer_input = [Tensor(x[t]) for t in range(steps)]
        for layer_index in range(num_layers):
            directions = []
            for direction in range(num_directions):
                row = layer_index * num_directions + direction
                order = range(steps - 1, -1, -1) if direction == 1 else range(steps)
                state = initial[row]
                hidden: list[Any] = [None] * steps
                for t in order:
                    new_state = _cell_step(layer, kind, layer_input[t], state,
                                           weights[layer_index][direction])
                    probe = Tensor(np.zeros((batch, sizes[0]), dtype=dtype),
                                   requires_grad=True)
                    probes[row, t] = probe
                    hidden[t] = new_state[0] + probe
                    state = (hidden[t],) + new_state[1:]
                directions.append(hidden)
            layer_input = directions[0] if num_directions == 1 else \
                [F.concatenate([forward, backward], axis=1)
                 for forward, backward in zip(*directions)]
        output = F.stack(layer_input, axis=1 if batch_first else 0)
        loss = loss_fn(output)
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise ShapeError("hidden_gradient_norms: loss_fn(output) must return a one-element "
                             "Tensor")
        loss.backward()

    shape = probes.shape + ((batch,) if per_row else ())
    norms = np.zeros(shape, dtype=np.float64)
    for index, probe in np.ndenumerate(probes):
        # A step the loss does not depend on gets no gradient at all: its norm is 0.
        if probe.grad is not None:
            grad = probe.grad.astype(np.float64)
            norms[index] = np.sqrt((grad * grad).sum(axis=1)) if per_row \
                else np.sqrt((grad * grad).sum())
    return norms


def _describe(layer):
    """(kind, num_layers, num_directions) of a supported layer or cell."""
    if isinstance(layer, RNNBase):
        return layer.kind, layer.num_layers, layer.num_directions
    for cell_class in (RNNCell, LSTMCell, GRUCell):
        if isinstance(layer, cell_class):
            return cell_class.kind, 1, 1
    raise ArgumentTypeError(f"hidden_gradient_norms: layer must be an nn.RNN/LSTM/GRU or one of "
                            f"their cells, got {type(layer).__name__}")


def _weights(layer, layer_index, direction):
    """The weights, checked against the layer's declared shapes, as constant Tensors:
    the layer's parameters get no gradient from us."""
    specs = layer_specs(layer, layer_index, direction) if isinstance(layer, RNNBase) \
        else cell_specs(layer)
    return [None if array is None else Tensor(array)
            for array in check_parameters(layer, specs)]


def _cell_step(layer, kind, x, state, weights):
    new = RecurrentStep.apply(x, *state, *weights, kind=kind, options=kind.options_of(layer))
    return new if isinstance(new, tuple) else (new,)


def _initial_states(kind, hx, rows, batch, sizes, dtype, is_cell):
    """Per (layer, direction) row, the initial state tuple: (h,) or (h, c), as constants;
    ``sizes`` holds each state's features."""
    count = len(kind.states)
    if hx is None:
        return [tuple(Tensor(np.zeros((batch, size), dtype=dtype)) for size in sizes)] * rows
    parts = tuple(hx) if count > 1 else (hx,)
    if len(parts) != count:
        raise ArgumentError(f"hidden_gradient_norms: an {kind.name} state is "
                            f"({', '.join(f'{state}_0' for state in kind.states)}), "
                            f"got {len(parts)} tensors")
    arrays = []
    for state, part, size in zip(kind.states, parts, sizes):
        expected = (batch, size) if is_cell else (rows, batch, size)
        array = part.data if isinstance(part, Tensor) else np.asarray(part)
        if array.shape != expected or array.dtype != dtype:
            raise ShapeError(f"hidden_gradient_norms: the initial {state} must be {expected} "
                             f"{dtype}, got {array.shape} {array.dtype}")
        arrays.append(array.reshape(rows, batch, size))
    return [tuple(Tensor(array[row]) for array in arrays) for row in range(rows)]
