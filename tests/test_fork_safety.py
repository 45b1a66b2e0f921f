"""Fork after parallel kernels, threads at the same time, and an environment left alone.

Each case runs in a child interpreter, so a process killed by the threading
layer (GNU OpenMP kills a forked child at its first parallel call) is a failed
test, not a dead test run. The parent of every fork has run batched (parallel)
forwards first: the case that broke pre-forking servers.
"""

import json
import os
import subprocess
import sys

import pytest

import numrnn
from numrnn.kernels import threading_layer

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

# numrnn's install requires the tbb wheel where Intel publishes one (setup.cfg).
needs_tbb_wheel = pytest.mark.skipif(threading_layer.tbb_library_path() is None,
                                     reason="the tbb wheel is not installed (no wheel for "
                                            "this platform): numba runs on OpenMP here")

PRELUDE = r"""
import hashlib, json, os, sys
import numpy as np
import numrnn
from numrnn import nn

layers = {"LSTM": nn.LSTM(8, 32, num_layers=2, bidirectional=True, rng=0).eval(),
          "GRU": nn.GRU(8, 32, rng=1).eval(), "RNN": nn.RNN(8, 32, rng=2).eval()}
x = np.random.default_rng(3).standard_normal((12, 40, 8)).astype(np.float32)
lengths = np.arange(40) % 12 + 1

def forward(name):
    with numrnn.no_grad():
        return layers[name](x, lengths=lengths)[0].data

def training_step(name):
    layer = layers[name]
    layer.zero_grad()
    output, _ = layer(numrnn.Tensor(x, requires_grad=True), lengths=lengths)
    output.sum().backward()
    return layer.weight_hh_l0.grad

def digest(name):
    # hashes of every byte of an inference output and of a training step's gradient
    return [hashlib.sha256(forward(name).tobytes()).hexdigest(),
            hashlib.sha256(training_step(name).tobytes()).hexdigest()]

def in_forked_child(work):
    # (exit status, what work() returned) of work() run in a forked child
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            os.write(writer, json.dumps(work()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        received = pipe.read()
    _, status = os.waitpid(pid, 0)
    return status, json.loads(received) if received else None

expected = {name: digest(name) for name in layers}
"""


def _run(body, timeout=300):
    env = dict(os.environ, PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, "-c", PRELUDE + body], env=env, cwd=SOURCE_ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Terminating" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_tbb_wheel
def test_numrnn_runs_on_a_fork_safe_threading_layer():
    report = _run(r"""
from numrnn.cli import info_text
import numba
print(json.dumps({"layer": numba.threading_layer(), "info": info_text()}))
""")
    assert report["layer"] == "tbb"
    assert "threading layer: tbb (safe with fork" in report["info"]


def test_a_forked_child_computes_what_its_parent_did():
    report = _run(r"""
results = []
for _ in range(2):
    status, answer = in_forked_child(lambda: {name: digest(name) for name in layers})
    results.append({"status": status, "same": answer == expected})
# and the parent still runs after its children
results.append({"status": 0, "same": {name: digest(name) for name in layers} == expected})
print(json.dumps(results))
""")
    assert report == [{"status": 0, "same": True}] * 3


def test_a_fork_multiprocessing_pool_after_parallel_kernels():
    report = _run(r"""
import multiprocessing
with multiprocessing.get_context("fork").Pool(2) as pool:
    # map_async with a timeout: a Pool whose worker was killed waits forever
    answers = pool.map_async(digest, sorted(layers) * 2).get(timeout=120)
print(json.dumps([answer == expected[name] for answer, name in zip(answers, sorted(layers) * 2)]))
""")
    assert report == [True] * 6


def test_a_fork_process_pool_executor_after_parallel_kernels():
    report = _run(r"""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as executor:
    answers = list(executor.map(digest, sorted(layers), timeout=300))
print(json.dumps([answer == expected[name] for answer, name in zip(answers, sorted(layers))]))
""")
    assert report == [True] * 3


def test_threads_in_a_forked_child_match_serial_results():
    """Both at once: a forked child whose 8 threads share one model."""
    report = _run(r"""
import threading
def eight_threads():
    outcomes = []
    def worker(index):
        name = sorted(layers)[index % 3]
        outcomes.append(all(hashlib.sha256(forward(name).tobytes()).hexdigest()
                            == expected[name][0] for _ in range(25)))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
status, outcomes = in_forked_child(eight_threads)
print(json.dumps({"status": status, "outcomes": outcomes}))
""")
    assert report == {"status": 0, "outcomes": [True] * 8}


@needs_tbb_wheel
def test_importing_and_running_numrnn_changes_no_environment_variable():
    code = ("import json, os; before = dict(os.environ); import numpy as np, numrnn; "
            "from numrnn import nn; "
            "nn.LSTM(4, 8, rng=0)(np.ones((3, 40, 4), np.float32)); "
            "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))")
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = SOURCE_ROOT
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, cwd=SOURCE_ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def _layer(environ):
    code = ("import numrnn; from numrnn.kernels import threading_layer; "
            "print(threading_layer.describe())")
    done = subprocess.run([sys.executable, "-c", code], env=dict(environ, PYTHONPATH=SOURCE_ROOT),
                          capture_output=True, text=True, cwd=SOURCE_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[0]


@pytest.mark.parametrize("chosen, expected", [
    ("omp", "omp"), ("workqueue", "workqueue"),
    pytest.param("tbb", "tbb", marks=needs_tbb_wheel),
    pytest.param("safe", "tbb", marks=needs_tbb_wheel)])
def test_a_layer_the_user_chose_is_kept(chosen, expected):
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    layer = _layer(dict(environ, NUMBA_THREADING_LAYER=chosen))
    assert layer.startswith(f"{expected} (")


def test_threads_match_serial_results_bit_for_bit():
    """8 threads x 200 calls of one shared model, on the default layer, without fork."""
    report = _run(r"""
import hashlib, threading
def full(name):
    return hashlib.sha256(forward(name).tobytes()).hexdigest()
serial = {name: full(name) for name in layers}
outcomes = []
def worker(index):
    name = sorted(layers)[index % 3]
    outcomes.append(all(full(name) == serial[name] for _ in range(200)))
threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(outcomes))
""")
    assert report == [True] * 8
