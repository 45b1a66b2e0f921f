"""The distributed examples run end to end in their --quick mode, locally, with the real engines."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_example(*command, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_distributed_inference_quick():
    pytest.importorskip("distributed", reason="needs the numrnn[distributed] extra")
    result = run_example(sys.executable, "examples/distributed_inference.py", "--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "120 sequences" in result.stdout and "outputs identical: True" in result.stdout


def test_data_parallel_training_quick_launches_two_ranks(tmp_path):
    pytest.importorskip("mpi4py", reason="needs the numrnn[distributed] extra")
    if not (shutil.which("mpiexec", path=os.path.dirname(sys.executable))
            or shutil.which("mpiexec")):
        pytest.skip('no mpiexec (install the mpich wheel: pip install "numrnn[distributed]")')
    checkpoint = tmp_path / "run.safetensors"
    result = run_example(sys.executable, "examples/data_parallel_training.py", "--quick",
                         "--checkpoint", str(checkpoint))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 ranks, global batch 8" in result.stdout
    assert "weights identical on every rank: True" in result.stdout
    assert checkpoint.exists()
