"""Memory for a kernel's (T, B, N) residuals and gradients, kept between calls and reused.

A training step allocates its residuals in the forward kernel and its
gradient arrays in the backward kernel, and frees both when the step's graph
goes. Freed together, several megabytes at the top of the heap exceed glibc's
trim threshold (twice the largest block it has handed back to the system, a
threshold that moves with the sizes freed), so the memory goes back to the
system after every step and the next step's first writes fault it in again,
4 KB at a time, each page zeroed by the kernel. At B = 32, T = 50, I = 64,
H = 128, float32, one thread, in CPU time: an LSTM step faulted 1968 pages
(8 MB) and took 19.5-21 ms, against 14.5-15 ms for its forward and backward
timed apart, where nothing faulted; a GRU step faulted 1168 and took 15.2 ms
(12.1 without the faults). At B = 8 the arrays mostly fit what glibc keeps
(0-470 faults a step); at B = 64 the LSTM faulted 1124 pages, a smaller part
of a longer step.

:class:`ReusedMemory` keeps the memory instead: each call site holds one, and
:meth:`ReusedMemory.arrays` carves a call's arrays from memory the site used
before once nothing refers to those arrays any more. Whether they are still
referred to is not guessed from reference counts: the arrays are views of an array
made over the block through a ``memoryview``, and a weak reference to that array
gives the memory back to its site when the last view dies (NumPy collapses the
bases of views onto the first array over the memory, and stops there since a
``memoryview`` is another type). The arrays' contents are whatever the memory held, or zeros
where asked for: the kernels write every position they later read (or ask for
zeros where they skip padding), so their results are the same bits as with
fresh arrays.

Each site keeps at most :data:`KEPT` idle blocks (the most recently freed): the
memory held between steps, and after the last one until the process ends, is
at most that many calls' arrays per site, and only as many as were ever alive
at once (one for a single layer's training loop, one per layer and direction
for a stack). A call takes the most recently freed idle block that fits, up to
twice its size, so batches whose length changes from call to call still reuse
memory. Arrays
under :data:`SMALLEST` bytes in all, which glibc serves from memory it keeps,
are plain NumPy arrays.
"""

import math
import os
import threading
import weakref

import numpy as np

__all__ = ["KEPT", "SMALLEST", "ReusedMemory"]

# Idle blocks a site keeps. Two cover a layer's step followed by the next one
# while the previous step's output is still held; stacked and bidirectional
# layers call each site once per layer and direction, so a two-layer
# bidirectional stack keeps four alive until its backward.
KEPT = 4

# Calls whose arrays take fewer bytes than this get plain arrays: the weak
# reference and the bookkeeping cost a few µs, a sizeable part of a cell step,
# and glibc keeps blocks this small in its heap anyway.
SMALLEST = 256 * 1024

# Where a slab starts: on a cache line, so that rows that start on a line keep
# the kernels' vector loads from straddling lines.
_ALIGNMENT = 64

# Every site, so that a forked child can give each a lock no thread holds.
_SITES: "weakref.WeakSet[ReusedMemory]" = weakref.WeakSet()


def _fresh_locks_after_fork():
    for site in list(_SITES):
        site._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    # A thread of the parent may hold a site's lock at the fork; in the child that
    # thread does not exist, and the site's next call would wait for it forever.
    os.register_at_fork(after_in_child=_fresh_locks_after_fork)


class ReusedMemory:
    """One call site's memory for its arrays, reused once the previous call's arrays are gone.

    Thread-safe: concurrent calls each get memory no other live array uses.
    """

    __slots__ = ("_idle", "_watched", "_lock", "__weakref__")

    def __init__(self):
        # id(block) -> block, oldest first: memory no live array refers to.
        self._idle = {}
        # id(reference) -> reference: the weak references that give blocks back,
        # kept alive until they fire (a weak reference to an array is unhashable).
        self._watched = {}
        # Reentrant: a weak reference can fire inside arrays(), when a collection
        # run by an allocation there frees an old slab.
        self._lock = threading.RLock()
        _SITES.add(self)

    def arrays(self, shapes, dtype, zeroed):
        """C-contiguous arrays of ``shapes`` and ``dtype``, one after another in one slab.

        Parameters
        ----------
        shapes : sequence of tuple of int
        dtype : numpy dtype
        zeroed : bool
            Whether the arrays must hold zeros; else their contents are arbitrary.

        Returns
        -------
        list of ndarray
            Views of one slab, which keeps its memory until all of them (and
            every view made from them) are gone; the memory then serves a later call.
        """
        dtype = np.dtype(dtype)
        sizes = [math.prod(shape) for shape in shapes]
        total = sum(sizes)
        if total * dtype.itemsize < SMALLEST:
            slab = (np.zeros if zeroed else np.empty)(total, dtype=dtype)
        else:
            slab = self._slab(total, dtype, zeroed)
        parts, offset = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(slab[offset:offset + size].reshape(shape))
            offset += size
        return parts

    def _slab(self, total, dtype, zeroed):
        """A 1-D array of ``total`` elements on an idle block of the right size, or a new one."""
        length = total * dtype.itemsize + _ALIGNMENT
        with self._lock:
            block = None
            # The most recently freed block that fits (its pages the likeliest in cache),
            # and not more than twice the size asked for.
            for key in reversed(list(self._idle)):
                if length <= self._idle[key].size <= 2 * length:
                    block = self._idle.pop(key)
                    break
            reused = block is not None
            if not reused:
                # A NumPy array, not a bytearray: NumPy asks for transparent huge pages
                # for blocks of 4 MB and more, and allocates without writing.
                block = (np.zeros if zeroed else np.empty)(length, dtype=np.uint8)
            # Every view made from `whole` keeps `whole` as its base (NumPy collapses a
            # view's base onto the first array over the memory, and `whole`'s own base
            # is a memoryview): it dies with the last view.
            whole = np.frombuffer(memoryview(block), dtype=np.uint8)
            reference = weakref.ref(whole, self._release_callback(block))
            self._watched[id(reference)] = reference
        start = -whole.__array_interface__["data"][0] % _ALIGNMENT
        slab = whole[start:start + total * dtype.itemsize].view(dtype)
        if zeroed and reused:
            slab.fill(0)
        return slab

    def _release_callback(self, block):
        """What the slab's weak reference calls when the slab dies: ``block`` goes idle."""
        def release(reference):
            with self._lock:
                del self._watched[id(reference)]
                self._idle[id(block)] = block
                while len(self._idle) > KEPT:
                    del self._idle[next(iter(self._idle))]
        return release
