"""First use: a fresh process's first training call and ``numrnn demo``, empty cache and warm.

Run: ``python perf/cold_start.py [--cell LSTM] [--repeats N] [--compile-events]
[--demo-args "--epochs 1"] [--no-demo] [--out FILE]``.

Each measurement is a new interpreter with ``NUMBA_CACHE_DIR`` pointing at a
temporary directory: empty (every kernel compiles) or warmed by an earlier
process (kernels load from disk, as after a server restart). Issue #21's
targets, both reported:

- **first forward + backward**: the child imports numrnn and runs one training
  call of one cell kind (float32 ``nn.<cell>``, B = 16, T = 50, I = 32, H = 64:
  a taped forward, then ``backward``), timing the import, the forward and the
  backward apart, and forward + backward in the child's CPU time too (robust on a
  loaded machine); target: forward + backward within 5 s with an empty cache;
- **``numrnn demo``** (its defaults unless ``--demo-args``; the model is written
  to the temporary directory), the whole process's wall time; target: cold
  within 2x of warm.

``--compile-events`` lists what the empty-cache training call compiled: every
``numba:compile`` event, with the function, its argument types, and the time
spent in it excluding the compilations nested inside it (a kernel compiles its
callees when it compiles), largest first.

For reference it also times Numba's own floor, which no library built on it can
go below: ``import numba`` plus the one-time initialisation of its CPU target
(``refresh()``; it runs before the first jitted function can even be loaded
from a cache), and ``import torch`` when torch is installed.
"""

import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

FIRST_USE_TARGET_S = 5.0
DEMO_TARGET_RATIO = 2.0

CHILD = """
import json, sys, time
options = json.loads(sys.argv[1])
start = time.perf_counter()
import numpy as np
import numrnn
from numrnn import nn
imported = time.perf_counter()
recorder = None
if options["compile_events"]:
    from numba.core import event
    recorder = event.RecordingListener()
    event.register("numba:compile", recorder)
layer = getattr(nn, options["cell"])(32, 64, rng=0)
x = numrnn.Tensor(np.random.default_rng(0).standard_normal((50, 16, 32)).astype(np.float32))
before_forward = time.perf_counter()
cpu_before = time.process_time()
output, _ = layer(x)
forwarded = time.perf_counter()
output.backward(np.ones(output.shape, np.float32))
done = time.perf_counter()
cpu_done = time.process_time()
report = {"import_s": imported - start, "forward_s": forwarded - before_forward,
          "backward_s": done - forwarded, "first_use_s": done - before_forward,
          "first_use_cpu_s": cpu_done - cpu_before, "in_process_s": done - start}
if recorder is not None:
    # Events nest (a kernel compiles its callees while it compiles): time spent in
    # each compilation itself is its span less the spans of its direct children.
    stack, found = [], []
    for stamp, item in recorder.buffer:
        if item.is_start:
            stack.append([item.data, stamp, 0.0])
            continue
        data, began, nested = stack.pop()
        span = stamp - began
        if stack:
            stack[-1][2] += span
        dispatcher = data["dispatcher"]
        found.append({"function": f"{dispatcher.py_func.__module__}."
                                  f"{dispatcher.py_func.__qualname__}",
                      "args": [str(arg) for arg in data["args"]],
                      "self_s": span - nested, "total_s": span, "nested": not not stack})
    report["compile_events"] = sorted(found, key=lambda item: -item["self_s"])
print(json.dumps(report))
"""

NUMBA_FLOOR = """
import json, time
start = time.perf_counter()
import numba
from numba.core.registry import cpu_target
imported = time.perf_counter()
cpu_target.target_context.refresh()
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_use_s": done - imported,
                  "in_process_s": done - start}))
"""


def run_child(command, cache_dir):
    """Run ``command`` (argv after the interpreter) with its own kernel cache; its report."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=harness.ROOT)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True,
                          check=False, cwd=harness.ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    result["process_wall_s"] = wall
    return result


def summarise(samples):
    return {key: harness.median([sample[key] for sample in samples]) for key in samples[0]
            if isinstance(samples[0][key], float)}


def first_use(cell, cache_dir, compile_events=False):
    options = json.dumps({"cell": cell, "compile_events": compile_events})
    return run_child(["-c", CHILD, options], cache_dir)


def demo(cache_dir, demo_args):
    output = os.path.join(cache_dir, "demo-model.safetensors")
    return run_child(["-m", "numrnn", "demo", "--no-progress", "--output", output,
                      *shlex.split(demo_args)], cache_dir)


def print_report(report, cell):
    print(f"medians of {report['repeats']} fresh processes (seconds); nn.{cell}(32, 64), "
          "B = 16, T = 50, float32, one training call")
    print(f"{'cache':<7} {'import':>7} {'forward':>8} {'backward':>9} {'fwd+bwd':>8} "
          f"{'in process':>11} {'process wall':>13}")
    for name, key in (("empty", "empty_cache"), ("warm", "warm_cache")):
        row = report[key]
        print(f"{name:<7} {row['import_s']:7.3f} {row['forward_s']:8.3f} {row['backward_s']:9.3f} "
              f"{row['first_use_s']:8.3f} {row['in_process_s']:11.3f} "
              f"{row['process_wall_s']:13.3f}")
    floor = report["numba_floor"]
    print(f"numba floor (import numba + CPU target initialisation): in process "
          f"{floor['in_process_s']:.3f}, process wall {floor['process_wall_s']:.3f}")
    if "import_torch_process_wall_s" in report:
        print(f"python -c 'import torch', process wall: "
              f"{report['import_torch_process_wall_s']:.3f}")
    verdict = "met" if report["empty_cache"]["first_use_s"] <= FIRST_USE_TARGET_S else "MISSED"
    print(f"first forward + backward with an empty cache: "
          f"{report['empty_cache']['first_use_s']:.1f} s "
          f"({report['empty_cache'].get('first_use_cpu_s', float('nan')):.1f} CPU s), "
          f"target <= {FIRST_USE_TARGET_S:.0f} s: {verdict}")
    if "demo" in report:
        cold, warm = report["demo"]["cold_s"], report["demo"]["warm_s"]
        verdict = "met" if cold <= DEMO_TARGET_RATIO * warm else "MISSED"
        print(f"numrnn demo {report['demo']['args'] or '(defaults)'}: cold {cold:.1f} s, warm "
              f"{warm:.1f} s, {cold / warm:.2f}x, target <= {DEMO_TARGET_RATIO:.0f}x: {verdict}")
    for item in report.get("compile_events", [])[:25]:
        print(f"  {item['self_s']:7.3f} s self, {item['total_s']:7.3f} s total  "
              f"{item['function']}({', '.join(item['args'])})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="LSTM", choices=("LSTM", "GRU", "RNN"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile-events", action="store_true",
                        help="list what the empty-cache call compiled, and how long each took")
    parser.add_argument("--demo-args", default="", help="arguments for `numrnn demo`")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo's timing")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    empty, warm, floor = [], [], []
    with tempfile.TemporaryDirectory() as warm_dir:
        first_use(args.cell, warm_dir)  # fills the warm cache
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as empty_dir:
                empty.append(first_use(args.cell, empty_dir))
            warm.append(first_use(args.cell, warm_dir))
            floor.append(run_child(["-c", NUMBA_FLOOR], warm_dir))
        torch = []
        if importlib.util.find_spec("torch"):
            torch = [run_child(["-c", "import torch"], warm_dir) for _ in range(args.repeats)]
    report = {"machine": harness.machine_info(None), "cell": args.cell,
              "repeats": args.repeats, "empty_cache": summarise(empty),
              "warm_cache": summarise(warm), "numba_floor": summarise(floor)}
    if torch:
        report["import_torch_process_wall_s"] = summarise(torch)["process_wall_s"]
    if args.compile_events:
        with tempfile.TemporaryDirectory() as empty_dir:
            report["compile_events"] = first_use(args.cell, empty_dir, True)["compile_events"]
    if not args.no_demo:
        with tempfile.TemporaryDirectory() as demo_dir:
            cold = demo(demo_dir, args.demo_args)["process_wall_s"]
            warm_demo = demo(demo_dir, args.demo_args)["process_wall_s"]
        report["demo"] = {"args": args.demo_args, "cold_s": cold, "warm_s": warm_demo}
    print_report(report, args.cell)
    if args.out:
        harness.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
