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
element then comes from the same BLAS call whatever the thread count.
"""

import contextlib

import numpy as np
from numba import prange
from numba.extending import register_jitable

from numrnn.kernels import blas_threads
from numrnn.kernels.blas import gemm
from numrnn.kernels.blas_threads import single_threaded_kernel_blas
from numrnn.kernels.jit import inline_kernel, kernel, parallel_kernel
from numrnn.kernels.matvec import MAX_ROWS, dot_rows

# Rows of the result per single-threaded GEMM: at most CHUNK_ROWS, large enough
# for sgemm to run near its single-core peak; fewer (down to MIN_CHUNK_ROWS) when
# that leaves under TARGET_CHUNKS chunks, so that a short, deep product such as a
# weight gradient dGᵀ·x (H rows, T·B deep) still spreads over the cores: with
# 256-row chunks the Elman layer's dW_ih and dW_hh at H = 256 were one
# single-threaded GEMM each, and its backward sped up only 1.29x on 2 threads.
CHUNK_ROWS = 256
MIN_CHUNK_ROWS = 64
TARGET_CHUNKS = 8

# An input projection (T*B, I) @ W_ihᵀ of a batch of at most matvec.MAX_ROWS rows
# with at most this many multiply-adds runs as dot-product loops instead of a
# GEMM: the kernel call then reaches no BLAS at all and skips pinning it to one
# thread. At B = 1, T = 50, I = 32, H = 64 (an Elman layer, 102k multiply-adds)
# the loops cost 2.6 µs more than sgemm (7.2 against 4.6) and the pinning saved
# 6 µs of an 80 µs call timed between ONNX Runtime calls; at the GRU's and
# LSTM's 3-4x larger projections the loops lost (21 against 11, 29 against
# 14 µs). Single steps (cells, decoders) of any usual size qualify.
SMALL_PROJECTION = 1 << 17


@register_jitable
def projection_calls_blas(batch, steps, n_in, n_out):
    """Whether a forward kernel call of these sizes reaches BLAS (a function of the sizes only).

    Blocks of up to ``MAX_ROWS`` rows step with loops (:func:`~numrnn.kernels.matvec.
    product`), so only the input projection can call BLAS, and a small one does not.
    """
    return batch > MAX_ROWS or steps * batch * n_in * n_out > SMALL_PROJECTION


@inline_kernel
def project_inputs(x, weight_ih, projection):
    """``projection[...] = x W_ihᵀ`` for a C-contiguous (T, B, I) ``x``: one GEMM, or loops.

    The forward kernels' input projection, by :func:`projection_calls_blas`.
    Inlined into its callers, which are all ``parallel_kernel``: compiled on its
    own it would be a non-parallel function calling :func:`matmul_into` (see
    there).
    """
    steps, batch, n_in = x.shape
    n_out = weight_ih.shape[0]
    rows, flat = x.reshape(steps * batch, n_in), projection.reshape(steps * batch, n_out)
    if projection_calls_blas(batch, steps, n_in, n_out):
        matmul_into(rows, weight_ih.T, flat)
    else:
        dot_rows(rows, weight_ih, flat)


def kernel_blas(batch, steps, n_in, n_out):
    """The context a forward kernel call of these sizes runs in.

    :func:`single_threaded_kernel_blas` where the call reaches BLAS, else a
    context that does nothing.
    """
    if projection_calls_blas(batch, steps, n_in, n_out):
        return single_threaded_kernel_blas()
    return _NO_BLAS


_NO_BLAS = contextlib.nullcontext()

# NumPy's np.dot is only thread-count independent when its OpenBLAS is the one
# single_threaded_kernel_blas() pins to one thread.
_NUMPY_BLAS_PINNED = blas_threads.pinned_library() == "numpy"


@kernel
def _chunk_size(rows):
    """Rows per chunk for a result of ``rows`` rows: a function of ``rows`` only."""
    size = (rows + TARGET_CHUNKS - 1) // TARGET_CHUNKS
    return max(MIN_CHUNK_ROWS, min(CHUNK_ROWS, size))


@kernel
def _chunk(a, b, out, chunk, size):
    first = chunk * size
    stop = min(first + size, a.shape[0])
    gemm(a[first:stop], b, out[first:stop])


@parallel_kernel
def matmul_into(a, b, out):
    """``out[...] = a @ b`` in thread-count-independent chunks; for code inside kernels.

    The caller keeps BLAS on one thread (see :func:`matmul`). Kernels that call
    it are themselves ``parallel_kernel``: a cached non-parallel function that
    calls a parallel one crashes when loaded from the cache (numba issue 8578).
    """
    size = _chunk_size(a.shape[0])
    chunks = (a.shape[0] + size - 1) // size
    if chunks == 1:
        _chunk(a, b, out, 0, size)
        return
    for chunk in prange(chunks):
        _chunk(a, b, out, chunk, size)


def _blas_ready(matrix):
    """Whether BLAS can read a 2-D view in place: one unit stride, the other positive."""
    row_stride, col_stride = matrix.strides
    size = matrix.itemsize
    return (col_stride == size and row_stride >= size) or \
        (row_stride == size and col_stride >= size)


def matmul(a, b):
    """``a @ b`` for 2-D ``a`` (M, K) and ``b`` (K, N) of one float dtype, as (M, N).

    Either operand may be any view with one unit stride (``w.T``, a column range
    of ``w`` or of ``w.T``): BLAS reads it in place through its leading
    dimension. Anything else is copied once.
    """
    if not _blas_ready(a):
        a = np.ascontiguousarray(a)
    if not _blas_ready(b):
        b = np.ascontiguousarray(b)
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
