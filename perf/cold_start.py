"""Cold start: a fresh process imports numrnn and runs its first LSTM forward.

Run: ``python perf/cold_start.py [--repeats N] [--out FILE]``.

Each measurement is a new interpreter (``python -c``) with ``NUMBA_CACHE_DIR``
pointing at a temporary directory: empty (every kernel compiles) or warmed by
an earlier process (kernels load from disk, as after a server restart). The
child reports the time to ``import numrnn`` and to finish its first
``nn.LSTM`` forward (float32, B=1, T=50, I=32, H=64, no_grad); the parent adds
the wall time of the whole process, interpreter start included.

For reference it also times Numba's own floor, which no library built on it
can go below: ``import numba`` plus the one-time initialisation of its CPU
target (``refresh()`` imports Numba's numpy implementations; it runs before the
first jitted function can even be loaded from a cache), and ``import torch``
when torch is installed.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

CHILD = """
import json, time
start = time.perf_counter()
import numpy as np
import numrnn
from numrnn import nn
imported = time.perf_counter()
lstm = nn.LSTM(32, 64, rng=0)
x = np.random.default_rng(0).standard_normal((50, 1, 32)).astype(np.float32)
with numrnn.no_grad():
    lstm(x)
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_forward_s": done - imported,
                  "in_process_s": done - start}))
"""

NUMBA_FLOOR = """
import json, time
start = time.perf_counter()
import numba
from numba.core.registry import cpu_target
imported = time.perf_counter()
cpu_target.target_context.refresh()
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_forward_s": done - imported,
                  "in_process_s": done - start}))
"""


def run_child(code, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=harness.ROOT)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True, cwd=harness.ROOT)
    wall = time.perf_counter() - start
    result = json.loads(done.stdout.strip().splitlines()[-1]) if "json" in code else {}
    result["process_wall_s"] = wall
    return result


def summarise(samples):
    return {key: harness.median([sample[key] for sample in samples]) for key in samples[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    empty, warm, floor = [], [], []
    with tempfile.TemporaryDirectory() as warm_dir:
        run_child(CHILD, warm_dir)  # fills the warm cache
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as empty_dir:
                empty.append(run_child(CHILD, empty_dir))
            warm.append(run_child(CHILD, warm_dir))
            floor.append(run_child(NUMBA_FLOOR, warm_dir))
        torch = []
        if importlib.util.find_spec("torch"):
            torch = [run_child("import torch", warm_dir) for _ in range(args.repeats)]
    report = {"machine": harness.machine_info(None), "repeats": args.repeats,
              "empty_cache": summarise(empty), "warm_cache": summarise(warm),
              "numba_floor": summarise(floor)}
    if torch:
        report["import_torch_process_wall_s"] = summarise(torch)["process_wall_s"]
    print(f"medians of {args.repeats} fresh processes (seconds)")
    print(f"{'cache':<7} {'import numrnn':>14} {'first forward':>14} {'in process':>11} "
          f"{'process wall':>13}")
    for name, key in (("empty", "empty_cache"), ("warm", "warm_cache"),
                      ("numba*", "numba_floor")):
        row = report[key]
        print(f"{name:<7} {row['import_s']:14.3f} {row['first_forward_s']:14.3f} "
              f"{row['in_process_s']:11.3f} {row['process_wall_s']:13.3f}")
    print("numba*: import numba + CPU target initialisation only (the floor)")
    if torch:
        wall = report["import_torch_process_wall_s"]
        print(f"python -c 'import torch', process wall: {wall:.3f}")
    if args.out:
        harness.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
