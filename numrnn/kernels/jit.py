"""The one place kernels get their Numba options.

``error_model="numpy"`` drops the zero-division branch that numba's default
("python") adds to every float division; that branch stops LLVM from
vectorising loops. ``cache=True`` keeps compiled code across processes and
``nogil=True`` lets server threads run kernels at the same time.
"""

import numba

kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
parallel_kernel = numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
