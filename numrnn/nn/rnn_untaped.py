"""RNN, LSTM and GRU layers and cells run without the tape, for calls that need no gradient.

Under ``no_grad``, or when neither the input, the initial states nor any weight
requires a gradient, the tape records nothing, and the tape ops around the
fused kernels (unwrapping arguments, wrapping results, reshapes, transposes,
stacking the final states) only cost time: about 150 µs of a 214 µs
``nn.LSTM(32, 64)`` call on 50 steps of one row, three times the recurrence
itself. :func:`run_untaped` is the layer loop of ``RNNBase._run_taped`` on
plain arrays. It gets everything already validated by the layer or cell
(input, states, lengths, and every weight against the shape the module declared,
:mod:`numrnn.nn.parameter_checks`), by the same code that validates for the
taped path, and calls the same inference kernels with the same arguments in the
same order, so its results are bit-identical to the taped path's (tested in
``tests/nn/test_rnn_untaped.py`` and
``tests/nn/test_paths_accept_the_same_inputs.py``).
"""

import numpy as np

from numrnn import functional as F
from numrnn.autograd.tensor import Tensor
from numrnn.nn.parameter_checks import kernel_ready


def run_untaped(module, x, batched, states, lengths, weights):
    """Run ``module`` (an ``RNNBase``) on validated arrays; returns Tensors, untracked.

    ``x`` is the input array in the caller's layout; ``states`` the initial state
    arrays in the caller's layout, None meaning zeros; ``lengths`` None or the
    checked int64 lengths; ``weights[layer][direction]`` the checked arrays of
    :func:`~numrnn.nn.parameter_checks.check_parameters`. Returns
    ``(output, [h_n] or [h_n, c_n])`` as ``_run``.
    """
    hidden, directions = module.hidden_size, module.num_directions
    if not batched:
        x = x.reshape(x.shape[0], 1, x.shape[1])
        states = [None if state is None else state.reshape(state.shape[0], 1, hidden)
                  for state in states]
    elif module.batch_first:
        x = x.transpose(1, 0, 2)
    batch = x.shape[1]
    kind, options = module.kind, module.kind.options_of(module)
    weights = [[kernel_ready(arrays) for arrays in layer] for layer in weights]

    layer_input = x
    finals = [[] for _ in states]
    for layer in range(module.num_layers):
        if layer > 0 and module.dropout > 0 and module.training:
            layer_input = F.dropout(layer_input, module.dropout, training=True,
                                    rng=module.rng).data
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            initial = [np.zeros((batch, hidden), dtype=module.dtype) if state is None
                       else state[index] for state in states]
            output, final = kind.infer(layer_input, initial, weights[layer][direction], lengths,
                                       direction == 1, options)
            outputs.append(output)
            for collected, state in zip(finals, final):
                collected.append(state)
        layer_input = outputs[0] if directions == 1 else np.concatenate(outputs, axis=2)

    output = layer_input
    # One layer and direction: a view instead of a copy, as the taped path does.
    finals = [collected[0][None] if len(collected) == 1 else np.stack(collected)
              for collected in finals]
    if not batched:
        output = output.reshape(output.shape[0], output.shape[2])
        finals = [state.reshape(state.shape[0], hidden) for state in finals]
    elif module.batch_first:
        output = output.transpose(1, 0, 2)
    return Tensor(output), [Tensor(state) for state in finals]


def run_cell_untaped(cell, x, states, weights):
    """One step of a cell (``RNNCell``, ``LSTMCell``, ``GRUCell``) on validated arrays.

    ``x`` (B, I) and ``states`` (B, H) arrays, None meaning zeros; ``weights`` the
    cell's checked arrays. Returns the new states as untracked Tensors: the
    sequence kernels with T = 1, as the taped cell ops run them.
    """
    batch = x.shape[0]
    states = [np.zeros((batch, cell.hidden_size), dtype=cell.dtype) if state is None
              else state for state in states]
    _, final = cell.kind.infer(x[None], states, kernel_ready(weights), None, False,
                               cell.kind.options_of(cell))
    return [Tensor(state) for state in final]
