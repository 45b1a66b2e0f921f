"""Numba's threading layer: TBB where it can be loaded, because servers fork and use threads.

numba runs ``prange`` loops on one of three layers, chosen at the first
parallel call. Measured with numba 0.68.1 (8 Python threads x 200 calls of one
parallel kernel, then ``os.fork()`` and a call in the child):

- ``omp`` (GNU OpenMP), numba's choice when TBB is missing: concurrent calls
  are fine, but a process forked after a parallel call is killed on its first
  parallel call ("fork() called from a process already using GNU OpenMP, this
  is unsafe"), which breaks gunicorn ``--preload``, ``multiprocessing`` with
  ``fork`` and ``ProcessPoolExecutor``;
- ``workqueue``: forks fine, but aborts the process on concurrent calls;
- ``tbb``: both right. numba tries it first, but the ``tbb`` wheel from PyPI
  installs ``libtbb.so.12`` into ``<prefix>/lib``, where the dynamic loader
  does not look, so numba silently fell back to ``omp``.

So :func:`prefer_tbb` loads the wheel's library (found through the
distribution's file list, wherever pip put it) before numba chooses, which
makes numba's own default choice TBB, and makes a TBB layer the user asked for
by name (``tbb``, ``safe``, ``threadsafe``) loadable too. A layer the user
chose is otherwise left alone, and where TBB cannot be loaded numba falls back
as it always did; ``numrnn info`` says which layer runs.

numrnn changes no environment variable to get there, and leaves no thread
setting of the process changed after its import or any call (the OpenBLAS copy
the kernels call runs on one thread only while a kernel is inside:
:mod:`numrnn.kernels.blas_threads`): such settings are process-wide, and other
libraries read them too (``OMP_WAIT_POLICY=PASSIVE``, which numrnn once
set where numba ran on OpenMP, made PyTorch's LSTM inference 4-7x slower in the
same process). TBB's idle workers do not spin, so on TBB there is nothing to
tune. Where numba ends up on OpenMP (no TBB, or ``NUMBA_THREADING_LAYER=omp``)
its idle workers spin after each parallel region, and numrnn, which alternates
many short kernels with NumPy work on OpenBLAS's own threads, can starve those
threads (the seq2seq date example ran 4.6x slower per epoch on 2 cores). The
one knob is then the user's: ``OMP_WAIT_POLICY=PASSIVE`` before the process
starts, which ``numrnn info`` suggests when it finds OpenMP.
"""

import ctypes
import importlib.metadata
import sys

import numba

_LIBRARY = "libtbb.so.12"
# Layers the user can name that never use TBB ("forksafe" is workqueue on Linux).
_NOT_TBB = ("omp", "workqueue", "forksafe")

_SAFETY = {
    "tbb": "safe with fork and with concurrent calls from threads",
    "omp": "GNU OpenMP: a process forked after a parallel kernel ran is killed at its first "
           "parallel call; install the tbb package (pip install tbb) for a fork-safe layer; "
           "set OMP_WAIT_POLICY=PASSIVE before the process starts if NumPy work between "
           "kernels runs slowly",
    "workqueue": "not safe for concurrent calls from several threads",
}


def tbb_library_path():
    """Where the ``tbb`` distribution put ``libtbb.so.12``, or None."""
    try:
        files = importlib.metadata.files("tbb") or ()
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == _LIBRARY:
            return str(file.locate())
    return None


def prefer_tbb():
    """Make TBB numba's threading layer where the tbb wheel is installed.

    Returns True when the library was loaded. Loads nothing where the user chose
    a layer that is not TBB, off Linux (numba finds TBB by its own means there),
    or when no loadable library is installed. Changes no environment variable
    (see the module's docstring).
    """
    chosen = str(numba.config.THREADING_LAYER).lower()
    return chosen not in _NOT_TBB and sys.platform.startswith("linux") and _load_tbb()


def _load_tbb():
    path = tbb_library_path()
    if path is None:
        return False
    try:
        # Global symbols, so that numba's tbbpool extension, which links
        # libtbb.so.12 by name, resolves against this copy.
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return True


def describe():
    """``"<layer> (<what it is safe for>)"``; starts numba's threads if they were not yet."""
    try:
        numba.get_num_threads()  # launches the layer, as the first parallel call would
        layer = numba.threading_layer()
    except ValueError as error:  # the layer asked for cannot be loaded
        return f"none could be started ({str(error).splitlines()[0]})"
    return f"{layer} ({_SAFETY.get(layer, 'unknown layer')})"
