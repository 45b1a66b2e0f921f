"""numrnn works with the numba releases its tests passed on, and says so for others.

``numrnn/kernels/jit.py`` and ``kernel_cache.py`` rely on numba internals that
change between minor releases (under 0.59.1 a parallel driver failed to compile;
under 0.67.0 a driver was no longer cached whole), so ``setup.cfg`` pins the
range and ``import numrnn`` refuses any other release with a message naming both,
before anything imports those internals.
"""

import configparser
import json
import os
import re
import subprocess
import sys

import pytest

import numrnn
from numrnn import _numba_release
from numrnn.errors import UnsupportedDependencyError

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))


def _numba_requirement():
    config = configparser.ConfigParser()
    config.read(os.path.join(SOURCE_ROOT, "setup.cfg"))
    requirements = [line.strip() for line in config["options"]["install_requires"].splitlines()]
    (numba_line,) = [line for line in requirements if re.match(r"numba\b", line)]
    return numba_line


def test_setup_cfg_pins_the_releases_numrnn_supports():
    (first_major, first_minor), (end_major, end_minor) = _numba_release.SUPPORTED_NUMBA
    assert _numba_requirement() == (
        f"numba>={first_major}.{first_minor},<{end_major}.{end_minor}")


@pytest.mark.parametrize("version", ["0.68.0", "0.68.1", "0.68.12", "0.68.2rc1"])
def test_supported_releases_pass(version):
    _numba_release.check_numba_release(version)


@pytest.mark.parametrize("version", ["0.59.1", "0.67.0", "0.69.0", "0.69.0rc1", "1.0.0",
                                     "0.6", "unknown"])
def test_other_releases_are_refused_naming_what_is_needed_and_found(version):
    with pytest.raises(UnsupportedDependencyError,
                       match=rf"needs numba>=0\.68,<0\.69 .* found numba {re.escape(version)}"):
        _numba_release.check_numba_release(version)
    # An ImportError, as import numrnn raises it.
    assert issubclass(UnsupportedDependencyError, ImportError)


# A child that pretends numba 0.70.0 is installed and records whether numba's
# compiler internals had been imported when import numrnn refused it.
CHILD = r"""
import json, sys
from importlib import metadata
real_version = metadata.version
metadata.version = lambda name: "0.70.0" if name == "numba" else real_version(name)
try:
    import numrnn
except ImportError as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error),
                      "internals": "numba.core.codegen" in sys.modules}))
else:
    print(json.dumps({"error": None}))
"""


def test_import_numrnn_refuses_an_unsupported_numba_before_loading_its_internals():
    env = dict(os.environ, PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          env=env, cwd=SOURCE_ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] == "UnsupportedDependencyError"
    assert "found numba 0.70.0" in result["message"]
    assert result["internals"] is False
