"""A process forked while another thread holds the BLAS pinning's lock, or is inside
``single_threaded_kernel_blas``, must neither wait for that lock forever nor keep the
pinned OpenBLAS copy at one thread for good: the thread that would release either does
not exist in the child. Each case forks in a child process, so a hang is a failed test."""

import os
import subprocess
import sys

import pytest

import numrnn
from numrnn.kernels import blas_threads

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

FORK_WHILE_A_THREAD_IS_INSIDE = r"""
import os, threading
from numrnn.kernels import blas_threads

library = blas_threads.pinned_library()
blas_threads.set(library, 2)
entered, leave = threading.Event(), threading.Event()


def kernel_call():
    with blas_threads.single_threaded_kernel_blas():
        entered.set()
        leave.wait()


worker = threading.Thread(target=kernel_call, daemon=True)
worker.start()
entered.wait()
assert blas_threads.get(library) == 1
if HOLD_LOCK:
    blas_threads._lock.acquire()  # as the worker inside __enter__ at the fork
pid = os.fork()
if pid == 0:
    done = threading.Event()
    counts = []

    def child_call():
        counts.append(blas_threads.get(library))
        with blas_threads.single_threaded_kernel_blas():
            counts.append(blas_threads.get(library))
        counts.append(blas_threads.get(library))
        done.set()

    threading.Thread(target=child_call, daemon=True).start()
    # Back at 2 with no kernel inside; 1 inside; 2 again after.
    os._exit(0 if done.wait(30) and counts == [2, 1, 2] else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif(blas_threads.pinned_library() is None,
                    reason="no OpenBLAS copy under numrnn's control")
@pytest.mark.parametrize("hold_lock", [False, True], ids=["inside", "holding the lock"])
def test_a_forked_child_starts_with_no_kernel_inside_and_a_free_lock(hold_lock):
    script = f"HOLD_LOCK = {hold_lock}\n" + FORK_WHILE_A_THREAD_IS_INSIDE
    child = subprocess.run([sys.executable, "-c", script], cwd=SOURCE_ROOT,
                           env={**os.environ, "PYTHONPATH": SOURCE_ROOT}, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().splitlines()[-1] == "0"
