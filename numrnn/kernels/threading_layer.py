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
makes numba's own default choice TBB. A layer the user chose
(``NUMBA_THREADING_LAYER``) is left alone, and where TBB cannot be loaded
numba falls back as it always did; ``numrnn info`` says which layer runs.
Nothing in the process environment is changed.
"""

import ctypes
import importlib.metadata
import sys

import numba

_LIBRARY = "libtbb.so.12"

_SAFETY = {
    "tbb": "safe with fork and with concurrent calls from threads",
    "omp": "GNU OpenMP: a process forked after a parallel kernel ran is killed at its first "
           "parallel call; install the tbb package (pip install tbb) for a fork-safe layer",
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
    """Make TBB numba's default threading layer where the tbb wheel is installed.

    Returns True when the library was loaded. Does nothing where the user chose
    a layer, off Linux (numba finds TBB by its own means there), or when no
    loadable library is installed.
    """
    if str(numba.config.THREADING_LAYER).lower() != "default" \
            or not sys.platform.startswith("linux"):
        return False
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
    numba.get_num_threads()  # launches the layer, as the first parallel call would
    layer = numba.threading_layer()
    return f"{layer} ({_SAFETY.get(layer, 'unknown layer')})"
