"""Run ``python -m numrnn ...`` in a child process that imports this checkout's numrnn.

A crash is then a failed assertion on the exit status and stderr, never a dead
test run; the child's stderr is a pipe, not a terminal, as in a script or a log.
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_numrnn(*arguments, stdin=None, timeout=600):
    """``subprocess.CompletedProcess`` of ``python -m numrnn *arguments``, text mode."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "numrnn", *map(str, arguments)], cwd=ROOT,
                          env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


def assert_one_line_refusal(done, command):
    """Exit status 2 and exactly one stderr line ``numrnn COMMAND: error: ...``, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines()
             if not line.startswith("numrnn: compiling kernels")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"numrnn {command}: error: "), lines[0]
    return lines[0]
