"""The one place kernels get their Numba options and their cache.

Every cached kernel is made by :func:`jit` (or one of the decorators below,
made by it), so all of them share :mod:`numrnn.kernels.kernel_cache` and the
same base options:

- ``error_model="numpy"`` drops the zero-division branch that numba's default
  ("python") adds to every float division; that branch stops LLVM from
  vectorising loops.
- ``nogil=True`` lets server threads run kernels at the same time.

``inline_kernel`` is for the small per-element helpers called inside the
kernels' vectorised loops: Numba inlines it into the caller before LLVM sees
the loop. A helper compiled as a separate function (``kernel``) can stay an
out-of-line call per element, which stops the loop from vectorising (measured:
LSTM gate loop 29 ns per element instead of 4.5). It is not cached on its own;
its callers are.

Nothing is compiled when a kernel module is imported: each kernel compiles (or
loads from the cache) at its first call with a new signature.

A kernel called from another compiles for the types its caller passes, and
numba types a literal ``0`` as ``Literal[int](0)``, and a ``prange`` index as
int64 while typing the loop and as uint64 in the parallel body it makes: the
same block function compiled up to three times. So callers pass block and chunk
indices as ``np.int64(...)``. With an empty cache, the first LSTM forward and
backward (B = 16) compiled 109 functions, 33 of its 132 s in such duplicates
(measured on a loaded machine: ``perf/cold_start.py --compile-events``).
"""

import numba
from numba.core import config
from numba.core.compiler_lock import global_compiler_lock
from numba.core.cpu import ParallelOptions
from numba.core.registry import CPUDispatcher

from numrnn.kernels import kernel_cache, threading_layer

# Before any kernel can run in parallel: numba picks its threading layer at the
# first parallel call, and TBB is the one that survives fork.
threading_layer.prefer_tbb()

_BASE_OPTIONS = {"nopython": True, "nogil": True, "error_model": "numpy"}


class _Kernel(CPUDispatcher):
    """A numba dispatcher whose cache is numrnn's (``enable_caching`` is numba's hook)."""

    def enable_caching(self):
        kernel_cache.attach(self)


class _SLPVectorisedKernel(_Kernel):
    """Compiled with LLVM's SLP vectoriser on, which numba leaves off by default.

    The switch is numba's process-wide ``config.SLP_VECTORIZE``, read when a
    compiled module is optimised, which happens inside ``compile``. Holding
    numba's compiler lock around the switch keeps every other compilation (all
    of them take that lock) from seeing it, whichever thread it runs in. It
    applies to whatever triggers the compile: a direct call, or a caller being
    compiled that calls this kernel.
    """

    def compile(self, sig):
        with global_compiler_lock:
            # numba's compiler re-reads every NUMBA_* variable when one of them has
            # changed since it last looked, which would reset the switch mid-compile:
            # let it look now, before the switch is set.
            config.reload_config()
            previous = config.SLP_VECTORIZE
            config.SLP_VECTORIZE = 1
            try:
                return super().compile(sig)
            finally:
                config.SLP_VECTORIZE = previous


def jit(*, slp_vectorize=False, **options):
    """A decorator making a cached kernel: numba's ``njit`` with the base options
    above, ``options`` on top, and :class:`~numrnn.kernels.kernel_cache.KernelCache`."""
    dispatcher_class = _SLPVectorisedKernel if slp_vectorize else _Kernel

    def decorate(function):
        if config.DISABLE_JIT:
            return function
        dispatcher = dispatcher_class(py_func=function, locals={},
                                      targetoptions={**_BASE_OPTIONS, **options})
        dispatcher.enable_caching()
        return dispatcher

    return decorate


# Only explicit prange loops run in parallel: with numba's default parallel
# options every np.zeros or array expression in a kernel's body would become a
# parallel region of its own, started and joined even for a few hundred
# elements (the forward kernels allocate their outputs).
# An options object, not a dict: numba pops the keys of a dict while compiling
# the first signature, so every later one would get the defaults.
PRANGE_ONLY = ParallelOptions({"prange": True, "numpy": False, "comprehension": False,
                               "reduction": False, "inplace_binop": False, "setitem": False,
                               "stencil": False, "fusion": False})

kernel = jit()
parallel_kernel = jit(parallel=PRANGE_ONLY)
# FMA contraction, for kernels made of multiply-adds: "contract" changes no
# result by more than the rounding of one multiply.
product_kernel = jit(fastmath={"contract"})
inline_kernel = numba.njit(inline="always", nogil=True, error_model="numpy")
