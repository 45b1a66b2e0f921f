"""One contestant of ``perf/compare.py`` alone in a fresh process, as a user runs it.

Run by compare.py, compare_options.py, odd_hidden.py and training_step.py, not
by hand: ``python perf/compare_child.py TASK.json``. The task names the library
(``numrnn``, ``torch``, ``onnxruntime``, ``torch-layer-norm-lstm`` for the
layer-normalised LSTM PyTorch users write, ``numrnn-adding-step`` and
``torch-adding-step`` for training_step.py's whole training step
(``perf/adding_step.py``; its ``data.npz`` holds the target ``y`` too), or
``gemm`` for NumPy's float32 GEMM yardstick), the row (``spec``, with numrnn's
cell ``options`` and ``cell_states`` where compare_options.py sets them) and
where the shared input lies (``data.npz``:
the input ``x`` and the weights; ``model.onnx``). This process imports that
library and NumPy only, makes no thread or environment setting unless the task
carries ``--threads``, times one row, and writes what it computed to
``result.npz`` (the parent checks the libraries agree) and a JSON line to
stdout:

- ``first_ms``: the first call (JIT compile or cache load, session setup);
- ``median_ms``, ``min_ms``, ``n``: the timed calls after two warm-up calls;
- ``cores``: process CPU time / wall time over the warm-up and timed calls,
  i.e. how many cores the library kept busy (spinning idle workers count too).

A training task with ``"precision": "float64"`` times nothing: it widens the
input and the weights to float64 (exactly), runs one training step and writes
what it computed, for compare_options.py's float64 agreement check.

The ``gemm`` task times NumPy's GEMM and reports the BLAS pools threadpoolctl
sees (OpenBLAS's core type among them), under this process's environment.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

# The package behind each peer, whose version the report gives.
PACKAGES = {"torch": "torch", "torch-layer-norm-lstm": "torch", "torch-adding-step": "torch",
            "onnxruntime": "onnxruntime"}
ADDING_STEP = ("numrnn-adding-step", "torch-adding-step")


def _builders(task, data):
    """``(infer, train, infer_output, result)`` of the task's library."""
    import numpy as np
    import peers

    x = data["x"]
    weights = {key[len("weight:"):]: value for key, value in data.items()
               if key.startswith("weight:")}
    if task["library"] in ADDING_STEP:
        import adding_step

        if task["library"] == "numrnn-adding-step":
            harness.set_numrnn_threads(task["threads"])
        return adding_step.runners(task["library"], weights, data, task["threads"])
    if task["library"] == "numrnn":
        harness.set_numrnn_threads(task["threads"])
        # Timed rows build the layer from its seed (float32); the float64 check from the
        # stored weights, widened.
        module = peers.make_numrnn(task["cell"], task["spec"],
                                   weights if x.dtype == np.float64 else None)
        return peers.numrnn_runners(module, x, task["spec"].get("cell_states", False))
    if task["library"] == "torch":
        return peers.torch_runners(task["cell"], task["spec"], weights, x, task["threads"])
    if task["library"] == "torch-layer-norm-lstm":
        return peers.torch_layer_norm_lstm_runners(task["spec"], weights, x, task["threads"])
    infer = peers.ort_runner(task["onnx"], x, task["threads"])
    return infer, None, infer, None


def run_row(task):
    import numpy as np

    with np.load(task["data"]) as stored:
        data = {key: stored[key] for key in stored.files}
    infer, train, infer_output, result = _builders(task, data)
    runner = infer if task["mode"] == "infer" else train
    first_ms = 1e3 * harness.time_call(runner)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    timing = harness.interleaved({"row": runner}, task["budget"])["row"]
    cores = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    if task["mode"] == "infer":
        arrays = {"output": infer_output()}
    else:
        output, gradient = result()
        arrays = {"output": np.asarray(output), "grad_weight_hh_l0": np.asarray(gradient)}
    np.savez(task["result"], **arrays)
    return {"first_ms": first_ms, "median_ms": timing["median_ms"], "min_ms": timing["min_ms"],
            "n": timing["n"], "cores": cores}


def run_float64_check(task):
    """One training step in float64 on the task's input and weights, widened; no timing."""
    import numpy as np

    with np.load(task["data"]) as stored:
        data = {key: stored[key].astype(np.float64) for key in stored.files}
    _, _, _, result = _builders(task, data)
    output, gradient = result()
    np.savez(task["result"], output=np.asarray(output), grad_weight_hh_l0=np.asarray(gradient))
    return {"precision": "float64"}


def run_gemm(task):
    import numpy as np

    pools = harness.blas_pools()
    return {"gemm_gflops": harness.gemm_gflops(budget_s=task["budget"]), "numpy": np.__version__,
            "blas_pools": pools, "blas_core": harness.blas_core(pools)}


def main(path):
    with open(path) as handle:
        task = json.load(handle)
    harness.set_thread_env(task["threads"])
    if task["library"] == "gemm":
        outcome = run_gemm(task)
    elif task.get("precision") == "float64":
        outcome = run_float64_check(task)
    else:
        outcome = run_row(task)
    package = PACKAGES.get(task["library"])
    if package is not None:
        outcome["version"] = __import__(package).__version__
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
