"""The products after a backward loop, in one parallel region, against one matmul each."""

import itertools

import numpy as np
import pytest

from numrnn.kernels import gradient_products as products
from numrnn.kernels.gemm import matmul
from numrnn.kernels.plan import chunk_size, weight_gradient_chunks, weight_gradient_ranges

# (positions, I, G·H, H): chunks of matmul only (small), grouped ranges of
# weight_gradient_chunks (the LSTM's "small" and "medium"), and sizes that do
# not divide into whole chunks.
SHAPES = [(7, 5, 24, 6), (400, 64, 512, 128), (1600, 64, 512, 128), (6400, 256, 1024, 256),
          (1290, 33, 260, 65), (3000, 100, 1030, 40), (0, 4, 16, 4), (30, 0, 16, 4),
          (6400, 2, 256, 64)]


def _operands(positions, n_in, gate_rows, hidden, dtype):
    rng = np.random.default_rng(positions + n_in + gate_rows)
    return (rng.standard_normal((positions, gate_rows)).astype(dtype),
            rng.standard_normal((gate_rows, n_in)).astype(dtype),
            rng.standard_normal((positions, n_in)).astype(dtype),
            rng.standard_normal((positions, hidden)).astype(dtype))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_same_bits_as_one_matmul_per_product(shape, dtype):
    grads, weight_ih, inputs, states = _operands(*shape, dtype)
    got = products.gradient_products(grads, weight_ih, inputs, states, (True,) * 3)
    expected = (matmul(grads, weight_ih), matmul(grads.T, inputs), matmul(grads.T, states))
    for result, reference in zip(got, expected):
        assert result.dtype == dtype
        np.testing.assert_array_equal(result, reference)


@pytest.mark.parametrize("shape", [(400, 64, 512, 128), (1290, 33, 260, 65), (7, 5, 24, 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_recurrent_weight_gradient_reads_its_own_gradients_when_given(shape, dtype):
    # The layer-normalised LSTM: dW_hh = dRᵀ h_prev, while dx and dW_ih come from dP.
    grads, weight_ih, inputs, states = _operands(*shape, dtype)
    recurrent = np.random.default_rng(7).standard_normal(grads.shape).astype(dtype)
    got = products.gradient_products(grads, weight_ih, inputs, states, (True,) * 3,
                                     recurrent_grads=recurrent)
    expected = (matmul(grads, weight_ih), matmul(grads.T, inputs), matmul(recurrent.T, states))
    for result, reference in zip(got, expected):
        np.testing.assert_array_equal(result, reference)


@pytest.mark.parametrize("wants", list(itertools.product((False, True), repeat=3)))
def test_only_what_is_wanted_is_computed(wants):
    grads, weight_ih, inputs, states = _operands(1600, 64, 512, 128, np.float32)
    got = products.gradient_products(grads, weight_ih, inputs, states, wants)
    expected = (grads @ weight_ih, grads.T @ inputs, grads.T @ states)
    for want, result, reference in zip(wants, got, expected):
        if want:
            np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-3)
        else:
            assert result is None


@pytest.mark.parametrize("shape", SHAPES + [(1, 3, 8, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wants", [(False, False, False), (True, True, True)])
def test_the_bias_gradient_has_the_bits_of_numpys_sum(shape, dtype, wants):
    grads, weight_ih, inputs, states = _operands(*shape, dtype)
    bias = np.full(grads.shape[1], np.nan, dtype)
    products.gradient_products(grads, weight_ih, inputs, states, wants, bias=bias)
    assert bias.tobytes() == grads.sum(axis=0).tobytes()


def test_a_bias_gradient_of_negative_zeros_is_positive_zero_as_numpys():
    # NumPy's sum starts from +0.0: -0.0 + -0.0 + ... from there is +0.0. An LSTM gets
    # such columns (a zero upstream gradient times a negative gate).
    grads, weight_ih, inputs, states = _operands(40, 3, 16, 4, np.float32)
    grads[...] = -0.0
    bias = np.full(grads.shape[1], np.nan, np.float32)
    products.gradient_products(grads, weight_ih, inputs, states, (True, True, True), bias=bias)
    assert not np.signbit(bias).any()
    assert bias.tobytes() == grads.sum(axis=0).tobytes()


def test_the_bias_gradient_has_the_same_bits_for_any_thread_count(
        same_bits_for_any_thread_count):
    grads, weight_ih, inputs, states = _operands(6400, 2, 256, 64, np.float32)

    def step():
        bias = np.empty(256, np.float32)
        return products.gradient_products(grads, weight_ih, inputs, states, (False, True, True),
                                          bias=bias)[1:] + (bias,)

    same_bits_for_any_thread_count(step)
    assert step()[2].tobytes() == grads.sum(axis=0).tobytes()


def test_a_weight_that_blas_cannot_read_in_place_is_copied():
    grads, weight_ih, inputs, states = _operands(400, 64, 512, 128, np.float32)
    every_other = np.repeat(weight_ih, 2, axis=1)[:, ::2]
    got = products.gradient_products(grads, every_other, inputs, states,
                                     (True, False, False))[0]
    np.testing.assert_array_equal(got, matmul(grads, weight_ih))


def test_the_same_bits_for_any_thread_count(same_bits_for_any_thread_count):
    grads, weight_ih, inputs, states = _operands(6400, 256, 1024, 256, np.float32)
    same_bits_for_any_thread_count(
        lambda: products.gradient_products(grads, weight_ih, inputs, states, (True,) * 3))


@pytest.mark.parametrize("rows, depth, width, expected", [
    # "small": one 512-row range would leave one thread the whole of a gradient.
    (512, 1600, 64, [(0, 256), (256, 512)]),
    # "medium" and "large": weight_gradient_chunks' own 512-row ranges.
    (1024, 6400, 256, [(0, 512), (512, 1024)]),
    (2048, 6400, 512, [(0, 512), (512, 1024), (1024, 1536), (1536, 2048)]),
    # Too small to group: matmul's chunks.
    (512, 400, 64, [(first, first + 64) for first in range(0, 512, 64)]),
])
def test_each_weight_gradient_gets_at_least_two_ranges_of_whole_chunks(rows, depth, width,
                                                                      expected):
    ranges = weight_gradient_ranges(rows, depth, width, np.float32)
    assert ranges == expected
    size = chunk_size(rows)
    assert all(first % size == 0 for first, _ in ranges)
    # float64 keeps matmul's chunks: grouping its rows changed dgemm's bits.
    assert weight_gradient_ranges(rows, depth, width, np.float64) == [
        (first, min(first + size, rows)) for first in range(0, rows, size)]


def test_float64_weight_gradients_have_the_same_bits_for_any_thread_count(
        same_bits_for_any_thread_count):
    # Ranges made per thread count gave dW_ih other bits on 1, 2 and 4 threads here.
    grads, weight_ih, inputs, states = _operands(2800, 300, 800, 200, np.float64)

    def step():
        return products.gradient_products(grads, weight_ih, inputs, states, (True,) * 3)

    same_bits_for_any_thread_count(step)
    expected = (matmul(grads, weight_ih), matmul(grads.T, inputs), matmul(grads.T, states))
    for got, reference in zip(step(), expected):
        np.testing.assert_array_equal(got, reference)


def test_each_half_of_the_task_table_has_about_half_the_work():
    # numba gives each of two threads one half of a prange's iterations.
    table = products._task_table(1600, 64, 512, 128, True, True, True, np.float32, 2)
    # dW_hh's two ranges (128 columns), dW_ih's two (64), dx's eight 200-row chunks.
    assert table[:6, 0].tolist() == [2, 1, 0, 0, 0, 0]
    assert table[6:, 0].tolist() == [2, 1, 0, 0, 0, 0]
    table = products._task_table(400, 64, 512, 128, False, True, True, np.float32, 2)
    assert table[:8, 0].tolist() == [2] * 4 + [1] * 4 == table[8:, 0].tolist()
    assert not table.flags.writeable


def test_each_weight_gradient_is_grouped_by_its_own_width():
    # The adding problem (I = 2, H = 64, T·B = 6400): dW_ih's chunks are too small
    # to group, dW_hh's are not. Grouped by the narrower width, dW_hh took four
    # 64-row chunks, each repacking the whole 6400-deep h.
    table = products._task_table(6400, 2, 256, 64, False, True, True, np.float32, 2)

    def ranges(what):
        return sorted((first, stop) for task, first, stop in table.tolist() if task == what)

    assert ranges(products._STATE_WEIGHT) == [(0, 128), (128, 256)]
    assert ranges(products._INPUT_WEIGHT) == [(0, 64), (64, 128), (128, 192), (192, 256)]


def _work(task, positions, n_in, hidden):
    what, first, stop = task
    widths = {products._INPUT: n_in, products._INPUT_WEIGHT: positions,
              products._STATE_WEIGHT: positions, products._NOTHING: 0}
    depth = {products._INPUT: 512, products._INPUT_WEIGHT: n_in,
             products._STATE_WEIGHT: hidden, products._NOTHING: 0}
    return (stop - first) * widths[what] * depth[what]


@pytest.mark.parametrize("threads", [1, 2, 3, 4, 8])
def test_every_thread_gets_an_equal_share_of_tasks_and_about_equal_work(threads):
    # With shares made for two threads, four threads left two of them only dx chunks.
    positions, n_in, hidden = 1600, 64, 128
    table = products._task_table(positions, n_in, 512, hidden, True, True, True, np.float32,
                                 threads)
    assert table.shape[0] % threads == 0
    shares = table.reshape(threads, -1, 3)
    work = [sum(_work(task, positions, n_in, hidden) for task in share) for share in shares]
    # The weight gradients' ranges follow the shapes only (their bits must not depend
    # on the thread count), two per gradient here: past four threads one range alone
    # outweighs an even share, and no share holds more than it needs to.
    largest = max(_work(task, positions, n_in, hidden) for task in table.tolist())
    assert max(work) <= max(1.25 * (sum(work) / threads), largest)
    # Every product is computed once, whole: the non-padding tasks tile each one.
    for what, rows in ((products._INPUT, positions), (products._INPUT_WEIGHT, 512),
                       (products._STATE_WEIGHT, 512)):
        ranges = sorted((first, stop) for kind, first, stop in table.tolist() if kind == what)
        assert ranges[0][0] == 0 and ranges[-1][1] == rows
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


def test_weight_gradient_chunks_take_a_smaller_range_where_asked():
    assert weight_gradient_chunks(512, 1600, 64, 256).tolist() == [[0, 256], [256, 512]]
    assert weight_gradient_chunks(512, 1600, 64).tolist() == [[0, 512]]
