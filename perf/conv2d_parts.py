"""Where the second encoder convolution's time goes, on one thread, against PyTorch's.

Run: ``python perf/conv2d_parts.py [--budget SECONDS] [--out FILE]``.

The layer of ``perf/conv2d.py`` that misses its target (float32, N=32, 16 → 32
channels on 16x16, 3x3, padding 1) taken apart on one thread, where a loaded
machine distorts least (a parallel region waits for its slowest thread; one
thread waits for nothing but its own core). The numrnn child times its
convolution kernels (forward, the weight gradient alone, the input gradient
alone: :mod:`numrnn.kernels.conv2d`) and, alone, the N single-threaded GEMMs of
each kind they make (one per image, called from compiled code on NumPy's
OpenBLAS as the kernels call it, on operands that stay in cache), in GFLOP/s;
the PyTorch child times ``torch.nn.Conv2d`` forward and forward + backward.
Each runs in its own fresh interpreter (``--child``) with every thread pool
capped at one; the fastest rounds are reported (:func:`harness.interleaved`).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import conv2d  # noqa: E402
import harness  # noqa: E402

BATCH, IN_CHANNELS, OUT_CHANNELS, SIZE = 32, 16, 32, 16
TAPS, POSITIONS = IN_CHANNELS * 9, SIZE * SIZE
# Each per-image product of numrnn's kernels: (name, M, K, N, transpose a, transpose b).
GEMMS = (("32 x forward: weight2d @ cols", OUT_CHANNELS, TAPS, POSITIONS, False, False),
         ("32 x weight grad: cols @ grad_yᵀ", TAPS, POSITIONS, OUT_CHANNELS, False, True),
         ("32 x input grad: weight2dᵀ @ grad_y", TAPS, OUT_CHANNELS, POSITIONS, True, False))


def _numrnn_parts(budget):
    import numba
    import numpy as np

    from numrnn.kernels import conv2d as kernels
    from numrnn.kernels.blas import gemm
    from numrnn.kernels.blas_threads import single_threaded_kernel_blas

    @numba.njit(nogil=True)
    def per_image_gemms(a, b, out):
        for _ in range(BATCH):
            gemm(a, b, out)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, IN_CHANNELS, SIZE, SIZE), dtype=np.float32)
    matrix = rng.standard_normal((OUT_CHANNELS, TAPS), dtype=np.float32)
    bias = np.zeros(OUT_CHANNELS, dtype=np.float32)
    grad_y = np.ones((BATCH, OUT_CHANNELS, POSITIONS), dtype=np.float32)
    geometry = (1, 3, 3, 1, 1, 1, 1, 1, 1, SIZE, SIZE)
    runners = {
        "kernel forward": lambda: kernels.forward(x, matrix, bias, *geometry),
        "kernel weight grad": lambda: kernels.backward(x, matrix, grad_y, *geometry, False, True),
        "kernel input grad": lambda: kernels.backward(x, matrix, grad_y, *geometry, True, False),
    }
    operands = {}
    for name, m, k, n, trans_a, trans_b in GEMMS:
        a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
        operands[name] = (a.T if trans_a else a, b.T if trans_b else b,
                          np.empty((m, n), dtype=np.float32))
        runners[name] = lambda args=operands[name]: per_image_gemms(*args)
    with single_threaded_kernel_blas():
        timings = harness.interleaved(runners, budget)
    for name, m, k, n, _, _ in GEMMS:
        seconds = timings[name]["min_ms"] * 1e-3
        timings[name]["gflops_fastest"] = 2.0 * BATCH * m * k * n / seconds / 1e9
    return timings


def _torch_parts(budget):
    # The second layer as perf/conv2d.py runs it in PyTorch (its input needs a gradient).
    forward, train = conv2d._torch_runners(BATCH, IN_CHANNELS, OUT_CHANNELS, SIZE, True)
    return harness.interleaved({"torch forward": forward, "torch forward+backward": train},
                               budget)


def run_child(library, budget):
    command = [sys.executable, os.path.abspath(__file__), "--child", library,
               "--budget", str(budget)]
    return harness.child_json(command, f"{library} child")


def markdown(report):
    lines = ["| part (one thread) | fastest ms | median ms | GFLOP/s (fastest) |",
             "|---|---:|---:|---:|"]
    for timings in report["results"].values():
        for name, timing in timings.items():
            gflops = timing.get("gflops_fastest")
            lines.append(f"| {name} | {timing['min_ms']:.3f} | {timing['median_ms']:.3f} | "
                         + (f"{gflops:.1f} |" if gflops else "— |"))
    machine = report["machine"]
    lines += ["", f"{machine['cpu']}, {machine['cores']} cores, load average "
              f"{machine['load_average']}, threads: {machine['threads']}"]
    lines += [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds of timed rounds per library (after warm-up)")
    parser.add_argument("--out", default=None, help="also write the report as JSON here")
    parser.add_argument("--child", choices=("numrnn", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        harness.set_thread_env(1)
        if args.child == "numrnn":
            harness.set_numrnn_threads(1)
            print(json.dumps(_numrnn_parts(args.budget)))
        else:
            import torch

            torch.set_num_threads(1)
            print(json.dumps(_torch_parts(args.budget)))
        return 0

    import peers

    notes, results = [], {"numrnn": run_child("numrnn", args.budget)}
    reason = peers.available("torch")
    if reason:
        notes.append(reason)
    else:
        results["torch"] = run_child("torch", args.budget)
    report = {"machine": harness.machine_info(1), "results": results, "notes": notes}
    print(markdown(report))
    if args.out:
        harness.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
