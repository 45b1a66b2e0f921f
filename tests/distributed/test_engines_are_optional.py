"""numrnn works without the distributed extra: engines load on first use, or say what to install."""

import os
import pathlib
import subprocess
import sys

import pytest

import numrnn
from numrnn.optim import SGD

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_importing_numrnn_and_numrnn_distributed_loads_no_engine():
    code = ("import sys, numrnn, numrnn.distributed\n"
            "print(sorted(name for name in ('dask', 'distributed', 'mpi4py', 'mpi4py.MPI')\n"
            "             if name in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_mpi4py_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    optimizer = SGD([numrnn.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(numrnn.MissingExtraError,
                       match=r"DistributedOptimizer needs mpi4py .* "
                             r'pip install "numrnn\[distributed\]"'):
        numrnn.distributed.DistributedOptimizer(optimizer)


@pytest.mark.parametrize("arguments, error, message", [
    ({"optimizer": "sgd"}, numrnn.ArgumentTypeError,
     "optimizer must be a numrnn Optimizer .*got str"),
    ({"reduction": "mean"}, numrnn.ArgumentError,
     r"reduction must be one of \('ordered', 'allreduce'\), got 'mean'"),
])
def test_bad_arguments_are_refused_before_mpi_starts(monkeypatch, arguments, error, message):
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    arguments.setdefault("optimizer", SGD([numrnn.tensor([1.0], requires_grad=True)], lr=0.1))
    with pytest.raises(error, match=message):
        numrnn.distributed.DistributedOptimizer(**arguments)
