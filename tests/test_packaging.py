"""What the built wheel ships: the package's PEP 561 marker and the licence.

The wheel is built from a copy of the source tree (the build writes ``build/`` and
an ``.egg-info`` next to the sources) with the setuptools of the running
environment, so no network access is needed.
"""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import numrnn

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))
BUILD_INPUTS = ("numrnn", "setup.cfg", "pyproject.toml", "README.md", "LICENSE")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    pytest.importorskip("setuptools", minversion="70.1")
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in BUILD_INPUTS:
        origin = os.path.join(SOURCE_ROOT, name)
        if os.path.isdir(origin):
            shutil.copytree(origin, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        else:
            shutil.copy(origin, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("numrnn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_ships_the_py_typed_marker(wheel_names):
    # Without the marker, type checkers ignore the package's annotations (PEP 561).
    assert "numrnn/py.typed" in wheel_names


def test_wheel_ships_the_licence(wheel_names):
    assert any(name.endswith(".dist-info/licenses/LICENSE")
               or name.endswith(".dist-info/LICENSE") for name in wheel_names), wheel_names
