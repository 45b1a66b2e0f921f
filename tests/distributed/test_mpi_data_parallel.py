"""Data-parallel training with ``mpiexec -n 2`` (the mpich wheel's), launched as a subprocess.

One launch runs every case of mpi_job.py; a second launch repeats the training
cases. What is proven: after 20 steps of Adam on shards of the global batch,
both ranks hold the same bits, equal to a rerun's, and equal to one process
training on the concatenated batches within 1e-6 (float32) / 1e-12 (float64)
relative to each tensor's norm (shards of unequal size too), in a hand-written
loop and under fit(); only rank 0 writes the checkpoint and every rank resumes
from it; mismatched models, an empty shard, a non-finite gradient or loss on
one rank are a numrnn error on every rank, and the job ends instead of hanging.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason="needs the numrnn[distributed] extra (mpi4py, mpich)")
import mpi_job  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
TRAINING = ["hand_float32", "hand_float64", "hand_float64_allreduce", "fit_float32"]
REFUSED = ["mismatched_models", "empty_shard", "nonfinite_grad", "nonfinite_loss_in_fit"]

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (install the mpich wheel: "
                                                        'pip install "numrnn[distributed]")')


def launch(cases, out):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py",
                             str(HERE / "mpi_job.py"), ",".join(cases), str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    launch(TRAINING + REFUSED, first)
    launch(TRAINING, second)
    return first, second


def relative_error(got, want):
    """Relative to the tensor's norm: an element that training moved close to zero carries the
    rounding error of the tensor's scale, which elementwise would read as a large relative one."""
    return np.linalg.norm((got - want).astype(np.float64)) / np.linalg.norm(want)


def ranks(directory, case):
    return [dict(np.load(directory / f"{case}.rank{rank}.npz")) for rank in (0, 1)]


@pytest.mark.parametrize("case, dtype, rtol, batch", [
    ("hand_float32", np.float32, 1e-6, mpi_job.GLOBAL_BATCH),
    ("hand_float64", np.float64, 1e-12, mpi_job.UNEVEN_BATCH),
    ("hand_float64_allreduce", np.float64, 1e-12, mpi_job.GLOBAL_BATCH),
])
def test_twenty_steps_equal_one_process_on_the_concatenated_batch(runs, case, dtype, rtol, batch):
    first, second = runs
    rank0, rank1 = ranks(first, case)
    rerun0, _ = ranks(second, case)
    expected = mpi_job.train_single_process(dtype, batch)
    assert rank0.keys() == expected.keys()
    for name, want in expected.items():
        assert rank0[name].dtype == dtype
        assert np.array_equal(rank0[name], rank1[name]), f"{name} differs between the ranks"
        assert np.array_equal(rank0[name], rerun0[name]), f"{name} differs in the rerun"
        assert relative_error(rank0[name], want) <= rtol, name
        # Training moved the weights: equality is not that of two untrained copies.
        assert not np.allclose(want, mpi_job.weights(mpi_job.build(dtype)[0])[name])


def test_fit_equals_one_process_and_every_rank_resumes_from_rank_0s_checkpoint(runs):
    first, second = runs
    rank0, rank1 = ranks(first, "fit_float32")
    rerun0, _ = ranks(second, "fit_float32")
    expected = mpi_job.train_single_process(np.float32)
    for name, want in expected.items():
        trained = rank0[f"trained.{name}"]
        assert np.array_equal(trained, rank1[f"trained.{name}"])
        assert np.array_equal(trained, rerun0[f"trained.{name}"])
        assert relative_error(trained, want) <= 1e-6, name
        assert np.array_equal(rank0[f"resumed.{name}"], rank1[f"resumed.{name}"])
        assert not np.array_equal(rank0[f"resumed.{name}"], trained)
    # fit reports the loss of the global batch on every rank.
    assert np.array_equal(rank0["losses"], rank1["losses"])
    assert bool(rank0["wrote_checkpoint"]) and not bool(rank1["wrote_checkpoint"])
    assert sorted(path.name for path in first.iterdir() if "checkpoint" in path.name) == \
        ["fit.checkpoint.safetensors"]


@pytest.mark.parametrize("case, error, message", [
    ("mismatched_models", "DistributedError",
     "rank(s) [1] hold a different model or optimizer than rank 0"),
    ("empty_shard", "DistributedError", "rank(s) [0] would get no samples (batch lengths per "
                                        "rank [0, 1], 2 ranks)"),
    ("nonfinite_grad", "NonFiniteGradError", "the gradient of rank(s) [1] holds NaN or "
                                             "infinite values; no rank updated its weights"),
    ("nonfinite_loss_in_fit", "NonFiniteLossError", "the loss of rank(s) [1] is NaN or infinite"),
])
def test_bad_input_is_the_same_error_on_every_rank(runs, case, error, message):
    first, _ = runs
    for rank in (0, 1):
        text = (first / f"{case}.rank{rank}.error").read_text()
        assert text.startswith(f"{error}: DistributedOptimizer")
        assert message in text
        assert not (first / f"{case}.rank{rank}.npz").exists()
