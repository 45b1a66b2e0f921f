"""Where compiled kernels are kept between processes, and a cache that cannot break numrnn.

Numba's own ``cache=True`` fails a server in three ways: on a read-only install
with no writable home it refuses to decorate at all (``cannot cache function
...: no locator available``, so ``import numrnn`` failed); it cannot read a
read-only cache directory that already holds compiled kernels; and a damaged
cache file (truncated, garbled) raises from ``pickle`` on every later start, or
worse, hands LLVM broken object code. Every kernel therefore gets a
:class:`KernelCache` instead (see :mod:`numrnn.kernels.jit`):

- **Directories, chosen once** (:func:`choose_cache_dir`): ``NUMBA_CACHE_DIR``
  when the user set it; else the package's own ``kernels/__pycache__`` when it
  is writable; else ``$XDG_CACHE_HOME/numrnn`` (``~/.cache/numrnn``), read
  after the package's ``__pycache__`` when that is read-only but holds kernels
  (an image baked with ``numrnn warmup``); else that read-only ``__pycache__``
  alone; else none, and kernels compile in memory. Nothing in the process
  environment is changed for this.
- **Read-only is fine**: entries are read from a directory that cannot be
  written; a kernel compiled there is kept in memory, and one
  :class:`KernelCacheWarning` per process says how to keep it.
- **Damage heals**: every file carries a SHA-256 of its contents, checked
  before anything is unpickled; a file that fails the check, or an entry that
  fails to load for any reason (another numba version, a foreign file with our
  name), is discarded and the kernel recompiled and saved over it.
- **The first compile says so**: compiling takes seconds per kernel, so the
  first one in a process prints one line to stderr naming ``numrnn warmup``.
"""

import hashlib
import os
import pickle
import sys
import tempfile
import threading
import warnings
from collections import namedtuple

from numba.core import config
from numba.core.caching import (
    Cache,
    CompileResultCacheImpl,
    IndexDataCacheFile,
    NullCache,
    _CacheLocator,
    _SourceFileBackedLocatorMixin,
)

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Numba's in-tree place for the kernels in numrnn/kernels/*.py.
IN_TREE_DIR = os.path.join(_PACKAGE_DIR, "kernels", "__pycache__")

# Every file this cache writes starts with this, then the SHA-256 of the rest.
MAGIC = b"numrnn-kernel-cache-1\n"
_DIGEST_BYTES = 32


class KernelCacheWarning(UserWarning):
    """Compiled kernels cannot be saved, so the next process compiles them again."""


CacheChoice = namedtuple("CacheChoice", "directory source writable prebuilt")
CacheChoice.__doc__ = """Where kernels are kept: ``directory`` (None: nowhere), the rule
that chose it (``source``, for ``numrnn info``), whether it can be written, and a
read-only ``prebuilt`` directory read before it (or None)."""


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


def holds_kernels(directory):
    """Whether ``directory`` holds at least one index written by this cache."""
    try:
        names = [name for name in os.listdir(directory) if name.endswith(".nbi")]
        for name in names:
            with open(os.path.join(directory, name), "rb") as file:
                if file.read(len(MAGIC)) == MAGIC:
                    return True
    except OSError:
        pass
    return False


def user_cache_dir(environ):
    """``$XDG_CACHE_HOME/numrnn``, or ``~/.cache/numrnn`` when XDG_CACHE_HOME is unset."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numrnn")


def choose_cache_dir(environ, in_tree_dir=IN_TREE_DIR):
    """The :class:`CacheChoice` for an environment (``NUMBA_CACHE_DIR``, ``XDG_CACHE_HOME``)."""
    if environ.get("NUMBA_CACHE_DIR"):
        chosen = environ["NUMBA_CACHE_DIR"]
        return CacheChoice(chosen, "NUMBA_CACHE_DIR", writable(chosen), None)
    if writable(in_tree_dir):
        return CacheChoice(in_tree_dir, "in-tree", True, None)
    prebuilt = in_tree_dir if holds_kernels(in_tree_dir) else None
    user_dir = user_cache_dir(environ)
    if writable(user_dir):
        if prebuilt is None:
            return CacheChoice(user_dir, "user (package directory is read-only)", True, None)
        return CacheChoice(user_dir, "user, after the kernels pre-built in the read-only "
                                     "package directory", True, prebuilt)
    if prebuilt is not None:
        return CacheChoice(prebuilt, "in-tree, read-only (pre-built)", False, None)
    return CacheChoice(None, "none (package and user cache directories are read-only)",
                       False, None)


# numba.config.CACHE_DIR holds NUMBA_CACHE_DIR as numba read it, or a value set in code.
CHOICE = choose_cache_dir({**os.environ, "NUMBA_CACHE_DIR": config.CACHE_DIR or ""})
CACHE_DIR, CACHE_SOURCE, CACHE_WRITABLE = CHOICE.directory, CHOICE.source, CHOICE.writable


def describe():
    """One line for ``numrnn info``."""
    if CACHE_DIR is None:
        return f"none: kernels compile on every start ({CACHE_SOURCE})"
    access = "" if CACHE_WRITABLE else ", read-only"
    return f"{CACHE_DIR} ({CACHE_SOURCE}{access})"


# -- what the user is told ------------------------------------------------------------
_told: set[tuple] = set()
_told_lock = threading.Lock()
# Kernels loaded from the cache and kernels compiled, in this process (numba
# compiles under its global lock, so the counts need no lock of their own).
_counts = {"loaded": 0, "compiled": 0}


def counts():
    """``{"loaded": n, "compiled": n}``: cache loads and compilations of numrnn's kernels
    in this process so far, callees compiled for a caller included."""
    return dict(_counts)


def _once(key):
    with _told_lock:
        if key in _told:
            return False
        _told.add(key)
        return True


def silence_compile_notice():
    """Print no notice at the first compile in this process (``numrnn warmup`` does this)."""
    _once("compiling")


def _announce_compiling():
    if _once("compiling"):
        where = f"saved in {CACHE_DIR}" if CACHE_WRITABLE else "kept in memory only"
        print(f"numrnn: compiling kernels for first use ({where}); this takes seconds per "
              "kernel, once. Run `numrnn warmup` to compile them all ahead of time.",
              file=sys.stderr, flush=True)


def _warn_unsaved(reason):
    if _once("unsaved"):
        warnings.warn(f"numrnn: compiled kernels cannot be saved ({reason}), so every new "
                      "process compiles them again. Set NUMBA_CACHE_DIR to a writable "
                      "directory, or bake them into the image with `numrnn warmup` run where "
                      "the package is writable (or with NUMBA_CACHE_DIR set).",
                      KernelCacheWarning, stacklevel=2)


# -- the cache ------------------------------------------------------------------------
def _cache_path(directory, py_file):
    if directory == IN_TREE_DIR:
        return os.path.join(os.path.dirname(py_file), "__pycache__")
    # As Numba does under NUMBA_CACHE_DIR: one folder per source directory, so
    # two installs sharing one cache directory never read each other's entries.
    return os.path.join(directory, _CacheLocator.get_suitable_cache_subpath(py_file))


class _Locator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """The chosen directory, readable even where it cannot be written."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = _cache_path(CACHE_DIR, py_file)

    def ensure_cache_path(self):
        if not CACHE_WRITABLE:
            raise OSError(f"{CACHE_DIR} is not writable")
        os.makedirs(self._cache_path, exist_ok=True)

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _Impl(CompileResultCacheImpl):
    _locator_classes = [_Locator]


def _sealed(payload):
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _unsealed(data):
    """The payload of a file :func:`_sealed` wrote, or None when it is damaged or foreign."""
    start = len(MAGIC) + _DIGEST_BYTES
    if len(data) < start or not data.startswith(MAGIC):
        return None
    payload = data[start:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC):start]:
        return None
    return payload


class _CheckedFiles(IndexDataCacheFile):
    """Numba's index and data files, each sealed with a checksum checked before unpickling."""

    def _read(self, path):
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return None
        payload = _unsealed(data)
        if payload is None:
            _discard(path)
        return payload

    def _write(self, path, payload):
        with self._open_for_write(path) as file:
            file.write(_sealed(payload))

    def _load_index(self):
        payload = self._read(self._index_path)
        if payload is None:
            return {}
        # The save after a failed load reads the index too: it must never raise.
        try:
            version, stamp, overloads = pickle.loads(payload)
        except Exception:  # a sealed file that is still not ours: start a new index
            return {}
        if version != self._version or stamp != self._source_stamp \
                or not isinstance(overloads, dict):
            return {}
        return overloads

    def _save_index(self, overloads):
        self._write(self._index_path,
                    self._dump((self._version, self._source_stamp, overloads)))

    def _load_data(self, name):
        payload = self._read(self._data_path(name))
        # Numba treats OSError here as "entry missing": the kernel is compiled.
        if payload is None:
            raise FileNotFoundError(name)
        return pickle.loads(payload)

    def _save_data(self, name, data):
        self._write(self._data_path(name), self._dump(data))


def _discard(path):
    try:
        os.unlink(path)
    except OSError:
        pass  # read-only: the entry is simply never used


class KernelCache(Cache):
    """A per-kernel cache that never raises: any failure is a miss, and the kernel compiles."""

    _impl_class = _Impl

    def __init__(self, py_func):
        super().__init__(py_func)
        stamp = self._impl.locator.get_source_stamp()
        base = self._impl.filename_base
        self._cache_file = _CheckedFiles(self._cache_path, base, stamp)
        self._readers = [self._cache_file]
        if CHOICE.prebuilt is not None:
            prebuilt = _cache_path(CHOICE.prebuilt, self._impl.locator._py_file)
            self._readers.insert(0, _CheckedFiles(prebuilt, base, stamp))

    def load_overload(self, sig, target_context):
        target_context.refresh()
        key = self._index_key(sig, target_context.codegen())
        for files in self._readers if self._enabled else ():
            # Whatever a damaged or foreign entry raises on the way in (pickle's many
            # errors, numba's own on an incompatible payload): the next directory, or
            # compiling anew, is the remedy for all of them, and the save that follows
            # a compile replaces the entry.
            try:
                data = files.load(key)
                result = None if data is None else self._impl.rebuild(target_context, data)
            except Exception:
                result = None
            if result is not None:
                _counts["loaded"] += 1
                return result
        _counts["compiled"] += 1
        _announce_compiling()
        return None

    def save_overload(self, sig, data):
        if not CACHE_WRITABLE:
            _warn_unsaved(f"{CACHE_DIR} is read-only")
            return
        try:
            super().save_overload(sig, data)
        except OSError as error:
            _warn_unsaved(error)

    def flush(self):
        if CACHE_WRITABLE:
            try:
                super().flush()
            except OSError as error:
                _warn_unsaved(error)


class _MemoryOnly(NullCache):
    """No cache at all; the first compile is announced and the missing cache warned about."""

    def __init__(self, reason):
        self._reason = reason

    def load_overload(self, sig, target_context):
        _counts["compiled"] += 1
        _announce_compiling()

    def save_overload(self, sig, cres):
        _warn_unsaved(self._reason)


def cache_for(py_func):
    """The cache for the kernel compiled from ``py_func``: a :class:`KernelCache`, or a
    stand-in that keeps nothing where no directory can be read."""
    if CACHE_DIR is None:
        return _MemoryOnly("no writable cache directory: the package and the user cache "
                           "directory are read-only")
    try:
        return KernelCache(py_func)
    # OSError: the kernel's source cannot be read (a frozen application);
    # RuntimeError: numba refused every locator in NUMBA_CACHE_LOCATOR_CLASSES.
    except (OSError, RuntimeError) as error:
        return _MemoryOnly(f"the cache for {py_func.__qualname__} could not be opened: {error}")


def attach(dispatcher):
    """Give ``dispatcher`` (a numba Dispatcher) its cache from :func:`cache_for`."""
    dispatcher._cache = cache_for(dispatcher.py_func)
    return dispatcher
