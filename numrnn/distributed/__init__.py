"""numrnn beyond one process: batch inference on Dask, data-parallel training over MPI.

``pip install numrnn[distributed]`` brings the engines (``dask[distributed]``,
``mpi4py`` and the ``mpich`` wheel). They are imported only when a function
here needs them, so ``import numrnn.distributed`` works without them and a call
that needs one says which extra to install.

- :func:`predict`: score many variable-length sequences on a Dask cluster;
  the results equal :func:`numrnn.predict` in one process, bit for bit.
- :class:`DistributedOptimizer`: wraps any numrnn optimizer so that every MPI
  rank steps with the gradient of the whole global batch; works with
  :func:`numrnn.training.fit` and with a hand-written loop.

See ``docs/distributed.md``.
"""

from numrnn.distributed.data_parallel import DistributedOptimizer, rank0_only
from numrnn.distributed.inference import iter_predict, predict

__all__ = ["DistributedOptimizer", "iter_predict", "predict", "rank0_only"]
