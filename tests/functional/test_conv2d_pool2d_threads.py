"""conv2d and the 2-D pools give bit-identical outputs and gradients for any thread count."""

import numba
import numpy as np
import pytest

import numrnn
from numrnn import functional as F


def _conv_step(dtype, groups):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((9, 6, 13, 11)), rng.standard_normal((8, 6 // groups, 3, 3)),
              rng.standard_normal(8)]
    x, weight, bias = [numrnn.Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y = F.conv2d(x, weight, bias, stride=(2, 1), padding=1, groups=groups)
    y.backward(np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype))
    return [y.data, x.grad, weight.grad, bias.grad]


def _pool_step(dtype, pool):
    rng = np.random.default_rng(7)
    x = numrnn.Tensor(rng.standard_normal((9, 5, 13, 11)).astype(dtype), requires_grad=True)
    y = pool(x)
    y.backward(np.sin(np.arange(y.size)).reshape(y.shape).astype(dtype))
    return [y.data, x.grad]


def _under_thread_counts(step):
    previous = numrnn.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS), 1):
            numrnn.set_num_threads(threads)
            results.append(step())
    finally:
        numrnn.set_num_threads(previous)
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["conv", "conv-groups", "max", "avg", "adaptive"])
def test_forward_and_backward_are_bit_identical_for_any_thread_count(case, dtype):
    steps = {"conv": lambda: _conv_step(dtype, 1),
             "conv-groups": lambda: _conv_step(dtype, 2),
             "max": lambda: _pool_step(dtype, lambda x: F.max_pool2d(x, 3, 2, 1)),
             "avg": lambda: _pool_step(dtype, lambda x: F.avg_pool2d(
                 x, 3, 2, 1, count_include_pad=False)),
             "adaptive": lambda: _pool_step(dtype, lambda x: F.adaptive_avg_pool2d(x, (4, 3)))}
    results = _under_thread_counts(steps[case])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
