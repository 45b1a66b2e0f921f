"""Kernel cache placement: a read-only install caches compiled kernels in a user directory.

The main test copies the package into a temporary directory, makes it read-only
and imports it in a fresh interpreter (no NUMBA_CACHE_DIR), twice: the first run
must compile and write its cache under ``$XDG_CACHE_HOME/numrnn``, the second
must load every kernel from there and compile nothing.
"""

import ctypes
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from numrnn import _cache

PACKAGE = os.path.dirname(os.path.abspath(_cache.__file__))

CHILD = r"""
import json, os, sys
probe = os.path.join(sys.argv[1], "numrnn", "probe")
try:
    open(probe, "w").close()
    writable = True
except OSError:
    writable = False
import numpy as np
import numba
import numrnn
from numrnn import _cache, nn
from numrnn.cli import info_text

# The streaming kernel: the smallest cache=True kernel with a layer in front of it.
nn.RNN(3, 4, rng=0).streamer().step(np.ones((1, 3), np.float32))
hits = misses = 0
for name, module in list(sys.modules.items()):
    if name.startswith("numrnn.kernels"):
        for value in vars(module).values():
            if isinstance(value, numba.core.dispatcher.Dispatcher):
                hits += sum(value.stats.cache_hits.values())
                misses += sum(value.stats.cache_misses.values())
print(json.dumps({"package_writable": writable, "file": numrnn.__file__,
                  "cache_dir": _cache.CACHE_DIR, "source": _cache.CACHE_SOURCE,
                  "info": info_text(), "hits": hits, "misses": misses}))
"""

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE = 24, 1


def _drop_root_write_override():
    # Root ignores file permissions through CAP_DAC_OVERRIDE; dropping it from the
    # bounding set before exec leaves the child unable to write read-only files.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _run_child(site, env):
    preexec = _drop_root_write_override if os.geteuid() == 0 else None
    try:
        # cwd: `python -c` puts the working directory first on sys.path, and a
        # checkout's own numrnn there would shadow the read-only copy.
        done = subprocess.run([sys.executable, "-c", CHILD, site], env=env, capture_output=True,
                              text=True, timeout=300, preexec_fn=preexec,
                              cwd=os.path.dirname(site))
    except subprocess.SubprocessError as error:
        # Raised as "Exception occurred in preexec_fn." when prctl is refused.
        if preexec is not None and "preexec_fn" in str(error):
            pytest.skip("cannot drop root's permission override (CAP_DAC_OVERRIDE) here")
        raise
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _make_read_only(top):
    for root, _, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o222)
        os.chmod(root, stat.S_IMODE(os.stat(root).st_mode) & ~0o222)


def test_read_only_install_caches_in_the_user_directory(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "numrnn", ignore=shutil.ignore_patterns("__pycache__"))
    _make_read_only(site)
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "xdg"),
               HOME=str(tmp_path / "home"))
    expected_dir = str(tmp_path / "xdg" / "numrnn")
    try:
        first = _run_child(str(site), env)
        if first["package_writable"]:
            pytest.skip("this machine lets the test write into a read-only directory")
        second = _run_child(str(site), env)
    finally:
        os.chmod(site, 0o755)  # let tmp_path be cleaned up
        for root, dirs, _ in os.walk(site):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)

    assert first["file"].startswith(str(site))
    assert first["cache_dir"] == expected_dir
    assert first["source"].startswith("user")
    assert f"kernel cache: {expected_dir}" in first["info"]
    cached = [name for _, _, files in os.walk(expected_dir) for name in files
              if name.endswith(".nbi")]
    assert cached, "no Numba index file was written to the user cache directory"
    assert first["misses"] > 0
    # The restart compiles nothing: every kernel it ran came from the cache.
    # (Only entry points count hits; kernels they call are linked into them.)
    assert second["misses"] == 0 and second["hits"] > 0
    assert not any(name == "__pycache__" for _, dirs, _ in os.walk(site) for name in dirs)


def test_numba_cache_dir_from_the_environment_wins(tmp_path):
    chosen = str(tmp_path / "mine")
    assert _cache.choose_cache_dir({"NUMBA_CACHE_DIR": chosen}) == (chosen, "NUMBA_CACHE_DIR")


def test_writable_package_keeps_the_in_tree_cache(tmp_path):
    directory, source = _cache.choose_cache_dir({}, in_tree_dir=str(tmp_path / "__pycache__"))
    assert (directory, source) == (None, "in-tree")


def test_unwritable_package_and_user_dirs(tmp_path):
    # A path below a regular file cannot be created, not even by root.
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = str(blocker / "__pycache__")
    xdg = str(tmp_path / "xdg")
    assert _cache.choose_cache_dir({"XDG_CACHE_HOME": xdg}, in_tree_dir=unwritable) == \
        (os.path.join(xdg, "numrnn"), "user (package directory is read-only)")
    directory, source = _cache.choose_cache_dir({"XDG_CACHE_HOME": str(blocker)},
                                                in_tree_dir=unwritable)
    assert directory is None and source.startswith("none")
