"""The in-kernel GEMM (numrnn.kernels.blas): every operand orientation, and the fallback."""

import ctypes

import numba
import numpy as np
import pytest
from numba import types

from numrnn.kernels import blas
from numrnn.kernels.blas import gemm


@numba.njit
def _gemm(a, b, out):
    gemm(a, b, out)


def _operands(dtype, rng):
    a = rng.standard_normal((9, 12)).astype(dtype)
    b = rng.standard_normal((12, 10)).astype(dtype)
    tall = np.asfortranarray(rng.standard_normal((20, 12)).astype(dtype))
    return {
        "row-major": (a, b),
        "transposed views": (np.asfortranarray(a), np.asfortranarray(b)),
        "row range of a transposed matrix": (tall[3:12], b),
        "strided (copied)": (a[:, ::2], b[::2]),
        "reversed rows (copied)": (a[::-1], b[::-1]),
        "reversed columns (copied)": (a[:, ::-1], b[:, ::-1]),
        "broadcast rows (copied)": (np.broadcast_to(a[:1], (9, 12)), b),
        "one row": (a[:1], b),
        "one column": (a, b[:, :1]),
        "empty inner dimension": (a[:, :0], b[:0]),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_matches_numpy_for_every_orientation(dtype):
    rng = np.random.default_rng(0)
    for name, (a, b) in _operands(dtype, rng).items():
        out = np.full((a.shape[0], b.shape[1]), np.nan, dtype=dtype)
        _gemm(a, b, out)
        tolerance = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, a @ b, rtol=tolerance, atol=tolerance, err_msg=name)


def test_gemm_rejects_an_output_without_unit_column_stride():
    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 6), np.float32)
    out = np.empty((3, 12), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="unit column stride"):
        _gemm(a, b, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fallback_has_cblas_semantics(dtype):
    """The stand-in used where NumPy's OpenBLAS is not found, called through its C ABI."""
    rng = np.random.default_rng(1)
    scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    address = blas._fallback(types.float32 if dtype == np.float32 else types.float64)
    pointer, size, int32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32
    function = ctypes.CFUNCTYPE(None, int32, int32, int32, size, size, size, scalar, pointer,
                                size, pointer, size, scalar, pointer, size)(address)
    tall = np.asfortranarray(rng.standard_normal((20, 12)).astype(dtype))
    a = tall[3:12]                                   # transposed, leading dimension 20
    b = np.asfortranarray(rng.standard_normal((12, 10)).astype(dtype))  # transposed, ld 12
    wide = np.zeros((9, 16), dtype)
    out = wide[:, :10]                               # row-major, leading dimension 16
    function(101, 112, 112, 9, 10, 12, 1.0, a.ctypes.data, 20, b.ctypes.data, 12, 0.0,
             out.ctypes.data, 16)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    assert not wide[:, 10:].any()                    # nothing written past the row ends


def test_source_is_reported():
    assert blas.SOURCE in ("numpy", "fallback")


def test_gemm_called_from_python_runs_the_compiled_code():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((7, 9)).astype(np.float32)
    b = np.asfortranarray(rng.standard_normal((9, 5)).astype(np.float32))
    from_python, compiled = np.empty((7, 5), np.float32), np.empty((7, 5), np.float32)
    gemm(a, b, from_python)
    _gemm(a, b, compiled)
    np.testing.assert_array_equal(from_python, compiled)
    np.testing.assert_allclose(from_python, a @ b, rtol=1e-5, atol=1e-5)
