"""numrnn leaves the process as it found it: environment, BLAS and OpenMP thread settings.

Settings such as ``OMP_WAIT_POLICY`` are process-wide: every OpenMP runtime
loaded into the process reads them, so a library that sets one changes the
speed of the others (``OMP_WAIT_POLICY=PASSIVE``, once set by ``import numrnn``
where numba ran on OpenMP, made PyTorch's LSTM inference 4-7x slower). Each
case runs in a child interpreter that imports numrnn, runs a layer forward and
backward, and reports what changed. The children run on numba's OpenMP layer as
well as on the default one: OpenMP is where numrnn used to set the variable.
"""

import json
import os
import re
import subprocess
import sys

import pytest

import numrnn

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

RUN_A_LAYER = r"""
import numrnn
from numrnn import nn
layer = nn.LSTM(4, 8, rng=0)
x = numrnn.Tensor(np.ones((40, 3, 4), np.float32))
with numrnn.no_grad():
    layer(x)
layer(x)[0].sum().backward()
"""

SNAPSHOT_AROUND_NUMRNN = r"""
import json, os
import numpy as np
import scipy.linalg.cython_blas
import threadpoolctl

def snapshot():
    pools = {pool["filepath"]: {key: pool.get(key) for key in
                                ("internal_api", "num_threads", "threading_layer",
                                 "architecture")}
             for pool in threadpoolctl.threadpool_info()}
    return {"environ": dict(os.environ), "pools": pools}

before = snapshot()
""" + RUN_A_LAYER + r"""
after = snapshot()
print(json.dumps({"before": before, "after": after}))
"""


def _child(code, **environ):
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    env.update(environ, PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=SOURCE_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


LAYERS = [pytest.param({}, id="default-layer"),
          pytest.param({"NUMBA_THREADING_LAYER": "omp"}, id="omp-layer")]


@pytest.mark.parametrize("layer", LAYERS)
def test_importing_and_running_numrnn_leaves_environment_and_thread_pools_alone(layer):
    done = _child(SNAPSHOT_AROUND_NUMRNN, **layer)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = report["before"], report["after"]
    assert after["environ"] == before["environ"]
    assert before["pools"], "threadpoolctl found no BLAS pool to compare"
    # Pools numrnn loaded itself (numba's threading layer) are new, not changed.
    assert {path: after["pools"][path] for path in before["pools"]} == before["pools"]


def _spin_counts(stderr):
    """``GOMP_SPINCOUNT`` of every GNU OpenMP runtime that started (``OMP_DISPLAY_ENV``)."""
    return re.findall(r"GOMP_SPINCOUNT = '(\d+)'", stderr)


@pytest.mark.parametrize("layer", LAYERS)
def test_pytorch_openmp_after_numrnn_gets_its_default_wait_policy(layer):
    # How long idle OpenMP workers spin is fixed when a runtime starts; with
    # OMP_WAIT_POLICY=PASSIVE it is 0 and PyTorch's short parallel regions slowed
    # 4-7x. OMP_DISPLAY_ENV=VERBOSE makes every GNU OpenMP runtime print it.
    pytest.importorskip("torch")
    torch_work = ("import torch\n"
                  "torch.nn.LSTM(16, 32)(torch.ones(20, 64, 16))\n")
    alone = _child("import numpy as np\n" + torch_work, OMP_DISPLAY_ENV="VERBOSE", **layer)
    after_numrnn = _child("import numpy as np\n" + RUN_A_LAYER + torch_work,
                          OMP_DISPLAY_ENV="VERBOSE", **layer)
    expected = set(_spin_counts(alone.stderr))
    assert len(expected) == 1, alone.stderr
    found = _spin_counts(after_numrnn.stderr)
    assert found and set(found) == expected, after_numrnn.stderr
