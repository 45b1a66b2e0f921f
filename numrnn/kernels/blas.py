"""GEMM for code inside the kernels: NumPy's OpenBLAS, called straight from Numba.

Numba's own ``np.dot`` reaches SciPy's OpenBLAS through ``scipy.linalg.cython_blas``.
The NumPy wheels carry a newer OpenBLAS (0.3.31 against SciPy's 0.3.30 here)
that is much faster on the small products a recurrence makes every step;
single-threaded float32, measured on the 2-core AMD EPYC machine::

    (rows, K, N)          SciPy's   NumPy's   GFLOP/s
    (8, 64, 256)            17.9      44.0
    (16, 128, 512)          31.6      54.7     small config, one batch block
    (32, 256, 1024)         45.6      61.0     medium
    (32, 512, 2048)         46.3      54.3     large

So :func:`gemm` calls NumPy's ``cblas_sgemm``/``cblas_dgemm`` (ILP64: 64-bit
sizes). Their addresses are registered with LLVM under names of our own
(``numrnn_cblas_sgemm``/``numrnn_cblas_dgemm``) when this module is imported,
and the kernels call those names: compiled code refers to the symbol, not to an
address, so it can be cached and still links in the next process. Where
NumPy's library is not found (another NumPy build), the names are bound to a
compiled fallback with the same C signature that calls Numba's ``np.dot``, so
the kernels behave the same, only slower.

The caller keeps NumPy's OpenBLAS on one thread while a kernel runs
(:func:`numrnn.kernels.blas_threads.single_threaded_kernel_blas`): each
product's result must not depend on the thread count.
"""

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types
from numba.core import sigutils
from numba.core.ccallback import CFunc
from numba.core.errors import TypingError
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from numrnn.kernels import kernel_cache
from numrnn.kernels.jit import OVERLOAD_OPTIONS, kernel, linked_kernel

# CBLAS enum values.
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _signature(dtype):
    pointer = types.CPointer(dtype)
    return types.void(types.int32, types.int32, types.int32, types.int64, types.int64,
                      types.int64, dtype, pointer, types.int64, pointer, types.int64, dtype,
                      pointer, types.int64)


def _fallback(dtype):
    """A C function with CBLAS's signature (row-major only) that calls ``np.dot``.

    A C callback compiles when it is made, here at import, and only where
    NumPy's OpenBLAS is missing; numrnn's kernel cache keeps it, so that only
    the first import on a machine pays for the compilation.
    """

    def cblas_gemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        # Only what gemm() below passes: row-major, alpha 1, beta 0.
        a_rows, a_cols = (k, m) if trans_a == _TRANS else (m, k)
        b_rows, b_cols = (n, k) if trans_b == _TRANS else (k, n)
        left = numba.carray(a, (a_rows - 1) * lda + a_cols)
        right = numba.carray(b, (b_rows - 1) * ldb + b_cols)
        out = numba.carray(c, (m - 1) * ldc + n)
        result = np.empty((m, n), dtype=out.dtype)
        left_rows = np.empty((a_rows, a_cols), dtype=out.dtype)
        right_rows = np.empty((b_rows, b_cols), dtype=out.dtype)
        for i in range(a_rows):
            left_rows[i] = left[i * lda:i * lda + a_cols]
        for i in range(b_rows):
            right_rows[i] = right[i * ldb:i * ldb + b_cols]
        if trans_a == _TRANS:
            left_rows = np.ascontiguousarray(left_rows.T)
        if trans_b == _TRANS:
            right_rows = np.ascontiguousarray(right_rows.T)
        np.dot(left_rows, right_rows, result)
        for i in range(m):
            out[i * ldc:i * ldc + n] = result[i]

    compiled = CFunc(cblas_gemm, sigutils.normalize_signature(_signature(dtype)), locals={},
                     options={"nogil": True})
    compiled._cache = kernel_cache.cache_for(cblas_gemm)
    compiled.compile()
    return compiled.address


def _numpy_openblas():
    """NumPy's bundled OpenBLAS as a ctypes library, or None."""
    site = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(site, "numpy.libs", "libscipy_openblas64_*.so*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _register():
    """Bind ``numrnn_cblas_{s,d}gemm``; returns where they point ("numpy" or "fallback")."""
    library = _numpy_openblas()
    try:
        addresses = {name: ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
                     for name, symbol in (("numrnn_cblas_sgemm", "scipy_cblas_sgemm64_"),
                                          ("numrnn_cblas_dgemm", "scipy_cblas_dgemm64_"))}
        source = "numpy"
    except (AttributeError, TypeError):
        addresses = {"numrnn_cblas_sgemm": _fallback(types.float32),
                     "numrnn_cblas_dgemm": _fallback(types.float64)}
        source = "fallback"
    for name, address in addresses.items():
        llvm.add_symbol(name, address)
    return source


SOURCE = _register()
DESCRIPTION = {"numpy": "NumPy's bundled OpenBLAS (cblas_sgemm/dgemm, ILP64)",
               "fallback": "numba's np.dot (NumPy's OpenBLAS not found: slower)"}
_sgemm = types.ExternalFunction("numrnn_cblas_sgemm", _signature(types.float32))
_dgemm = types.ExternalFunction("numrnn_cblas_dgemm", _signature(types.float64))


@linked_kernel
def _orientation(rows, cols, row_stride, col_stride, itemsize):
    """``(transposed, leading dimension)`` of a 2-D view (its shape and strides) for
    CBLAS, or ``(False, 0)``.

    Row-major with unit column stride is used as it is; unit row stride means
    the view is the transpose of a row-major matrix (``w.T``, or rows of one).
    One compilation serves every layout and both operands: its arguments are
    integers. (Inlined at numba's level, as before, it went through numba's
    inliner twice for each of the GEMM's layouts, about 0.1 s each time on a
    first call; ``max()`` is written out, as numba compiles it for each tuple of
    argument types.)
    """
    if (rows > 1 and row_stride < itemsize) or (cols > 1 and col_stride < itemsize):
        # Reversed or broadcast (zero-stride) axes: BLAS takes neither.
        return False, np.int64(0)
    if cols == 1 or col_stride == itemsize:
        transposed, lead, extent = False, row_stride // itemsize if rows > 1 else 1, cols
    elif rows == 1 or row_stride == itemsize:
        transposed, lead, extent = True, col_stride // itemsize if cols > 1 else 1, rows
    else:
        return False, np.int64(0)
    if lead < extent:
        lead = extent
    if lead < 1:
        lead = 1
    return transposed, lead


@linked_kernel
def _row_major_copy(matrix):
    """A C-contiguous copy of a 2-D array, element by element (for a view BLAS cannot
    read: numba's ``np.ascontiguousarray`` of such a view compiled a copy routine of
    its own, about 0.3 s of a first call)."""
    rows, cols = matrix.shape
    copy = np.empty((rows, cols), dtype=matrix.dtype)
    for i in range(rows):
        for j in range(cols):
            copy[i, j] = matrix[i, j]
    return copy


def gemm(a, b, out):
    """``out[...] = a @ b`` inside a kernel; a (M, K), b (K, N), out (M, N), one dtype.

    ``a`` and ``b`` may be row-major or transposed views (``w.T``, a row range of
    ``w.T``), with any leading dimension; anything else is copied first. ``out``
    must have unit column stride. Shapes are the caller's to get right: nothing
    is checked. Kernels compile it inline; called from Python, it runs the same
    compiled code.
    """
    _gemm_from_python(a, b, out)


@overload(gemm, jit_options=OVERLOAD_OPTIONS)
def _gemm_impl(a, b, out):
    if not (a.dtype == b.dtype == out.dtype) or a.dtype not in (types.float32, types.float64):
        raise TypingError(f"gemm needs one float dtype, got {a.dtype}, {b.dtype}, {out.dtype}")
    call = _sgemm if a.dtype == types.float32 else _dgemm
    one, zero = as_dtype(a.dtype).type(1.0), as_dtype(a.dtype).type(0.0)
    # A C- or F-contiguous operand always has a unit stride BLAS reads in place:
    # only an 'A'-layout one can need the copy, which then compiles only for it.
    a_may_need_copy, b_may_need_copy = a.layout not in "CF", b.layout not in "CF"

    def impl(a, b, out):
        m, k = a.shape
        n = b.shape[1]
        if m == 0 or n == 0:
            return
        if k == 0:
            out[...] = 0
            return
        itemsize = out.itemsize
        if n > 1 and out.strides[1] != itemsize:
            raise ValueError("gemm: out needs unit column stride")
        trans_a, lda = _orientation(m, k, a.strides[0], a.strides[1], itemsize)
        if a_may_need_copy:
            if lda == 0:
                a = _row_major_copy(a)
                trans_a, lda = False, k
        trans_b, ldb = _orientation(k, n, b.strides[0], b.strides[1], itemsize)
        if b_may_need_copy:
            if ldb == 0:
                b = _row_major_copy(b)
                trans_b, ldb = False, n
        ldc = out.strides[0] // itemsize if m > 1 else n
        if ldc < n:
            ldc = n
        call(_ROW_MAJOR, _TRANS if trans_a else _NO_TRANS, _TRANS if trans_b else _NO_TRANS,
             m, n, k, one, a.ctypes, lda, b.ctypes, ldb, zero, out.ctypes, ldc)

    return impl


@kernel
def _gemm_from_python(a, b, out):
    gemm(a, b, out)
