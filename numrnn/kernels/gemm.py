"""Large GEMMs outside the time loop, with results that ignore the thread count.

OpenBLAS's own threading partitions a GEMM by the number of threads, and its
edge kernels sum in a different order from the main one: measured here with
NumPy's OpenBLAS 0.3.31, float32 ``a @ b`` differed in the last bits between
1, 2, 3 and 4 threads for every shape tried (37×1000×93 up to 6400×512×2048).
So the input projection and the gradients after the loop (``dx``, ``dW_ih``,
``dW_hh``) go through :func:`matmul`: the rows of the result split into chunks
whose size depends on the row count alone, each one single-threaded GEMM
(:func:`numrnn.kernels.blas.gemm`, kept on one thread by
:func:`~numrnn.kernels.blas_threads.single_threaded_kernel_blas`), chunks spread
over numba's threads. Every
element then comes from the same BLAS call whatever the thread count. The
chunk size, and whether a projection is a GEMM at all, are rules of
:mod:`numrnn.kernels.plan`.
"""

import contextlib

import numpy as np
from numba import prange

from numrnn.kernels import blas_threads
from numrnn.kernels.blas import gemm
from numrnn.kernels.blas_threads import single_threaded_kernel_blas
from numrnn.kernels.jit import inline_kernel, kernel, parallel_driver
from numrnn.kernels.matvec import dot_rows
from numrnn.kernels.plan import (
    MIN_CHUNK_ROWS,
    chunk_size,
    projection_calls_blas,
)


@inline_kernel
def project_inputs(x, weight_ih, projection):
    """``projection[...] = x W_ihᵀ`` for a C-contiguous (T, B, I) ``x``: one GEMM, or loops.

    The forward kernels' input projection, by :func:`numrnn.kernels.plan.projection_calls_blas`.
    Inlined into its callers, all ``parallel_kernel``: compiled on its own
    it would be a non-parallel function calling :func:`matmul_into` (see there).
    (The Elman RNN's driver instead takes a projection made in Python before it,
    ``elman._project_inputs``, so that only the branch the call takes compiles.)
    """
    steps, batch, n_in = x.shape
    n_out = weight_ih.shape[0]
    rows, flat = x.reshape(steps * batch, n_in), projection.reshape(steps * batch, n_out)
    if projection_calls_blas(batch, steps, n_in, n_out):
        matmul_into(rows, weight_ih.T, flat)
    else:
        dot_rows(rows, weight_ih, flat)


def kernel_blas(pinned):
    """The context a kernel call runs in: :func:`single_threaded_kernel_blas` where
    its plan pins BLAS (``Plan.pins_blas``), else a context that does nothing."""
    if pinned:
        return single_threaded_kernel_blas()
    return _NO_BLAS


_NO_BLAS = contextlib.nullcontext()

# NumPy's np.dot is only thread-count independent when its OpenBLAS is the one
# single_threaded_kernel_blas() pins to one thread.
_NUMPY_BLAS_PINNED = blas_threads.pinned_library() == "numpy"


@kernel
def _chunk(a, b, out, chunk, size):
    first = chunk * size
    stop = min(first + size, a.shape[0])
    gemm(a[first:stop], b, out[first:stop])


@parallel_driver
def matmul_into(a, b, out):
    """``out[...] = a @ b`` in thread-count-independent chunks; for code inside kernels.

    The caller keeps BLAS on one thread (see :func:`matmul`). Kernels that call
    it are themselves ``parallel_kernel``: a cached non-parallel function that
    calls a parallel one crashes when loaded from the cache (numba issue 8578).
    """
    size = chunk_size(a.shape[0])
    chunks = (a.shape[0] + size - 1) // size
    if chunks == 1:
        _chunk(a, b, out, np.int64(0), size)
        return
    for chunk in prange(chunks):
        _chunk(a, b, out, np.int64(chunk), size)


def readable_by_blas(matrix):
    """``matrix`` (2-D), or a C-contiguous copy where BLAS cannot read it in place:
    it reads a view with one unit stride and the other positive."""
    row_stride, col_stride = matrix.strides
    size = matrix.itemsize
    if (col_stride == size and row_stride >= size) or (row_stride == size and col_stride >= size):
        return matrix
    return np.ascontiguousarray(matrix)


def matmul(a, b):
    """``a @ b`` for 2-D ``a`` (M, K) and ``b`` (K, N) of one float dtype, as (M, N).

    Either operand may be any view with one unit stride (``w.T``, a column range
    of ``w`` or of ``w.T``): BLAS reads it in place through its leading
    dimension. Anything else is copied once.
    """
    a, b = readable_by_blas(a), readable_by_blas(b)
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    if a.shape[0] == 0 or b.shape[1] == 0:
        return out
    if a.shape[1] == 0:
        out[...] = 0
        return out
    with single_threaded_kernel_blas():
        if a.shape[0] <= MIN_CHUNK_ROWS and _NUMPY_BLAS_PINNED:
            # One chunk: NumPy's own call into the same, now single-threaded,
            # OpenBLAS saves the dispatch into a parallel kernel (~10 µs, which
            # is most of a small projection's or a cell's time).
            np.dot(a, b, out)
        else:
            matmul_into(a, b, out)
    return out
