"""Memory reused between kernel calls (numrnn.kernels.reused_memory): given back only when no
array from it is alive, the most recent block that fits taken first, safe across threads and
fork. How many pages a training step faults in is measured by perf/step_faults.py: the count
depends on the allocator's state, so it is no unit test."""

import gc
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import numrnn
from numrnn.kernels.reused_memory import KEPT, SMALLEST, ReusedMemory

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

# Two arrays of a (T, B, 4H) and a (T, B, H) residual at T = 50, B = 32, H = 128: 4 MB.
SHAPES = ((50, 32, 512), (50, 32, 128))


def _address(array):
    return array.__array_interface__["data"][0]


def test_arrays_are_consecutive_views_of_one_aligned_slab():
    wide, narrow = ReusedMemory().arrays(SHAPES, np.float32, False)
    assert wide.shape == SHAPES[0] and narrow.shape == SHAPES[1]
    assert wide.dtype == narrow.dtype == np.float32
    assert wide.flags.c_contiguous and narrow.flags.c_contiguous and wide.flags.writeable
    assert wide.base is narrow.base
    assert _address(narrow) == _address(wide) + wide.nbytes
    assert _address(wide) % 64 == 0


def test_memory_is_reused_once_every_array_is_gone():
    memory = ReusedMemory()
    first = _address(memory.arrays(SHAPES, np.float32, False)[0])
    assert _address(memory.arrays(SHAPES, np.float32, False)[0]) == first


def test_memory_is_not_reused_while_a_view_of_it_lives():
    memory = ReusedMemory()
    wide, narrow = memory.arrays(SHAPES, np.float32, False)
    # A view made from an array outlives the array itself.
    row = narrow[3].reshape(-1)
    first = _address(wide)
    del wide, narrow
    gc.collect()
    again = memory.arrays(SHAPES, np.float32, False)
    assert _address(again[0]) != first
    row[:] = 7.0
    again[1][...] = 0.0
    assert (row == 7.0).all()


def test_zeroed_arrays_hold_zeros_on_reused_memory():
    memory = ReusedMemory()
    for array in memory.arrays(SHAPES, np.float64, False):
        array.fill(3.0)
    wide, narrow = memory.arrays(SHAPES, np.float64, True)
    assert not wide.any() and not narrow.any()


def test_idle_memory_is_bounded_and_other_sizes_get_new_memory():
    memory = ReusedMemory()
    held = [memory.arrays(SHAPES, np.float32, False) for _ in range(KEPT + 2)]
    del held
    gc.collect()
    assert len(memory._idle) == KEPT
    other = memory.arrays(((50, 32, 768),), np.float32, False)[0]
    assert len(memory._idle) == KEPT and other.shape == (50, 32, 768)
    same_size = memory.arrays(((50, 32, 640),), np.float32, False)[0]
    assert len(memory._idle) == KEPT - 1 and same_size.shape == (50, 32, 640)


def test_small_arrays_are_plain_arrays():
    small = ((2, 4, 8),)
    assert 2 * 4 * 8 * 4 < SMALLEST
    array = ReusedMemory().arrays(small, np.float32, True)[0]
    assert array.shape == small[0] and not array.any()
    assert isinstance(array.base, np.ndarray) and array.base.flags.owndata


def test_concurrent_calls_never_share_live_memory():
    memory = ReusedMemory()
    failures = []

    def work(value):
        for _ in range(50):
            wide, narrow = memory.arrays(SHAPES, np.float32, False)
            wide.fill(value)
            narrow.fill(value)
            if not ((wide == value).all() and (narrow == value).all()):
                failures.append(value)

    threads = [threading.Thread(target=work, args=(float(value),)) for value in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_the_most_recently_freed_block_that_fits_is_taken():
    memory = ReusedMemory()
    older, newer = (memory.arrays(SHAPES, np.float32, False) for _ in range(2))
    older_address, newer_address = _address(older[0]), _address(newer[0])
    del older
    gc.collect()
    del newer
    gc.collect()
    assert _address(memory.arrays(SHAPES, np.float32, False)[0]) == newer_address
    # Smaller calls reuse a block up to twice their size, not one larger than that.
    fits = memory.arrays(((50, 32, 400),), np.float32, False)[0]
    assert _address(fits) in (older_address, newer_address)
    del fits
    gc.collect()
    too_small = memory.arrays(((50, 32, 200),), np.float32, False)[0]
    assert _address(too_small) not in (older_address, newer_address)


FORK_WHILE_LOCKED = r"""
import os, threading
import numpy as np
from numrnn.kernels.reused_memory import ReusedMemory

memory = ReusedMemory()
memory._lock.acquire()  # as another thread inside arrays() at the moment of the fork
pid = os.fork()
if pid == 0:
    # The child's first call must not wait for a lock held by a thread it lacks.
    done = threading.Event()
    threading.Thread(target=lambda: (memory.arrays(((50, 32, 640),), np.float32, False),
                                     done.set()), daemon=True).start()
    os._exit(0 if done.wait(30) else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_locks_no_thread_holds():
    child = subprocess.run([sys.executable, "-c", FORK_WHILE_LOCKED], cwd=SOURCE_ROOT,
                           env={**os.environ, "PYTHONPATH": SOURCE_ROOT}, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().splitlines()[-1] == "0"
