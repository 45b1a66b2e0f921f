"""Reverse-mode sweep over the recorded graph.

The nodes reachable from the output form this computation's tape, whichever
threads recorded them; they are replayed in decreasing sequence number (the
process-wide record order of :mod:`numrnn.autograd.function`, a reverse
topological order), each ``backward`` getting the summed gradients of its
outputs. Gradients reaching a leaf that requires them are added to its
``.grad``, so a tensor used twice receives both contributions.
"""

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError, GradError, ShapeError


def backward(output, grad=None, retain_graph=False):
    """Backpropagate from ``output``; see :meth:`Tensor.backward`."""
    if not output.requires_grad:
        raise GradError(
            "backward() needs a tensor that requires grad (made from a leaf with "
            "requires_grad=True while recording), got one that does not"
        )
    seed = _seed(output, grad)
    if output.is_leaf:
        _accumulate_into_leaf(output, seed)
        return

    nodes = _reachable_nodes(output._node)
    pending = {id(node): [None] * len(node.output_specs) for node in nodes}
    pending[id(output._node)][output._output_index] = seed

    for node in nodes:
        if node.ctx.freed:
            raise GradError(
                f"backward through {node.name} a second time: its saved residuals were "
                "freed by the first backward(); pass retain_graph=True to the first call"
            )
        grad_outputs = pending.pop(id(node))
        if all(g is None for g in grad_outputs):
            continue
        grad_outputs = [
            np.zeros(shape, dtype) if g is None else g
            for g, (shape, dtype) in zip(grad_outputs, node.output_specs)
        ]
        grad_inputs = node.function.backward(node.ctx, *grad_outputs)
        grad_inputs = node.function.check_gradients(node, grad_inputs)
        for x, grad_x in zip(node.inputs, grad_inputs):
            if grad_x is None or not isinstance(x, Tensor) or not x.requires_grad:
                continue
            if x.is_leaf:
                _accumulate_into_leaf(x, grad_x)
            else:
                slots = pending[id(x._node)]
                index = x._output_index
                slots[index] = grad_x if slots[index] is None else slots[index] + grad_x

    if not retain_graph:
        for node in nodes:
            node.ctx.free()


def _seed(output, grad):
    if grad is None:
        if output.data.size != 1:
            raise GradError(
                f"backward() on a non-scalar output of shape {output.shape} needs an "
                "explicit grad of the same shape"
            )
        return np.ones(output.shape, dtype=output.dtype)
    grad = grad.data if isinstance(grad, Tensor) else grad
    if isinstance(grad, np.ndarray) and grad.dtype.kind == "f" and grad.dtype != output.dtype:
        raise DTypeError(f"backward(): grad must have dtype {output.dtype}, got {grad.dtype}")
    grad = np.asarray(grad, dtype=output.dtype)
    if grad.shape != output.shape:
        raise ShapeError(f"backward(): grad must have shape {output.shape}, got {grad.shape}")
    return grad


def _reachable_nodes(root):
    """Nodes that ``root`` depends on, latest recorded first."""
    seen = {id(root): root}
    stack = [root]
    while stack:
        node = stack.pop()
        for x in node.inputs:
            if isinstance(x, Tensor) and x._node is not None and id(x._node) not in seen:
                seen[id(x._node)] = x._node
                stack.append(x._node)
    return sorted(seen.values(), key=lambda n: n.sequence_number, reverse=True)


def _accumulate_into_leaf(leaf, grad):
    if leaf.grad is None:
        leaf.grad = np.array(grad, dtype=leaf.dtype, copy=True)
    else:
        leaf.grad = leaf.grad + grad
