"""The kernel cache (numrnn.kernels.kernel_cache) on real installs, each case in fresh processes.

Every scenario runs the package in child interpreters, as a server would start:
a read-only install caches in the user directory; a read-only install with a
read-only home compiles in memory and says so once; a read-only cache that
already holds kernels (a baked image) is used as it is; a damaged cache heals;
importing compiles nothing; the first compile prints one line.
"""

import ctypes
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys

import numba
import pytest

import numrnn
from numrnn.kernels import kernel_cache

PACKAGE = os.path.dirname(os.path.abspath(numrnn.__file__))
SOURCE_ROOT = os.path.dirname(PACKAGE)

CHILD = r"""
import json, os, sys, warnings
warnings.simplefilter("always")
probe = os.path.join(sys.argv[1], "numrnn", "probe")
try:
    open(probe, "w").close()
    writable = True
except OSError:
    writable = False
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numpy as np
    import numba
    import numrnn
    from numrnn import nn
    from numrnn.kernels import kernel_cache
    from numrnn.cli import info_text

    at_import = kernel_cache.counts()
    # The streaming kernel: the smallest cached kernel with a layer in front of it.
    output = nn.RNN(3, 4, rng=0).streamer().step(np.ones((1, 3), np.float32))
    if "--also-gru" in sys.argv:
        nn.GRU(3, 4, rng=0).streamer().step(np.ones((1, 3), np.float32))
hits = misses = 0
for name, module in list(sys.modules.items()):
    if name.startswith("numrnn.kernels"):
        for value in vars(module).values():
            if isinstance(value, numba.core.dispatcher.Dispatcher):
                hits += sum(value.stats.cache_hits.values())
                misses += sum(value.stats.cache_misses.values())
print(json.dumps({"package_writable": writable, "file": numrnn.__file__,
                  "cache_dir": kernel_cache.CACHE_DIR, "source": kernel_cache.CACHE_SOURCE,
                  "info": info_text(), "hits": hits, "misses": misses,
                  "at_import": at_import, "counts": kernel_cache.counts(),
                  "output": output.tolist(),
                  "warnings": [[w.category.__name__, str(w.message)] for w in caught]}))
"""

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE = 24, 1


def _drop_root_write_override():
    # Root ignores file permissions through CAP_DAC_OVERRIDE; dropping it from the
    # bounding set before exec leaves the child unable to write read-only files.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _run_child(site, env, read_only=True, also_gru=False):
    """Run CHILD with ``site`` first on the path; returns (its JSON report, its stderr)."""
    preexec = _drop_root_write_override if read_only and os.geteuid() == 0 else None
    try:
        # cwd: `python -c` puts the working directory first on sys.path, and a
        # checkout's own numrnn there would shadow the copy under test.
        done = subprocess.run([sys.executable, "-c", CHILD, site, *["--also-gru"] * also_gru],
                              env=env, capture_output=True,
                              text=True, timeout=300, preexec_fn=preexec,
                              cwd=os.path.dirname(site))
    except subprocess.SubprocessError as error:
        # Raised as "Exception occurred in preexec_fn." when prctl is refused.
        if preexec is not None and "preexec_fn" in str(error):
            pytest.skip("cannot drop root's permission override (CAP_DAC_OVERRIDE) here")
        raise
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _make_read_only(top):
    for root, _, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o222)
        os.chmod(root, stat.S_IMODE(os.stat(root).st_mode) & ~0o222)


def _make_writable(top):
    """Undo :func:`_make_read_only`, so that tmp_path can be cleaned up."""
    for root, dirs, files in os.walk(top):
        os.chmod(root, 0o755)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def _run_read_only(site, home, env):
    """:func:`_run_child` with the package copy ``site`` and ``home`` read-only."""
    _make_read_only(site)
    _make_read_only(home)
    try:
        return _run_child(str(site), env)
    finally:
        _make_writable(site)
        _make_writable(home)


def _copy_package(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "numrnn", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def _environment(tmp_path, **changes):
    """os.environ without a cache directory, with a home and XDG dir of the test's own."""
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    env.update(changes)
    return env


def _index_files(directory):
    return [name for _, _, files in os.walk(directory) for name in files
            if name.endswith(".nbi")]


def _compile_notices(stderr):
    return [line for line in stderr.splitlines() if line.startswith("numrnn: compiling")]


def test_read_only_install_caches_in_the_user_directory(tmp_path):
    site = _copy_package(tmp_path)
    _make_read_only(site)
    env = _environment(tmp_path, PYTHONPATH=str(site))
    expected_dir = str(tmp_path / "xdg" / "numrnn")
    try:
        first, _ = _run_child(str(site), env)
        if first["package_writable"]:
            pytest.skip("this machine lets the test write into a read-only directory")
        second, _ = _run_child(str(site), env)
    finally:
        _make_writable(site)

    assert first["file"].startswith(str(site))
    assert first["cache_dir"] == expected_dir
    assert first["source"].startswith("user")
    assert f"kernel cache: {expected_dir}" in first["info"]
    assert _index_files(expected_dir), "no Numba index file was written to the user cache"
    assert first["misses"] > 0
    # The restart compiles nothing: every kernel it ran came from the cache.
    # (Only entry points count hits; kernels they call are linked into them.)
    assert second["misses"] == 0 and second["hits"] > 0
    assert not any(name == "__pycache__" for _, dirs, _ in os.walk(site) for name in dirs)


def test_read_only_install_and_home_compile_in_memory_with_one_warning(tmp_path):
    site = _copy_package(tmp_path)
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    env = _environment(tmp_path, PYTHONPATH=str(site))
    env.pop("XDG_CACHE_HOME")
    report, stderr = _run_read_only(site, home, env)
    if report["package_writable"]:
        pytest.skip("this machine lets the test write into a read-only directory")

    assert report["cache_dir"] is None and report["source"].startswith("none")
    assert "kernel cache: none: kernels compile on every start" in report["info"]
    assert report["counts"]["compiled"] > 0 and report["counts"]["loaded"] == 0
    cache_warnings = [message for category, message in report["warnings"]
                      if category == "KernelCacheWarning"]
    assert len(cache_warnings) == 1, report["warnings"]
    assert "NUMBA_CACHE_DIR" in cache_warnings[0] and "numrnn warmup" in cache_warnings[0]
    notices = _compile_notices(stderr)
    assert len(notices) == 1 and "kept in memory only" in notices[0]
    assert not _index_files(tmp_path)


def test_read_only_cache_directory_with_kernels_is_used_as_it_is(tmp_path, pristine_cache):
    # The pristine cache was baked by the same child with the same kind of environment.
    pristine, baked, _ = pristine_cache
    cache = tmp_path / "prebuilt"
    shutil.copytree(pristine, cache)
    env = _environment(tmp_path, PYTHONPATH=SOURCE_ROOT, NUMBA_CACHE_DIR=str(cache))
    assert baked["counts"]["compiled"] > 0 and _index_files(cache)
    _make_read_only(cache)
    try:
        served, stderr = _run_child(PACKAGE, env)
    finally:
        _make_writable(cache)

    assert served["cache_dir"] == str(cache) and "read-only" in served["info"]
    assert served["counts"]["compiled"] == 0 and served["counts"]["loaded"] > 0
    assert served["warnings"] == [] and _compile_notices(stderr) == []
    assert served["output"] == baked["output"]


@pytest.fixture(scope="module")
def baked_site(tmp_path_factory):
    """A writable package copy whose in-tree cache the child filled (an image baked at
    build time), and the child's report. Tests copy it: the copy keeps the sources'
    modification times, which the cache's index checks, so its kernels stay valid."""
    top = tmp_path_factory.mktemp("baked")
    site = _copy_package(top)
    baked, _ = _run_child(str(site), _environment(top, PYTHONPATH=str(site)), read_only=False)
    assert baked["source"] == "in-tree" and baked["counts"]["compiled"] > 0
    return site, baked


def _copy_baked_site(baked_site, tmp_path):
    site, baked = baked_site
    shutil.copytree(site, tmp_path / "site")
    return tmp_path / "site", baked


def test_read_only_package_with_a_baked_in_tree_cache_reads_it(tmp_path, baked_site):
    site, baked = _copy_baked_site(baked_site, tmp_path)
    env = _environment(tmp_path, PYTHONPATH=str(site))
    _make_read_only(site)
    try:
        served, stderr = _run_child(str(site), env)
        # A kernel the image lacks is compiled once and kept in the user directory.
        extended, _ = _run_child(str(site), env, also_gru=True)
        again, _ = _run_child(str(site), env, also_gru=True)
    finally:
        _make_writable(site)
    if served["package_writable"]:
        pytest.skip("this machine lets the test write into a read-only directory")

    assert served["source"].startswith("user, after the kernels pre-built")
    assert served["counts"]["compiled"] == 0 and served["counts"]["loaded"] > 0
    assert served["warnings"] == [] and _compile_notices(stderr) == []
    assert served["output"] == baked["output"]
    assert extended["counts"]["compiled"] > 0 and _index_files(tmp_path / "xdg")
    assert again["counts"]["compiled"] == 0 and again["warnings"] == []


def test_read_only_package_and_home_with_a_baked_cache_read_it_alone(tmp_path, baked_site):
    site, baked = _copy_baked_site(baked_site, tmp_path)
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    env = _environment(tmp_path, PYTHONPATH=str(site))
    env.pop("XDG_CACHE_HOME")
    served, stderr = _run_read_only(site, home, env)
    if served["package_writable"]:
        pytest.skip("this machine lets the test write into a read-only directory")

    assert served["source"] == "in-tree, read-only (pre-built)"
    assert served["counts"]["compiled"] == 0 and served["counts"]["loaded"] > 0
    assert served["warnings"] == [] and _compile_notices(stderr) == []
    assert served["output"] == baked["output"]


# -- damage --------------------------------------------------------------------------
def _truncate(path):
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) // 2)


def _flip_middle(path):
    with open(path, "r+b") as file:
        data = bytearray(file.read())
        middle = len(data) // 2
        data[middle:middle + 16] = bytes(255 - byte for byte in data[middle:middle + 16])
        file.seek(0)
        file.write(data)


def _random_bytes(path):
    with open(path, "wb") as file:
        file.write(os.urandom(4096))


def _empty(path):
    open(path, "wb").close()


def _numba_format(path):
    # What numba's own cache (and numrnn before it) wrote under the same name.
    with open(path, "wb") as file:
        pickle.dump(numba.__version__, file, protocol=-1)
        file.write(pickle.dumps((b"stamp", {}), protocol=-1))


DAMAGE = {
    "truncated index": (".nbi", _truncate),
    "truncated data": (".nbc", _truncate),
    "garbled data": (".nbc", _flip_middle),
    "garbled index": (".nbi", _flip_middle),
    "random bytes": (".nbc", _random_bytes),
    "empty files": ("", _empty),
    "numba's own format": (".nbi", _numba_format),
}


@pytest.fixture(scope="module")
def pristine_cache(tmp_path_factory):
    """A cache directory holding the child's kernels, compiled cold into it, and the
    child's report and stderr. Tests copy it rather than each compiling the same
    kernels into a cache of their own."""
    top = tmp_path_factory.mktemp("pristine")
    env = _environment(top, PYTHONPATH=SOURCE_ROOT, NUMBA_CACHE_DIR=str(top / "cache"))
    report, stderr = _run_child(PACKAGE, env, read_only=False)
    assert report["counts"]["compiled"] > 0
    return top / "cache", report, stderr


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_cache_is_discarded_recompiled_and_healed(tmp_path, pristine_cache, damage):
    pristine, expected, _ = pristine_cache
    cache = tmp_path / "cache"
    shutil.copytree(pristine, cache)
    suffix, harm = DAMAGE[damage]
    damaged = [os.path.join(root, name) for root, _, files in os.walk(cache)
               for name in files if name.endswith(suffix)]
    assert damaged
    for path in damaged:
        harm(path)
    env = _environment(tmp_path, PYTHONPATH=SOURCE_ROOT, NUMBA_CACHE_DIR=str(cache))

    recovered, _ = _run_child(PACKAGE, env, read_only=False)
    healed, _ = _run_child(PACKAGE, env, read_only=False)

    assert recovered["output"] == expected["output"]
    assert recovered["counts"]["compiled"] > 0
    assert healed["output"] == expected["output"]
    assert healed["counts"]["compiled"] == 0 and healed["counts"]["loaded"] > 0


# -- import and the first compile -----------------------------------------------------
IMPORT_CHILD = r"""
import json, re
import numba
from numba.core import config
slp_before = config.SLP_VECTORIZE
import numpy as np
import numrnn
from numrnn import nn
from numrnn.kernels import _tiles, kernel_cache

report = {"at_import": kernel_cache.counts(),
          "tiles_at_import": len(_tiles.tile_4.overloads) + len(_tiles.tile_1.overloads),
          "slp_after_import": config.SLP_VECTORIZE}
# float32 blocks past MAX_ROWS rows run on the packed tiles
with numrnn.no_grad():
    nn.LSTM(16, 64, rng=0)(np.ones((3, 40, 16), np.float32))
asm = "".join(_tiles.tile_4.inspect_asm().values())
report.update(slp_before=slp_before, slp_after_compiling=config.SLP_VECTORIZE,
              tiles_after=len(_tiles.tile_4.overloads),
              packed_fmas=len(re.findall(r"vfmadd\w*ps\b[^\n]*%[yz]mm", asm)),
              counts=kernel_cache.counts())
print(json.dumps(report))
"""


def test_import_compiles_nothing_and_the_tiles_keep_their_vectorisation(tmp_path):
    env = _environment(tmp_path, PYTHONPATH=SOURCE_ROOT, NUMBA_CACHE_DIR=str(tmp_path / "c"))
    done = subprocess.run([sys.executable, "-c", IMPORT_CHILD], env=env, capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["at_import"] == {"loaded": 0, "compiled": 0}
    assert report["tiles_at_import"] == 0
    # numba's switch is process-wide: other threads' compilations must never see it on.
    assert report["slp_after_import"] == report["slp_before"]
    assert report["slp_after_compiling"] == report["slp_before"]
    assert report["tiles_after"] > 0 and report["packed_fmas"] >= 16
    assert report["counts"]["compiled"] > 0
    notices = _compile_notices(done.stderr)
    assert len(notices) == 1 and "numrnn warmup" in notices[0]


def test_a_warm_start_prints_no_compile_notice(tmp_path, pristine_cache):
    # The pristine cache's child was the cold start.
    pristine, _, cold_stderr = pristine_cache
    shutil.copytree(pristine, tmp_path / "c")
    env = _environment(tmp_path, PYTHONPATH=SOURCE_ROOT, NUMBA_CACHE_DIR=str(tmp_path / "c"))
    warm, warm_stderr = _run_child(PACKAGE, env, read_only=False)
    assert len(_compile_notices(cold_stderr)) == 1
    assert _compile_notices(warm_stderr) == [] and warm["counts"]["compiled"] == 0


# -- the directory rules --------------------------------------------------------------
def test_numba_cache_dir_from_the_environment_wins(tmp_path):
    chosen = str(tmp_path / "mine")
    assert kernel_cache.choose_cache_dir({"NUMBA_CACHE_DIR": chosen})[:2] == \
        (chosen, "NUMBA_CACHE_DIR")


def test_writable_package_keeps_the_in_tree_cache(tmp_path):
    in_tree = str(tmp_path / "__pycache__")
    assert kernel_cache.choose_cache_dir({}, in_tree_dir=in_tree) == \
        (in_tree, "in-tree", True, None)


def test_unwritable_package_and_user_dirs(tmp_path):
    # A path below a regular file cannot be created, not even by root.
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = str(blocker / "__pycache__")
    xdg = str(tmp_path / "xdg")
    assert kernel_cache.choose_cache_dir({"XDG_CACHE_HOME": xdg}, in_tree_dir=unwritable) == \
        (os.path.join(xdg, "numrnn"), "user (package directory is read-only)", True, None)
    choice = kernel_cache.choose_cache_dir({"XDG_CACHE_HOME": str(blocker)},
                                           in_tree_dir=unwritable)
    assert choice.directory is None and choice.source.startswith("none")

