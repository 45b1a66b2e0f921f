"""Thread counts of the two OpenBLAS copies in the process, through their C API.

numba's ``np.dot`` calls SciPy's OpenBLAS (through ``scipy.linalg.cython_blas``)
and NumPy's ``np.dot`` calls NumPy's own copy, which the kernels also call
directly (:mod:`numrnn.kernels.blas`); each runs its own pthread pool next to
numba's workers. The fused kernels parallelise over batch blocks with numba,
so the per-step GEMMs inside them must run on one BLAS thread: with both pools
active each step's GEMM waited on busy cores (GRU small inference 1632 ms with
the defaults, 8.6 ms with ``OPENBLAS_NUM_THREADS=1``).

Both wheels export ``scipy_openblas_{get,set}_num_threads`` (NumPy's with a
``64_`` suffix); ``ctypes`` reaches them by file name. Where a library is not
found (another BLAS build), its functions are skipped: the kernels still run
and stay correct, only the thread counts are then the library's own business.

OpenBLAS's GEMM results change in the last bits with its thread count, so no
kernel result may depend on it: the per-step GEMMs run on one thread here, and
the large ones go through :mod:`numrnn.kernels.gemm` (fixed chunks, one thread
each).
"""

import contextlib
import ctypes
import glob
import os
import threading

import numpy as np

# (library file pattern relative to a package dir, get symbol, set symbol)
_CANDIDATES = (
    ("scipy", "scipy.libs", "libscipy_openblas-*.so*", "scipy_openblas_get_num_threads",
     "scipy_openblas_set_num_threads"),
    ("numpy", "numpy.libs", "libscipy_openblas64_*.so*", "scipy_openblas_get_num_threads64_",
     "scipy_openblas_set_num_threads64_"),
)


def _load():
    """{name: (get, set)} for each OpenBLAS copy whose library and symbols were found."""
    found = {}
    site = os.path.dirname(os.path.dirname(np.__file__))
    for name, folder, pattern, get_name, set_name in _CANDIDATES:
        for path in sorted(glob.glob(os.path.join(site, folder, pattern))):
            try:
                library = ctypes.CDLL(path)
                get, set_ = getattr(library, get_name), getattr(library, set_name)
            except (OSError, AttributeError):
                continue
            get.restype, get.argtypes = ctypes.c_int, []
            set_.restype, set_.argtypes = None, [ctypes.c_int]
            found[name] = (get, set_)
            break
    return found


_LIBRARIES = _load()
_lock = threading.Lock()
_inside = 0
_saved = {}


def available():
    """Names of the OpenBLAS copies under control: a subset of ``("scipy", "numpy")``."""
    return tuple(sorted(_LIBRARIES))


def get(name):
    """Thread count of one copy, or None where it is not under control."""
    if name not in _LIBRARIES:
        return None
    return int(_LIBRARIES[name][0]())


def set(name, threads):  # noqa: A001 - mirrors the C API's name
    """Set one copy's thread count (a no-op where it is not under control)."""
    if name in _LIBRARIES:
        _LIBRARIES[name][1](int(threads))


@contextlib.contextmanager
def single_threaded_kernel_blas():
    """Run both OpenBLAS copies on one thread while any kernel is inside.

    Counted, so that concurrent kernels from server threads keep them at one
    until the last of them leaves; the counts from before are then restored.
    While a kernel runs, NumPy products in other Python threads run on one
    thread too (OpenBLAS's thread count is process-wide).
    """
    global _inside, _saved
    with _lock:
        if _inside == 0:
            _saved = {name: get(name) for name in _LIBRARIES}
            for name, count in _saved.items():
                if count != 1:
                    set(name, 1)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                for name, count in _saved.items():
                    if count != 1:
                        set(name, count)
