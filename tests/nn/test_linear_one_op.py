"""Linear records one tape op whose results are the five primitives' bits."""

import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn import nn


def _primitive_linear(x, weight, bias):
    # What Linear.forward recorded before it became one op.
    leading = x.shape[:-1]
    rows = F.reshape(x, (int(np.prod(leading)), x.shape[-1]))
    y = F.matmul(rows, F.transpose(weight))
    if bias is not None:
        y = y + bias
    return F.reshape(y, leading + (weight.shape[0],))


def _nodes_behind(tensor):
    nodes, stack = set(), [tensor._node]
    while stack:
        node = stack.pop()
        if node is None or id(node) in nodes:
            continue
        nodes.add(id(node))
        stack.extend(x._node for x in node.inputs if isinstance(x, numrnn.Tensor))
    return len(nodes)


def test_linear_records_one_op():
    layer = nn.Linear(8, 3, rng=0)
    x = numrnn.Tensor(np.ones((2, 5, 8), np.float32), requires_grad=True)
    assert _nodes_behind(layer(x)) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("leading, n_in, n_out", [((64,), 64, 1), ((7, 5), 16, 9), ((), 4, 3),
                                                  ((3,), 1, 6)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("input_grad", [True, False])
def test_linear_output_and_gradients_are_the_primitives_bits(dtype, leading, n_in, n_out,
                                                             bias, input_grad):
    rng = np.random.default_rng(3)
    layer = nn.Linear(n_in, n_out, bias=bias, dtype=dtype, rng=1)
    data = rng.standard_normal(leading + (n_in,)).astype(dtype)
    seed = rng.standard_normal(leading + (n_out,)).astype(dtype)
    results = []
    for run in (layer, lambda x: _primitive_linear(x, layer.weight, layer.bias)):
        for param in layer.parameters():
            param.grad = None
        x = numrnn.Tensor(data, requires_grad=input_grad)
        y = run(x)
        y.backward(seed)
        results.append([y.data, x.grad] + [param.grad for param in layer.parameters()])
    for fused, primitive in zip(*results):
        if primitive is None:
            assert fused is None
        else:
            assert fused.shape == primitive.shape
            assert fused.tobytes() == np.ascontiguousarray(primitive).tobytes()
