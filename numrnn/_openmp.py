"""Let idle OpenMP workers sleep; imported by ``numrnn/__init__`` before any kernel runs.

Numba's default threading layer is OpenMP, whose workers spin for a while after
each parallel region. numrnn alternates many short parallel kernels (a decoder's
one-step cells) with NumPy work that runs on OpenBLAS's own threads; with two
cores, spinning workers starved those threads. Measured on the seq2seq date
example (2 cores): 13.9 s per epoch spinning, 3.0 s with ``OMP_WAIT_POLICY=PASSIVE``
(and the same 3.0 s with Numba's non-OpenMP ``workqueue`` layer). The large kernels
open one parallel region per call, so waking sleeping workers costs them nothing
measurable.

The OpenMP runtime reads the variable when Numba first loads it (at the first
parallel call), so setting it at import is early enough. A value the user set
is kept.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
