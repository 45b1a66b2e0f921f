"""The GRU's products after its backward loop, in one parallel region, against one matmul each."""

import itertools

import numpy as np
import pytest

from numrnn.kernels import gru_gradient_products as products
from numrnn.kernels.gemm import matmul

# (positions, I, H): matmul's chunks only, ranges grouped by the LSTM's rule (the
# GRU's "medium" and "large" widths, fewer positions), sizes that do not divide into
# whole chunks, and float64's 75-row chunks of dW_ih by 300 columns, whose bits
# changed when grouped into ranges that followed the thread count.
SHAPES = [(7, 5, 6), (1290, 33, 65), (3200, 256, 256), (1600, 512, 512), (2800, 300, 200),
          (0, 4, 4), (30, 0, 4)]


def _operands(positions, n_in, hidden, dtype):
    rng = np.random.default_rng(positions + n_in + hidden)
    return (rng.standard_normal((positions, 3 * hidden)).astype(dtype),
            rng.standard_normal((positions, hidden)).astype(dtype),
            rng.standard_normal((3 * hidden, n_in)).astype(dtype),
            rng.standard_normal((positions, n_in)).astype(dtype),
            rng.standard_normal((positions, hidden)).astype(dtype),
            rng.standard_normal((positions, hidden)).astype(dtype))


def _one_matmul_each(grads, grad_hidden_n, weight_ih, inputs, states, n_inputs):
    """What gru_backward computed before: one gemm.matmul per product, dW_hh concatenated."""
    hidden = grads.shape[1] // 3
    n_grads = grads[:, 2 * hidden:] if grad_hidden_n is None else grad_hidden_n
    return (matmul(grads, weight_ih), matmul(grads.T, inputs),
            np.concatenate([matmul(np.ascontiguousarray(grads[:, :2 * hidden]).T, states),
                            matmul(np.ascontiguousarray(n_grads).T, n_inputs)]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset_after", [True, False])
def test_the_same_bits_as_one_matmul_per_product(shape, dtype, reset_after):
    grads, grad_hidden_n, weight_ih, inputs, states, n_inputs = _operands(*shape, dtype)
    if not reset_after:
        grad_hidden_n = None  # the n part is grads' own n columns
    got = products.gru_gradient_products(grads, grad_hidden_n, weight_ih, inputs, states,
                                         n_inputs, (True,) * 3)
    expected = _one_matmul_each(grads, grad_hidden_n, weight_ih, inputs, states, n_inputs)
    for result, reference in zip(got, expected):
        assert result.dtype == dtype
        np.testing.assert_array_equal(result, reference)


@pytest.mark.parametrize("wants", list(itertools.product((False, True), repeat=3)))
def test_only_what_is_wanted_is_computed(wants):
    grads, grad_hidden_n, weight_ih, inputs, states, n_inputs = _operands(
        1290, 33, 65, np.float64)
    got = products.gru_gradient_products(grads, grad_hidden_n, weight_ih, inputs, states,
                                         n_inputs, wants)
    expected = (grads @ weight_ih, grads.T @ inputs,
                np.vstack([grads[:, :130].T @ states, grad_hidden_n.T @ n_inputs]))
    for want, result, reference in zip(wants, got, expected):
        if want:
            np.testing.assert_allclose(result, reference, rtol=1e-12, atol=1e-9)
        else:
            assert result is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_same_bits_for_any_thread_count(same_bits_for_any_thread_count, dtype):
    operands = _operands(2800, 300, 200, dtype)
    same_bits_for_any_thread_count(
        lambda: products.gru_gradient_products(*operands, (True,) * 3))
