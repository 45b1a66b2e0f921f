"""mypy, configured by pyproject.toml's [tool.mypy], is clean on the package.

Runs in a child process with its cache turned off (``--cache-dir`` set to the null
device, mypy's documented way to write no cache): the check always starts cold, as
in CI's fresh environment, leaves nothing in the source tree, and spends no time
writing a cache nobody reads. About 5 s of CPU. Skipped where mypy is not installed
(it is in the ``test`` extra).
"""

import os
import subprocess
import sys

import pytest

import numrnn

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))


def test_mypy_reports_no_errors_on_the_package():
    pytest.importorskip("mypy")
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", os.devnull,
         "--no-error-summary", "--hide-error-context"],
        cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert checked.returncode == 0, f"mypy found errors:\n{checked.stdout}{checked.stderr}"
