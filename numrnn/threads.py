"""One knob for every thread pool numrnn's kernels use: numba's and both OpenBLAS copies.

The kernels parallelise with numba only (fixed batch blocks and GEMM chunks,
see :mod:`numrnn.kernels.common` and :mod:`numrnn.kernels.gemm`) and keep the
BLAS calls inside them on one thread, so ``set_num_threads(n)`` gives numba
``n`` threads and the two OpenBLAS copies (NumPy's, SciPy's) ``n`` for the
plain NumPy/SciPy work around the kernels. Results are bit-identical for any
``n``.

Like :func:`numba.set_num_threads`, the numba part is per calling thread (each
server thread may choose its own); the BLAS part is process-wide. While kernels
are running (in any thread), the OpenBLAS copy they call stays on one thread and
takes the new count when the last of them returns
(:func:`numrnn.kernels.blas_threads.set`).
"""

from __future__ import annotations

import numba

from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.kernels import blas_threads

__all__ = ["get_num_threads", "set_num_threads"]


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads (1 .. ``numba.config.NUMBA_NUM_THREADS``) for kernels and BLAS.

    Raises :class:`~numrnn.errors.ArgumentError` (a ``ValueError``) for a count
    outside that range and :class:`~numrnn.errors.ArgumentTypeError` (a
    ``TypeError``) for a value that is not an int; nothing changes then.
    """
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise ArgumentTypeError(f"set_num_threads: threads must be an int, "
                                f"got {type(threads).__name__}")
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= limit:
        raise ArgumentError(f"set_num_threads: threads must be in 1..{limit} "
                            f"(NUMBA_NUM_THREADS), got {threads}")
    numba.set_num_threads(threads)
    for name in blas_threads.available():
        blas_threads.set(name, threads)


def get_num_threads() -> int:
    """Threads numba's parallel kernels use in this thread (what :func:`set_num_threads` set)."""
    return numba.get_num_threads()
