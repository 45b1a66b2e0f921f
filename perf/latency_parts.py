"""Where small layers' inference time goes, next to ONNX Runtime's (issue 21, item 4).

Run: ``python perf/latency_parts.py [--calls 300] [--rounds 7] [--skip-ort] [--peak 207]``.

Item 4 asks for inference within 0.8x the faster of PyTorch and ONNX Runtime at
tiny-b1 (B, T, I, H = 1, 50, 32, 64), small-b8 (8, 50, 64, 128) and small
(32, 50, 64, 128). This script splits the time into what bounds it, each
library in fresh processes of its own, one OpenBLAS configuration (the
machine's), float32:

- ``slopes``: a layer call at B = 1 and T = 1, 50, 200, one thread (ONNX
  Runtime with ``intra_op_num_threads=1``), timed in the calling thread's CPU
  time, so that other jobs on the machine inflate it little; the cost per step
  is the slope between T = 1 and 200, the fixed cost what is left at T = 1;
- ``parts``: numrnn's per-step pieces at B = 1 in compiled loops (the recurrent
  product ``h W_hhᵀ`` through the transposed view, and the input projection of
  all T = 50 steps per call), with the bytes of ``W_hh`` each step reads and
  the rate that makes;
- ``batched``: small-b8 and small at one thread (CPU time) and at the
  libraries' default thread counts (wall time), beside the floor a layer cannot
  beat: its multiply-adds at NumPy's large-GEMM rate on every core (measured
  now, or ``--peak`` GFLOP/s from an idle run);
- ``shares``: the CPU time of each of numrnn's two threads per small-b8 call,
  on numba's OpenMP layer with passive waiting (``NUMBA_THREADING_LAYER=omp``,
  ``OMP_WAIT_POLICY=passive``): its static schedule gives each thread one batch
  block, and a waiting thread burns no CPU, so the figures hold on a loaded
  machine too. Their sum against the one-thread time says whether the blocks
  slow each other; the first thread's excess over the second is the serial
  part of a call (packing, Python, allocation), which bounds the two-thread
  time from below however fast the hand-off.

On a loaded machine only the CPU-time figures mean much; the wall-time column
needs an idle one.
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import harness  # noqa: E402

SINGLE_ROW = {"input": 32, "hidden": 64}
BATCHED = {"small-b8": (8, 50, 64, 128), "small": (32, 50, 64, 128)}
GATES = {"LSTM": 4, "GRU": 3}


def _timed(fn, calls, rounds, clock):
    for _ in range(20):
        fn()
    samples = []
    for _ in range(rounds):
        start = clock()
        for _ in range(calls):
            fn()
        samples.append((clock() - start) / calls * 1e6)
    return harness.median(samples)


def _layer_call(library, cell, shape, threads, model_dir):
    """A callable running one inference of ``cell`` on a (T, B, I) input of ``shape``."""
    import numpy as np
    import peers

    batch, steps, n_in, hidden = shape
    x = np.random.default_rng(1).standard_normal((steps, batch, n_in)).astype(np.float32)
    spec = {"input": n_in, "hidden": hidden}
    if library == "onnxruntime":
        path = os.path.join(model_dir, f"{cell}-{n_in}-{hidden}.onnx")
        return peers.ort_runner(path, x, threads)
    harness.set_numrnn_threads(threads)
    return peers.numrnn_runners(peers.make_numrnn(cell, spec), x)[0]


def child_slopes(library, cell, calls, rounds, model_dir):
    return {steps: _timed(_layer_call(library, cell, (1, steps, SINGLE_ROW["input"],
                                                      SINGLE_ROW["hidden"]), 1, model_dir),
                          calls, rounds, time.thread_time)
            for steps in (1, 50, 200)}


def child_parts(cell, calls, rounds):
    """µs of numrnn's per-step recurrent product and of its whole input projection, B = 1."""
    import numba
    import numpy as np

    from numrnn.kernels import gemm, matvec

    numba.set_num_threads(1)
    n_in, hidden, gates = SINGLE_ROW["input"], SINGLE_ROW["hidden"], GATES[cell]
    rng = np.random.default_rng(0)
    weight_hh = rng.standard_normal((gates * hidden, hidden)).astype(np.float32)
    weight_ih = rng.standard_normal((gates * hidden, n_in)).astype(np.float32)
    h = rng.standard_normal((1, hidden)).astype(np.float32)
    out = np.empty((1, gates * hidden), np.float32)
    x = rng.standard_normal((50, 1, n_in)).astype(np.float32)
    projection = np.empty((50, 1, gates * hidden), np.float32)

    @numba.njit
    def products(h, weight_t, out, count):
        for _ in range(count):
            matvec.product(h, weight_t, out)

    repeat = 1000
    product = _timed(lambda: products(h, weight_hh.T, out, repeat), max(1, calls // 30), rounds,
                     time.thread_time) / repeat
    with gemm.kernel_blas(True):
        projecting = _timed(lambda: gemm.project_inputs(x, weight_ih, projection), calls, rounds,
                            time.thread_time)
    return {"product": product, "projection": projecting, "bytes": weight_hh.nbytes}


def child_batched(library, cell, name, calls, rounds, model_dir):
    shape = BATCHED[name]
    single = _timed(_layer_call(library, cell, shape, 1, model_dir), calls, rounds,
                    time.thread_time)
    default = _timed(_layer_call(library, cell, shape, None, model_dir), calls, rounds,
                     time.perf_counter)
    return {"one thread cpu": single, "default wall": default}


def child_shares(cell, seconds=3.0):
    """µs of CPU time per small-b8 call in each of numrnn's two threads, largest first."""
    call = _layer_call("numrnn", cell, BATCHED["small-b8"], 2, None)
    for _ in range(10):
        call()

    def ticks():
        counts = {}
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            counts[task] = int(fields[11]) + int(fields[12])
        return counts

    before, start, calls = ticks(), time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        call()
        calls += 1
    after = ticks()
    used = sorted((after[task] - before.get(task, 0) for task in after), reverse=True)
    tick = 1e6 / os.sysconf("SC_CLK_TCK")
    return [round(count * tick / calls) for count in used if count]


def _child(args, *extra, environment=None):
    """Run this script as a fresh child and return its JSON answer."""
    command = [sys.executable, os.path.abspath(__file__), "--child", *map(str, extra),
               "--calls", str(args.calls), "--rounds", str(args.rounds),
               "--model-dir", args.model_dir]
    return harness.child_json(command, f"child {' '.join(map(str, extra))}",
                              env={**os.environ, **(environment or {})})


def _export_models(model_dir, cells):
    import peers

    shapes = [(SINGLE_ROW["input"], SINGLE_ROW["hidden"])]
    shapes += sorted({(n_in, hidden) for _, _, n_in, hidden in BATCHED.values()})
    for cell in cells:
        for n_in, hidden in shapes:
            module = peers.make_numrnn(cell, {"input": n_in, "hidden": hidden})
            peers.export_onnx(module, os.path.join(model_dir, f"{cell}-{n_in}-{hidden}.onnx"))


def report(args):
    cells = args.cells.split(",")
    libraries = ["numrnn"] + ([] if args.skip_ort else ["onnxruntime"])
    if not args.skip_ort:
        _export_models(args.model_dir, cells)
    machine = harness.machine_info(None)
    print(f"# {machine['cpu']}, {machine['cores']} cores, git {machine['git']}, "
          f"load {os.getloadavg()[0]:.1f}")
    print("\n## B = 1, I = 32, H = 64: fixed cost and cost per step (µs, one thread, CPU time)\n")
    print("| cell | library | T = 1 | T = 50 | T = 200 | per step | fixed |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for cell in cells:
        for library in libraries:
            times = {int(k): v for k, v in _child(args, "slopes", library, cell).items()}
            per_step = (times[200] - times[1]) / 199
            print(f"| {cell} | {library} | {times[1]:.1f} | {times[50]:.1f} | {times[200]:.1f} "
                  f"| {per_step:.2f} | {times[1] - per_step:.1f} |")
    print("\n## numrnn's pieces at B = 1 (µs, one thread, CPU time)\n")
    print("| cell | h·W_hhᵀ per step | W_hh bytes | GB/s | projection per call (T = 50) |")
    print("|---|---:|---:|---:|---:|")
    for cell in cells:
        parts = _child(args, "parts", cell)
        print(f"| {cell} | {parts['product']:.2f} | {parts['bytes'] // 1024} KiB | "
              f"{parts['bytes'] / parts['product'] / 1e3:.0f} | {parts['projection']:.1f} |")
    peak = args.peak or max(harness.gemm_gflops().values())
    print(f"\n## Batched (ms); floor: multiply-adds at NumPy's GEMM rate, {peak:.0f} GFLOP/s "
          "on every core\n")
    print("| cell | config | library | one thread (CPU) | default threads (wall) | floor |")
    print("|---|---|---|---:|---:|---:|")
    for cell in cells:
        for name, (batch, steps, n_in, hidden) in BATCHED.items():
            flops = 2 * batch * steps * (n_in + hidden) * GATES[cell] * hidden
            for library in libraries:
                times = _child(args, "batched", library, cell, name)
                print(f"| {cell} | {name} | {library} | {times['one thread cpu'] / 1e3:.3f} | "
                      f"{times['default wall'] / 1e3:.3f} | {flops / peak / 1e6:.3f} |")
    print("\n## numrnn's CPU time per small-b8 call by thread (µs), two threads, OpenMP layer\n")
    openmp = {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "passive"}
    for cell in cells:
        print(f"- {cell}: {_child(args, 'shares', cell, environment=openmp)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cells", default="LSTM,GRU")
    parser.add_argument("--skip-ort", action="store_true")
    parser.add_argument("--peak", type=float, default=None,
                        help="GFLOP/s of the floor (default: NumPy's GEMM, measured now; "
                             "on a loaded machine give the idle figure)")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--child", nargs="+", default=None)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "slopes":
            result = child_slopes(*rest, args.calls, args.rounds, args.model_dir)
        elif kind == "parts":
            result = child_parts(*rest, args.calls, args.rounds)
        elif kind == "batched":
            result = child_batched(*rest, max(1, args.calls // 10), args.rounds, args.model_dir)
        else:
            result = child_shares(*rest)
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory() as model_dir:
        args.model_dir = args.model_dir or model_dir
        report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
