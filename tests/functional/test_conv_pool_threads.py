"""conv1d and the 1-D pools give bit-identical outputs and gradients for any thread count."""

import numba
import numpy as np
import pytest

import numrnn
from numrnn import functional as F


def _conv_step(dtype, groups):
    # 40 rows of 30 output steps: 1200 GEMM rows, split into several chunks.
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((40, 12, 61)), rng.standard_normal((18, 12 // groups, 5)),
              rng.standard_normal(18)]
    x, weight, bias = [numrnn.Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    lengths = rng.integers(5, 62, 40)
    y = F.conv1d(x, weight, bias, stride=2, padding=2, groups=groups, lengths=lengths)
    y.backward(np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype))
    return [y.data, x.grad, weight.grad, bias.grad]


def _pool_step(dtype, pool, **options):
    rng = np.random.default_rng(5)
    x = numrnn.Tensor(rng.standard_normal((40, 12, 61)).astype(dtype), requires_grad=True)
    y = pool(x, 4, 3, 2, lengths=rng.integers(3, 62, 40), **options)
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
@pytest.mark.parametrize("case", ["conv", "conv-groups", "max", "avg"])
def test_forward_and_backward_are_bit_identical_for_any_thread_count(case, dtype):
    steps = {"conv": lambda: _conv_step(dtype, 1),
             "conv-groups": lambda: _conv_step(dtype, 3),
             "max": lambda: _pool_step(dtype, F.max_pool1d),
             "avg": lambda: _pool_step(dtype, F.avg_pool1d, count_include_pad=False)}
    results = _under_thread_counts(steps[case])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
