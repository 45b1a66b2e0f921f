"""The recurrent stack: every layer and direction of an RNN, LSTM or GRU as one tape op.

:class:`RecurrentStack` is the one layer loop of the library. Its forward runs
all layers and directions on arrays, through the kernels of the layer's cell
kind (:mod:`numrnn.functional.cell_kinds`); its backward runs them in reverse.
The same op serves inference and training: when no gradient can flow it runs
the inference kernels, keeps nothing and records nothing; when one can, each
layer keeps its residuals and dropout mask only if a gradient reaches it (a
layer below every input that needs one is run for inference).

Layout: the input and states come and go in the caller's layout (batch first
or time first, batched or not); inside, the kernels see time-major
``(T, B, features)`` arrays. Directions are given as their ``reverse`` flags:
``(False,)`` forward only, ``(False, True)`` bidirectional; a reverse direction
runs each row backwards over its own valid steps, as PyTorch does with a packed
sequence. Layer ``k > 0`` reads the concatenated outputs of layer ``k - 1``'s
directions, through inverted dropout when ``dropout > 0`` (masks drawn from the
layer's generator as :func:`numrnn.functional.dropout` draws them).

States may differ in size: an LSTM with ``proj_size`` P has ``h`` (and each
direction's output) of P features and ``c`` of H (``spec.state_sizes``). With
``spec.cell_states`` the op also outputs the last layer's ``c`` at every step,
``(T, B, D * H)``, zeros past each row's length: the residual its training
kernel keeps anyway (that layer runs it on the inference path too), and its
gradient enters the backward kernel at each step.

With ``spec.masks`` (:class:`numrnn.nn.variational_dropout.VariationalMasks`),
each layer and direction runs with its own variational dropout masks: its
input times its input mask (B, width), the same at every step, and its
recurrent mask (B, size of h) passed to the kernels, which apply it to
``h_{t-1}`` before the recurrent product and to the gradient through it.

The caller (:class:`numrnn.nn.RNNBase`) has validated everything: the kernels
trust their inputs.
"""

from typing import NamedTuple

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.dropout import scaled_dropout_mask

__all__ = ["RecurrentStack", "StackSpec"]


class StackSpec(NamedTuple):
    """What a stack computes, besides its arrays: the static argument of the op."""

    kind: object          # a numrnn.functional.cell_kinds.CellKind
    options: dict         # the kind's options, e.g. {"nonlinearity": "tanh"}
    cell_parameters: int  # parameters per layer and direction (kind.parameter_count)
    num_layers: int
    directions: tuple     # one reverse flag per direction
    hidden_size: int
    lengths: object       # (B,) int64, validated, or None for every row's full length
    dropout: float        # between layers; 0 for none (or not training)
    rng: object           # numpy Generator of the dropout masks
    batch_first: bool
    batched: bool         # False: input (T, I), states (L * D, H)
    state_sizes: tuple    # of each state, h first (kind.state_sizes); h's is the output's
    cell_states: bool     # also output the last layer's c at every step (a kind with c)
    zero_states: dict | None = None  # zero initial states kept for inference (_zero_states)
    masks: object = None  # VariationalMasks, or None for no variational dropout


def _to_time_major(x, spec):
    if not spec.batched:
        return x.reshape(x.shape[0], 1, x.shape[1])
    return x.transpose(1, 0, 2) if spec.batch_first else x


def _from_time_major(x, spec):
    if not spec.batched:
        return x.reshape(x.shape[0], x.shape[2])
    return x.transpose(1, 0, 2) if spec.batch_first else x


# Batches of up to this many rows keep their zero initial states (_zero_states).
CACHED_ZERO_ROWS = 16


def _zero_states(spec, batch, dtype):
    """Zero initial states for :meth:`RecurrentStack.infer`, one (B, S) array per state.

    Kept in ``spec.zero_states`` (when the spec has that dict) for batches of up
    to :data:`CACHED_ZERO_ROWS` rows and shared by every call, layer, direction
    and thread: the forward kernels copy their initial states and never write
    them, and making fresh ones cost ~1 µs of a small call (LSTM(8, 16), B = 1,
    T = 5). Larger batches get fresh ones, so the cache stays small.
    """
    cache = spec.zero_states
    key = (batch, dtype)
    zeros = None if cache is None else cache.get(key)
    if zeros is None:
        zeros = tuple([np.zeros((batch, size), dtype) for size in spec.state_sizes])
        if cache is not None and batch <= CACHED_ZERO_ROWS:
            cache[key] = zeros
    return zeros


def _initial_states(initial, index, sizes, batch, dtype):
    """Layer and direction ``index``'s initial states from the stacked ``initial``
    (one array, or None for zeros, per state), as the kernels take them."""
    return tuple([np.zeros((batch, size), dtype) if state is None else state[index]
                  for state, size in zip(initial, sizes)])


def _time_major_states(initial, sizes):
    """Unbatched initial states (L * D, S) as batches of one row, (L * D, 1, S)."""
    return [None if state is None else state.reshape(-1, 1, size)
            for state, size in zip(initial, sizes)]


def _outputs(output, finals, spec):
    """``[output, *final_states]`` in the caller's layout, from the last layer's
    time-major output and each layer's and direction's tuple of final states."""
    # One layer and direction: views, not stacked copies (~10 µs at small sizes),
    # appended in a loop (a comprehension is one more call: ~0.2 µs of a small call).
    if len(finals) == 1:
        outputs = [output]
        for state in finals[0]:
            outputs.append(state[None])
    else:
        outputs = [output, *[np.stack(layers) for layers in zip(*finals)]]
    if spec.batch_first or not spec.batched:
        outputs[0] = _from_time_major(output, spec)
    if not spec.batched:
        outputs[1:] = [state.reshape(state.shape[0], size)
                       for state, size in zip(outputs[1:], spec.state_sizes)]
    return outputs


def _layers_on_the_path(spec, needs):
    """Per layer, whether a gradient flows through it: the input, an initial state or
    a weight of it or of a layer below needs one."""
    if not any(needs):
        return (False,) * spec.num_layers
    count = len(spec.kind.states)
    directions = len(spec.directions)
    need_below = any(needs[:1 + count])
    weight_needs = needs[1 + count:]
    per_layer = directions * spec.cell_parameters
    on_path = []
    for layer in range(spec.num_layers):
        first = layer * per_layer
        need_below = need_below or any(weight_needs[first:first + per_layer])
        on_path.append(need_below)
    return on_path


def _masks_of(spec):
    """Per layer and direction, the input and the recurrent mask (None: none)."""
    if spec.masks is None:
        count = spec.num_layers * len(spec.directions)
        return (None,) * count, (None,) * count
    return spec.masks.inputs, spec.masks.recurrent


class RecurrentStack(Function):
    """All layers and directions of a recurrent layer; see the module docstring.

    Inputs: ``x``, then one initial state per state of the kind (``(L * D, B, S)``
    with S its size in ``spec.state_sizes``, or None for zeros), then for each
    layer and direction (direction fastest) its ``spec.cell_parameters``
    parameters in the kind's order, ``weight_ih, weight_hh, bias_ih, bias_hh``
    first (biases may be None). Static: ``spec``, a :class:`StackSpec`.
    Outputs: ``(output, *final_states)``, the output ``(T, B, D * P)`` (P the
    size of h) and each final state ``(L * D, B, S)``, in the caller's layout;
    then, with ``spec.cell_states``, the last layer's per-step
    cell states ``(T, B, D * H)``.
    """

    # The layers validated every array's dtype before the call.
    check_input_dtypes = False

    @staticmethod
    def forward(ctx, x, *arrays, spec):
        count = len(spec.state_sizes)
        on_path = _layers_on_the_path(spec, ctx.needs_input_grad)
        if not spec.cell_states and True not in on_path:
            initial = arrays[:count]
            if all(state is None for state in initial):
                initial = None
            return tuple(RecurrentStack.infer(x, initial, arrays[count:], spec))
        kind, sizes, per_cell = spec.kind, spec.state_sizes, spec.cell_parameters
        initial, directions, last = arrays[:count], spec.directions, spec.num_layers - 1
        x = _to_time_major(x, spec)
        batch, dtype = x.shape[1], x.dtype
        if not spec.batched:
            initial = _time_major_states(initial, sizes)
        records = []
        finals = []  # each layer's and direction's final states, in the states' order
        cells = []   # with spec.cell_states, the last layer's c per step, per direction
        # Contiguous once here, so that what is saved for backward is what the kernel
        # read (the kernels' driver makes the rest of the arrays ready).
        layer_input = np.ascontiguousarray(x)
        input_masks, recurrent_masks = _masks_of(spec)
        for layer in range(spec.num_layers):
            mask = None
            if layer > 0 and spec.dropout > 0:
                mask = scaled_dropout_mask(layer_input.shape, layer_input.dtype, spec.dropout,
                                           spec.rng)
                layer_input = layer_input * mask
            taped, keeps_cells = on_path[layer], spec.cell_states and layer == last
            outputs, saved = [], []
            for direction, reverse in enumerate(directions):
                index = layer * len(directions) + direction
                states = tuple([np.zeros((batch, size), dtype) if state is None
                                else state[index] for state, size in zip(initial, sizes)])
                first = count + index * per_cell
                cell_weights = arrays[first:first + per_cell]
                input_mask, recurrent_mask = input_masks[index], recurrent_masks[index]
                # The input mask is the same at every step, so it multiplies the whole
                # input once here, before the kernel's one input product, rather than
                # x_t inside the step loop.
                direction_input = layer_input if input_mask is None \
                    else layer_input * input_mask[None]
                if taped or keeps_cells:
                    output, final, residuals = kind.forward_train(
                        direction_input, states, cell_weights, spec.lengths, reverse,
                        spec.options, recurrent_mask)
                    if taped:
                        saved.append((direction_input, input_mask, recurrent_mask, states,
                                      cell_weights, residuals))
                    if keeps_cells:
                        cells.append(kind.cell_states(residuals, spec.options))
                else:
                    output, final = kind.forward_infer(direction_input, states, cell_weights,
                                                       spec.lengths, reverse, spec.options,
                                                       recurrent_mask)
                outputs.append(output)
                finals.append(final)
            records.append((mask, saved) if taped else None)
            layer_input = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
        if True in on_path:
            ctx.save(spec, records, on_path)
        outputs = _outputs(layer_input, finals, spec)
        if spec.cell_states:
            cells = cells[0] if len(cells) == 1 else np.concatenate(cells, axis=2)
            outputs.append(_from_time_major(cells, spec))
        return tuple(outputs)

    @staticmethod
    def infer(x, initial, weights, spec):
        """:meth:`forward` where no gradient can flow, on arrays and without the tape.

        ``initial`` is None for zero initial states, or holds one array (or None
        for zeros) per state; ``weights`` holds the weights' arrays, in the op's
        order; ``spec.cell_states`` must be False. Returns the list ``[output,
        *final_states]`` of what :meth:`forward` returns. The layers call it
        directly under ``no_grad``: at small sizes the tape op's bookkeeping
        (``Function.apply``, the paths, the records) cost more than the kernel,
        so this loop does only what inference needs.
        """
        sizes, per_cell, directions = spec.state_sizes, spec.cell_parameters, spec.directions
        lengths, options, masks = spec.lengths, spec.options, spec.masks
        # The kernels' entry itself rather than CellKind.forward_infer: one call less,
        # still read from the record at each call.
        forward_infer = spec.kind.forward_kernels.forward_infer
        if spec.batch_first or not spec.batched:
            x = _to_time_major(x, spec)
            if not spec.batched and initial is not None:
                initial = _time_major_states(initial, sizes)
        batch, dtype = x.shape[1], x.dtype
        zeros = _zero_states(spec, batch, dtype) if initial is None else None
        if spec.num_layers == 1 and len(directions) == 1 and masks is None:
            # The usual small layer, without the loop's bookkeeping (~0.9 µs of a
            # 15 µs call); the loop below computes the same.
            states = zeros or _initial_states(initial, 0, sizes, batch, dtype)
            output, final = forward_infer(x, states, weights, lengths, directions[0], options)
            return _outputs(output, (final,), spec)
        finals = []
        layer_input = x
        for layer in range(spec.num_layers):
            if layer > 0 and spec.dropout > 0:
                layer_input = layer_input * scaled_dropout_mask(
                    layer_input.shape, layer_input.dtype, spec.dropout, spec.rng)
            outputs = []
            for reverse in directions:
                index = len(finals)
                states = zeros or _initial_states(initial, index, sizes, batch, dtype)
                cell_weights = weights[index * per_cell:(index + 1) * per_cell]
                if masks is None:
                    output, final = forward_infer(layer_input, states, cell_weights, lengths,
                                                  reverse, options)
                else:
                    input_mask = masks.inputs[index]
                    direction_input = layer_input if input_mask is None \
                        else layer_input * input_mask[None]
                    output, final = forward_infer(direction_input, states, cell_weights,
                                                  lengths, reverse, options,
                                                  masks.recurrent[index])
                outputs.append(output)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
        return _outputs(layer_input, finals, spec)

    @staticmethod
    def backward(ctx, grad_output, *grad_finals):
        spec, records, on_path = ctx.saved
        kind, sizes, hidden = spec.kind, spec.state_sizes, spec.hidden_size
        width = sizes[0]  # of each direction's output: h's size
        count = len(kind.states)
        directions = len(spec.directions)
        needs = ctx.needs_input_grad
        need_states, need_weights = needs[1:1 + count], needs[1 + count:]
        # The input the first layer on the path saved for its first direction.
        _, lowest_saved = records[on_path.index(True)]
        batch = lowest_saved[0][0].shape[1]
        grad = np.ascontiguousarray(_to_time_major(grad_output, spec))
        grad_cells = None
        if spec.cell_states:
            *grad_finals, grad_cells = grad_finals
            grad_cells = np.ascontiguousarray(_to_time_major(grad_cells, spec))
        grad_finals = [grad.reshape(-1, batch, size) for grad, size in zip(grad_finals, sizes)]
        grad_states = [np.empty_like(grad) if need else None
                       for grad, need in zip(grad_finals, need_states)]
        grad_weights = [None] * len(need_weights)
        grad_x = None
        for layer in range(spec.num_layers - 1, -1, -1):
            if not on_path[layer]:
                break
            mask, saved = records[layer]
            # The input's gradient is wanted where something below needs one.
            need_input = on_path[layer - 1] if layer > 0 else needs[0]
            grad_input = None
            for direction, reverse in enumerate(spec.directions):
                index = layer * directions + direction
                first, last = index * spec.cell_parameters, (index + 1) * spec.cell_parameters
                direction_input, input_mask, recurrent_mask, states, cell_weights, residuals = \
                    saved[direction]
                cell_needs = (need_input, *need_states, *need_weights[first:last])
                cell_grads = None
                if grad_cells is not None and layer == spec.num_layers - 1:
                    cell_grads = grad_cells[:, :, direction * hidden:(direction + 1) * hidden]
                grads = kind.backward(grad[:, :, direction * width:(direction + 1) * width],
                                      tuple(grad[index] for grad in grad_finals),
                                      direction_input, states, cell_weights, residuals,
                                      spec.lengths, reverse, spec.options, cell_needs,
                                      grad_cells=cell_grads, recurrent_mask=recurrent_mask)
                if need_input:
                    grad_direction = grads[0] if input_mask is None \
                        else grads[0] * input_mask[None]
                    grad_input = grad_direction if grad_input is None \
                        else grad_input + grad_direction
                for collected, state_grad in zip(grad_states, grads[1:1 + count]):
                    if collected is not None:
                        collected[index] = state_grad
                grad_weights[first:last] = grads[1 + count:]
            if layer == 0:
                grad_x = grad_input
            elif need_input:
                grad = grad_input if mask is None else grad_input * mask
        if grad_x is not None:
            grad_x = _from_time_major(grad_x, spec)
        if not spec.batched:
            grad_states = [None if grad is None else grad.reshape(grad.shape[0], size)
                           for grad, size in zip(grad_states, sizes)]
        return (grad_x, *grad_states, *grad_weights)
