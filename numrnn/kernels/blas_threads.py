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

import ctypes
import glob
import os
import threading

import numpy as np

from numrnn.kernels.blas import SOURCE

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
# The copy the kernels' GEMMs run on.
_KERNEL_LIBRARY = "numpy" if SOURCE == "numpy" else "scipy"
# Guards the three below, and every change of the pinned copy's count.
_lock = threading.Lock()
# Kernels inside single_threaded_kernel_blas() now, in every thread.
_inside = 0
# The count the pinned copy returns to when the last kernel leaves: what it had
# when the first one entered, or what set() asked for since.
_saved = None


def available():
    """Names of the OpenBLAS copies under control: a subset of ``("scipy", "numpy")``."""
    return tuple(sorted(_LIBRARIES))


def pinned_library():
    """The copy :func:`single_threaded_kernel_blas` pins ("numpy" or "scipy"), or None."""
    return _KERNEL_LIBRARY if _KERNEL_LIBRARY in _LIBRARIES else None


def get(name):
    """Thread count of one copy, or None where it is not under control."""
    if name not in _LIBRARIES:
        return None
    return int(_LIBRARIES[name][0]())


def set(name, threads):  # noqa: A001 - mirrors the C API's name
    """Set one copy's thread count (a no-op where it is not under control).

    While any kernel is inside :func:`single_threaded_kernel_blas`, the copy it
    pins stays at one thread: a count asked for then is kept and applied when
    the last kernel leaves, so that no running kernel's products change with it.
    """
    global _saved
    if name not in _LIBRARIES:
        return
    with _lock:
        if name == _KERNEL_LIBRARY and _inside:
            _saved = int(threads)
        else:
            _set_count(name, threads)


def _set_count(name, threads):
    """The C call itself: callers hold ``_lock``, or set a copy no kernel pins."""
    _LIBRARIES[name][1](int(threads))


class _SingleThreadedKernelBlas:
    """The context manager behind :func:`single_threaded_kernel_blas` (one shared instance).

    A class rather than a generator-based context manager, and only the copy the
    kernels call: entering and leaving costs two ``set_num_threads`` calls
    (about 0.7 µs each in OpenBLAS itself) instead of four, and no generator.
    At B = 1 a whole layer takes 20-60 µs, so this showed.
    """

    __slots__ = ()

    def __enter__(self):
        global _inside, _saved
        with _lock:
            if _inside == 0:
                _saved = get(_KERNEL_LIBRARY)
                if _saved is not None and _saved != 1:
                    _set_count(_KERNEL_LIBRARY, 1)
            _inside += 1

    def __exit__(self, *exc_info):
        global _inside
        with _lock:
            _inside -= 1
            # The copy is at one thread here, pinned or found so.
            if _inside == 0 and _saved is not None and _saved != 1:
                _set_count(_KERNEL_LIBRARY, _saved)


_SINGLE_THREADED = _SingleThreadedKernelBlas()


def _fresh_state_after_fork():
    """In a forked child: a fresh lock, no kernel inside, the pinned copy's count put back.

    Only the forking thread lives on in the child. Another thread of the parent may
    have held the lock, or been inside :func:`single_threaded_kernel_blas`, at the
    fork: the child would wait for that lock forever, or keep the copy at one
    thread for good, since the thread that would leave is gone.
    """
    global _lock, _inside, _saved
    _lock = threading.Lock()
    if _inside and _saved is not None and _saved != 1:
        _set_count(_KERNEL_LIBRARY, _saved)
    _inside = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_state_after_fork)


def single_threaded_kernel_blas():
    """Run the OpenBLAS copy the kernels call on one thread while any kernel is inside.

    That copy is NumPy's (:mod:`numrnn.kernels.blas`), or SciPy's where NumPy's
    was not found and the kernels' GEMMs fall back to numba's ``np.dot``.
    Counted, so that concurrent kernels from server threads keep it at one
    until the last of them leaves; the count from before is then restored, or
    the one :func:`set` (``numrnn.set_num_threads``) asked for in the meantime.
    While a kernel runs, NumPy products in other Python threads run on one
    thread too (OpenBLAS's thread count is process-wide).
    """
    return _SINGLE_THREADED
