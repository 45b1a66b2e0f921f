"""Import the optional engines on first use, with an error that names the extra to install."""

import importlib

from numrnn.errors import MissingExtraError

_INSTALL = 'pip install "numrnn[distributed]"'


def import_distributed():
    """The ``distributed`` package (Dask's scheduler and workers)."""
    return _import("distributed", "dask[distributed]", "numrnn.distributed.predict")


def import_mpi():
    """``mpi4py.MPI``, initialising MPI on first import."""
    return _import("mpi4py.MPI", "mpi4py (and an MPI library, e.g. the mpich wheel)",
                   "numrnn.distributed.DistributedOptimizer")


def _import(name, package, user):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingExtraError(f"{user} needs {package}, which is not installed ({exc}); "
                                f"install the extra: {_INSTALL}") from exc
