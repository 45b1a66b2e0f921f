"""The numba releases numrnn works with, checked first thing at ``import numrnn``.

``numrnn/kernels/jit.py`` and ``numrnn/kernels/kernel_cache.py`` reach into numba's
compiler and cache (code libraries, pass pipelines, the codegen's library class,
cache locators), which numba changes between minor releases without notice: under
numba 0.59.1 a parallel driver failed to compile, under 0.67.0 a driver was no
longer cached whole. A release that renamed one of those internals would fail
with a bare ``ImportError`` before any check inside them ran, so the release is
read here, from the installed distribution's metadata, before anything imports
numba. Importing this module runs the check.
"""

import re
from importlib import metadata

from numrnn.errors import UnsupportedDependencyError

# [first, end): the releases the test suite passed on. setup.cfg asks for the same
# (tests/test_numba_release.py checks that they agree).
SUPPORTED_NUMBA = ((0, 68), (0, 69))


def _requirement() -> str:
    (first_major, first_minor), (end_major, end_minor) = SUPPORTED_NUMBA
    return f"numba>={first_major}.{first_minor},<{end_major}.{end_minor}"


def installed_numba_version() -> str:
    """The installed numba's version string, from its metadata (numba is not imported
    unless the metadata is missing)."""
    try:
        return metadata.version("numba")
    except metadata.PackageNotFoundError:
        import numba  # an installation without metadata: ask the package itself

        return str(numba.__version__)


def check_numba_release(version: str | None = None) -> None:
    """Raise :class:`~numrnn.errors.UnsupportedDependencyError` unless ``version``
    (by default the installed numba's) is a supported release."""
    if version is None:
        version = installed_numba_version()
    match = re.match(r"(\d+)\.(\d+)", version)
    release = (int(match.group(1)), int(match.group(2))) if match else None
    first, end = SUPPORTED_NUMBA
    if release is None or not first <= release < end:
        raise UnsupportedDependencyError(
            f"numrnn needs {_requirement()} (its kernel compiler relies on numba "
            f"internals of those releases); found numba {version}. Install a "
            f"supported release: pip install '{_requirement()}'")


check_numba_release()
