"""A real pre-forking server: ``gunicorn --preload -w 2`` serving ``examples/serve_wsgi.py``.

The master loads the model and runs a batched forward (parallel kernels)
before it forks its two workers, which is what broke with numba's OpenMP
threading layer (issue #13): a forked worker's first parallel kernel printed
"Terminating: fork() called from a process already using GNU OpenMP, this is
unsafe" and sent itself SIGTERM without running the kernel. gunicorn's worker
takes SIGTERM as "finish this request, then exit", so it answered with the
batch's unwritten output buffers, exited, and the master forked another
worker, as broken as the last.

The server runs in its own process group; four client threads send 200
random padded batches over loopback, and every answer must equal, bit for
bit, what the same model computes in this process. Both workers must have
answered, neither may have been replaced, and the log must show no worker
dying or complaining.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from repo_scripts import ROOT

import numrnn
from numrnn import nn

gunicorn = pytest.importorskip("gunicorn")

INPUT_SIZE, HIDDEN_SIZE = 5, 12
REQUESTS, CLIENT_THREADS = 200, 4
MAX_BATCH, MAX_STEPS = 8, 12
WORKERS = 2
# Bounds, not expectations: the master may compile every kernel first on a cold cache.
START_TIMEOUT_S, REQUEST_TIMEOUT_S, CLIENTS_TIMEOUT_S, STOP_TIMEOUT_S = 90, 20, 60, 20
# Lines gunicorn or numba write when a worker dies or fails; a graceful stop writes none.
WORKER_TROUBLE = ("was sent", "exited with code", "Terminating", "GNU OpenMP", "Traceback",
                  "WORKER TIMEOUT")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_batches(rng):
    """``REQUESTS`` padded batch-first float32 batches with their lengths."""
    batches = []
    for _ in range(REQUESTS):
        rows, steps = int(rng.integers(1, MAX_BATCH + 1)), int(rng.integers(1, MAX_STEPS + 1))
        inputs = rng.standard_normal((rows, steps, INPUT_SIZE)).astype(np.float32)
        batches.append((inputs, rng.integers(1, steps + 1, size=rows)))
    return batches


def start_server(model_path, port, log):
    command = [sys.executable, "-m", "gunicorn", "--preload", "-w", str(WORKERS),
               "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT / "examples"),
               "--graceful-timeout", "5", "serve_wsgi:app"]
    # Since 25.1 gunicorn also opens a control socket, by default in ~/.gunicorn.
    if gunicorn.version_info >= (25, 1):
        command.append("--no-control-socket")
    # The rest of the environment passes through, so the server runs as pytest does
    # (threading layer, NUMBA_CACHE_DIR for the kernels compiled once).
    env = dict(os.environ, NUMRNN_MODEL=str(model_path),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen(command, cwd=model_path.parent, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_until_listening(server, port, log_path):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with code {server.returncode} before listening:\n"
                        f"{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not listen on port {port} within {START_TIMEOUT_S} s:\n"
                f"{log_path.read_text()}")


def post(port, inputs, lengths):
    """``(status, decoded JSON body)`` of one request on a fresh connection."""
    body = json.dumps({"inputs": inputs.tolist(), "lengths": lengths.tolist()})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def problem_with(status, answer, expected):
    """What is wrong with one answer, or None when it is exactly the expected result."""
    if status != 200:
        return f"status {status}: {answer}"
    output, h_n = expected
    # float32 -> JSON number -> float32 is exact, so the comparison is too.
    if not (np.array_equal(np.array(answer["output"], np.float32), output)
            and np.array_equal(np.array(answer["h_n"], np.float32), h_n)):
        return f"the answer of worker {answer['pid']} differs from the in-process result"
    return None


def send_all(port, batches, expected):
    """``(pids, problems)``: who answered each request, and what went wrong.

    ``CLIENT_THREADS`` threads share the batches; all stop at the first problem,
    so a broken server fails the test in seconds.
    """
    pids, problems = [], []
    failed = threading.Event()

    def client(indices):
        for index in indices:
            if failed.is_set():
                return
            try:
                status, answer = post(port, *batches[index])
                problem = problem_with(status, answer, expected[index])
            except (OSError, http.client.HTTPException, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                problems.append(f"request {index}: {problem}")
                failed.set()
            else:
                pids.append(answer["pid"])

    threads = [threading.Thread(target=client, args=(range(k, len(batches), CLIENT_THREADS),),
                                daemon=True) for k in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + CLIENTS_TIMEOUT_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        problems.append(f"the clients did not finish within {CLIENTS_TIMEOUT_S} s")
    return pids, problems


def stop_gracefully(server):
    """SIGTERM to the master, as an operator would; its exit code, None if it outlived the wait."""
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None


def kill_what_is_left(server):
    # The workers are in the master's process group (start_new_session): none outlives it.
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(STOP_TIMEOUT_S)


def trouble_in(log_text):
    return [line for line in log_text.splitlines()
            if any(marker in line for marker in WORKER_TROUBLE)]


def test_preforked_workers_answer_every_batch_exactly(tmp_path):
    model_path = tmp_path / "lstm.safetensors"
    numrnn.save(nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True, rng=0), model_path)
    model = numrnn.load_model(model_path).eval()
    batches = make_batches(np.random.default_rng(13))
    with numrnn.no_grad():
        expected = [(output.data, h_n.data) for output, (h_n, _)
                    in (model(inputs, lengths=lengths) for inputs, lengths in batches)]
    log_path, port = tmp_path / "gunicorn.log", free_port()

    with open(log_path, "w") as log:
        server = start_server(model_path, port, log)
    try:
        wait_until_listening(server, port, log_path)
        pids, problems = send_all(port, batches, expected)
        log_while_serving = log_path.read_text()
        exit_code = stop_gracefully(server)
    finally:
        kill_what_is_left(server)
    log_text = log_path.read_text()

    assert not problems, f"{len(problems)} failed requests, first {problems[:3]}\n{log_text}"
    assert len(pids) == REQUESTS
    assert not trouble_in(log_text), log_text
    assert "Worker exiting" not in log_while_serving, log_text
    booted = set(map(int, re.findall(r"Booting worker with pid: (\d+)", log_while_serving)))
    assert len(booted) == WORKERS and set(pids) == booted, log_text
    assert exit_code == 0, f"gunicorn exited with {exit_code} on SIGTERM\n{log_text}"
