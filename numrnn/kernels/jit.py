"""The one place kernels get their Numba options.

``error_model="numpy"`` drops the zero-division branch that numba's default
("python") adds to every float division; that branch stops LLVM from
vectorising loops. ``cache=True`` keeps compiled code across processes and
``nogil=True`` lets server threads run kernels at the same time.

``inline_kernel`` is for the small per-element helpers called inside the
kernels' vectorised loops: Numba inlines it into the caller before LLVM sees
the loop. A helper compiled as a separate function (``kernel``) can stay an
out-of-line call per element, which stops the loop from vectorising (measured:
LSTM gate loop 29 ns per element instead of 4.5). It is not cached on its own;
its callers are.
"""

import numba
from numba.core.cpu import ParallelOptions

kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
# Only explicit prange loops run in parallel: with numba's default parallel
# options every np.zeros or array expression in a kernel's body would become a
# parallel region of its own, started and joined even for a few hundred
# elements (the forward kernels allocate their outputs).
# An options object, not a dict: numba pops the keys of a dict while compiling
# the first signature, so every later one would get the defaults.
PRANGE_ONLY = ParallelOptions({"prange": True, "numpy": False, "comprehension": False,
                               "reduction": False, "inplace_binop": False, "setitem": False,
                               "stencil": False, "fusion": False})
parallel_kernel = numba.njit(cache=True, nogil=True, error_model="numpy", parallel=PRANGE_ONLY)
inline_kernel = numba.njit(inline="always", nogil=True, error_model="numpy")
