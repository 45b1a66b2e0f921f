"""Small-batch products (numrnn.kernels.matvec): loops, dot rows and GEMM agree with NumPy."""

import numba
import numpy as np
import pytest

from numrnn.kernels import packed
from numrnn.kernels.matvec import (
    COPY_FROM_STEPS,
    MAX_ROWS,
    PACK_FROM_SIZE,
    product,
    product_weight,
    recurrent_weight,
)


@numba.njit
def _product(rows, weight, out):
    product(rows, weight, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True], ids=["row-major", "transposed-view"])
def test_product_matches_numpy(dtype, transposed):
    rng = np.random.default_rng(0)
    for count in range(1, MAX_ROWS + 3):           # the loops, then GEMM
        for inner, columns in [(1, 1), (3, 5), (8, 8), (7, 13), (64, 256)]:
            rows = rng.standard_normal((count, inner)).astype(dtype)
            matrix = rng.standard_normal((columns, inner)).astype(dtype)   # PyTorch's (N, K)
            weight = matrix.T if transposed else np.ascontiguousarray(matrix.T)
            out = np.full((count, columns), np.nan, dtype=dtype)
            _product(rows, weight, out)
            tolerance = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(out, rows @ matrix.T, rtol=tolerance, atol=tolerance,
                                       err_msg=f"{count} rows, K={inner}, N={columns}")


def test_recurrent_weight_copies_only_for_long_runs_of_several_rows():
    weight_hh = np.arange(12.0).reshape(4, 3)
    short = recurrent_weight(weight_hh, COPY_FROM_STEPS - 1, batch=64)
    long = recurrent_weight(weight_hh, COPY_FROM_STEPS, batch=64)
    one_row = recurrent_weight(weight_hh, 10 * COPY_FROM_STEPS, batch=1)
    for view in (short, one_row):
        assert np.shares_memory(view, weight_hh) and view.flags.f_contiguous
    assert not np.shares_memory(long, weight_hh) and long.flags.c_contiguous
    np.testing.assert_array_equal(short, long)
    np.testing.assert_array_equal(one_row, long)


def test_recurrent_weight_packs_large_float32_weights_for_real_batches():
    hidden = 64                                      # 4H x H reaches PACK_FROM_SIZE
    weight_hh = np.ones((4 * hidden, hidden), dtype=np.float32)
    assert weight_hh.size >= PACK_FROM_SIZE
    assert recurrent_weight(weight_hh, COPY_FROM_STEPS, batch=MAX_ROWS + 1).ndim == 3
    assert recurrent_weight(weight_hh, COPY_FROM_STEPS, batch=MAX_ROWS).ndim == 2
    assert recurrent_weight(weight_hh.astype(np.float64), COPY_FROM_STEPS, batch=64).ndim == 2
    assert product_weight(weight_hh, batch=64).ndim == 3
    assert product_weight(weight_hh[:8], batch=64).ndim == 2


@pytest.mark.parametrize("count", [1, 3, MAX_ROWS + 1, 9])
def test_product_with_packed_weights(count):
    rng = np.random.default_rng(count)
    rows = rng.standard_normal((count, 40)).astype(np.float32)
    weight = rng.standard_normal((40, 37)).astype(np.float32)
    out = np.full((count, 37), np.nan, dtype=np.float32)
    _product(rows, packed.pack(weight), out)
    np.testing.assert_allclose(out, rows @ weight, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("count", [1, MAX_ROWS + 2])
def test_product_called_from_python_runs_the_compiled_code(count):
    rng = np.random.default_rng(10 + count)
    rows = rng.standard_normal((count, 12)).astype(np.float32)
    weight = rng.standard_normal((12, 20)).astype(np.float32)
    for layout in (np.ascontiguousarray(weight), np.asfortranarray(weight), packed.pack(weight)):
        from_python = np.full((count, 20), np.nan, dtype=np.float32)
        compiled = np.full((count, 20), np.nan, dtype=np.float32)
        product(rows, layout, from_python)
        _product(rows, layout, compiled)
        np.testing.assert_array_equal(from_python, compiled)
