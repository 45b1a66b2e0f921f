"""numrnn works with the numba releases its tests passed on, and says so for others.

``numrnn/kernels/jit.py`` relies on numba internals that change between minor
releases (under 0.59 a parallel driver fails to compile; under 0.67 a driver is
no longer cached whole), so ``setup.cfg`` pins the range and ``import numrnn``
refuses any other release with a message naming both.
"""

import configparser
import os
import re
from collections import namedtuple

import pytest

import numrnn
from numrnn.errors import UnsupportedDependencyError
from numrnn.kernels import jit

SETUP_CFG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__))),
                         "setup.cfg")
VersionInfo = namedtuple("VersionInfo", "short string")


def _numba_requirement():
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    requirements = [line.strip() for line in config["options"]["install_requires"].splitlines()]
    (numba_line,) = [line for line in requirements if re.match(r"numba\b", line)]
    return numba_line


def test_setup_cfg_pins_the_releases_jit_supports():
    (first_major, first_minor), (end_major, end_minor) = jit.SUPPORTED_NUMBA
    assert _numba_requirement() == (
        f"numba>={first_major}.{first_minor},<{end_major}.{end_minor}")


@pytest.mark.parametrize("release", [(0, 68, 0), (0, 68, 1), (0, 68, 9)])
def test_supported_releases_pass(release):
    jit._check_numba_release(VersionInfo(release[:2], ".".join(map(str, release))))


@pytest.mark.parametrize("release", [(0, 59, 1), (0, 67, 0), (0, 69, 0), (1, 0, 0)])
def test_other_releases_are_refused_naming_what_is_needed_and_found(release):
    found = ".".join(map(str, release))
    with pytest.raises(UnsupportedDependencyError,
                       match=rf"needs numba >=0\.68,<0\.69 .* found numba {re.escape(found)}"):
        jit._check_numba_release(VersionInfo(release[:2], found))
    # An ImportError, as import numrnn raises it.
    assert issubclass(UnsupportedDependencyError, ImportError)
