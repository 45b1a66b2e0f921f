"""Where Numba keeps numrnn's compiled kernels; imported first by ``numrnn/__init__``.

Every kernel is ``njit(cache=True)``. Numba picks a function's cache directory
when the decorator runs (``numba.core.caching._CacheImpl``), trying in order
``NUMBA_CACHE_DIR``, then ``__pycache__`` next to the source. On a read-only
install (system site-packages, a container image, a wheel unpacked by root) the
second fails, Numba falls back to its own ``~/.cache/numba``, or to nothing at
all when that is unwritable too, and a server restart recompiles every kernel
(seconds). So before any kernel module is imported, this module checks whether
the package can hold its own cache and, if it cannot and the user has not
chosen a directory, points Numba at ``$XDG_CACHE_HOME/numrnn`` (default
``~/.cache/numrnn``).

The choice is made once, at import, and described by :data:`CACHE_DIR` and
:data:`CACHE_SOURCE` for ``numrnn info``.
"""

import os
import tempfile

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Numba's in-tree cache for a kernel in numrnn/kernels/x.py is numrnn/kernels/__pycache__.
_IN_TREE_DIR = os.path.join(_PACKAGE_DIR, "kernels", "__pycache__")


def writable(directory):
    """Whether files can be created in ``directory`` (made if missing).

    Tries it, as Numba does: ``os.access`` says yes to root on a read-only
    mount and cannot see ACLs.
    """
    try:
        os.makedirs(directory, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def user_cache_dir(environ):
    """``$XDG_CACHE_HOME/numrnn``, or ``~/.cache/numrnn`` when XDG_CACHE_HOME is unset."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numrnn")


def choose_cache_dir(environ, in_tree_dir=_IN_TREE_DIR):
    """``(directory, source)``: where the kernels' cache goes and why.

    ``directory`` is None when Numba should keep its default (in-tree) choice
    or when no writable place exists; ``source`` says which case it is.
    """
    if environ.get("NUMBA_CACHE_DIR"):
        return environ["NUMBA_CACHE_DIR"], "NUMBA_CACHE_DIR"
    if writable(in_tree_dir):
        return None, "in-tree"
    user_dir = user_cache_dir(environ)
    if writable(user_dir):
        return user_dir, "user (package directory is read-only)"
    return None, "none (package and user cache directories are read-only)"


def _configure():
    directory, source = choose_cache_dir(os.environ)
    if directory is not None and source != "NUMBA_CACHE_DIR":
        # The environment variable, not only numba.config: Numba's compiler calls
        # config.reload_config(), which re-reads NUMBA_* variables whenever any of
        # them changed and would otherwise reset CACHE_DIR to "". Child processes
        # inherit the same cache, which is what a pre-forking server wants.
        os.environ["NUMBA_CACHE_DIR"] = directory
        import numba

        numba.config.CACHE_DIR = directory
    if directory is None and source == "in-tree":
        directory = _IN_TREE_DIR
    return directory, source


CACHE_DIR, CACHE_SOURCE = _configure()
