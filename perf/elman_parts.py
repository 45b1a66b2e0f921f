"""Where the Elman layer's training step goes, on one thread, and what GEMM chunking costs it.

Run: ``python perf/elman_parts.py [--configs medium,large] [--rounds N] [--out FILE]``.

Issue #21 item 4: the tanh ``nn.RNN`` training step at ``large`` (B = 64,
T = 100, I = H = 512) cost 4.0x its inference where ``medium`` cost 2.3x. For
each configuration the child process (every thread pool capped at one, where a
loaded machine distorts least) times, in alternation, each part's CPU time
(:func:`cpu_interleaved`: on one thread it counts the part's own work, not the
waits for a core that other processes on a shared host cause):

- the kernels' parts: ``forward_train``, the backward recurrence alone (no
  gradient asked for), and the backward with the two weight gradients (as a
  layer whose input needs no gradient calls it);
- the pair of weight-gradient products ``dᵀ·x`` and ``dᵀ·h_prev`` (H rows,
  T·B deep) cut into row chunks of 64, 128, 256 rows and whole, each chunk one
  single-threaded GEMM as :mod:`numrnn.kernels.gemm` makes them;
- the input projection ``x·W_ihᵀ`` (T·B rows) in chunks of 256 and 800 rows and whole.

Each GEMM figure comes with its GFLOP/s at the fastest round.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

CONFIGS = {"medium": (64, 100, 256, 256), "large": (64, 100, 512, 512)}
PAIR_CHUNKS = (64, 128, 256, None)
PROJECTION_CHUNKS = (256, 800, None)


def cpu_interleaved(runners, rounds, warmup=2):
    """``{name: {median_ms, min_ms, n}}`` of each runner's process CPU time over ``rounds``
    rounds, every round calling each runner once in an order rotated every round."""
    names = list(runners)
    for _ in range(warmup):
        for name in names:
            runners[name]()
    samples = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.process_time()
            runners[name]()
            samples[name].append(time.process_time() - start)
    return {name: {"median_ms": 1e3 * harness.median(samples[name]),
                   "min_ms": 1e3 * min(samples[name]), "n": rounds} for name in names}


def _numrnn_parts(config, rounds):
    import numpy as np
    from numba import prange

    from numrnn.kernels import elman, elman_backward
    from numrnn.kernels.blas import gemm
    from numrnn.kernels.blas_threads import single_threaded_kernel_blas
    from numrnn.kernels.jit import parallel_kernel

    @parallel_kernel
    def chunked(a, b, out, size):
        for chunk in prange((a.shape[0] + size - 1) // size):
            first = chunk * size
            stop = min(first + size, a.shape[0])
            gemm(a[first:stop], b, out[first:stop])

    batch, steps, n_in, hidden = CONFIGS[config]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, n_in), dtype=np.float32)
    bound = 1 / np.sqrt(hidden)
    weights = tuple(rng.uniform(-bound, bound, shape).astype(np.float32)
                    for shape in ((hidden, n_in), (hidden, hidden), (hidden,), (hidden,)))
    h0 = np.zeros((batch, hidden), dtype=np.float32)
    output, finals, saved = elman.forward_train(x, (h0,), weights)
    seed, grad_h_n = np.ones_like(output), (np.zeros_like(h0),)
    rows = steps * batch
    d_t = rng.standard_normal((rows, hidden), dtype=np.float32).T
    inputs, states = x.reshape(rows, n_in), saved[1].reshape(rows, hidden)
    pair = np.empty((hidden, n_in), np.float32), np.empty((hidden, hidden), np.float32)
    projection = np.empty((rows, hidden), dtype=np.float32)

    def backward(needs):
        return lambda: elman_backward.backward(seed, grad_h_n, x, (h0,), weights, saved,
                                               needs=needs)

    runners = {
        "forward_train": lambda: elman.forward_train(x, (h0,), weights),
        "backward recurrence": backward((False,) * 6),
        "backward, weight gradients": backward((False, False, True, True, True, True)),
    }
    flops = {}
    for size in PAIR_CHUNKS:
        name = f"dW pair, {size or 'whole'}-row chunks"
        runners[name] = lambda size=size or hidden: (chunked(d_t, inputs, pair[0], size),
                                                     chunked(d_t, states, pair[1], size))
        flops[name] = 2.0 * rows * hidden * (n_in + hidden)
    for size in PROJECTION_CHUNKS:
        name = f"projection, {size or 'whole'}-row chunks"
        runners[name] = lambda size=size or rows: chunked(inputs, weights[0].T, projection, size)
        flops[name] = 2.0 * rows * n_in * hidden
    with single_threaded_kernel_blas():
        timings = cpu_interleaved(runners, rounds)
    for name, count in flops.items():
        timings[name]["gflops_fastest"] = count / (timings[name]["min_ms"] * 1e-3) / 1e9
    return timings


def run_child(config, rounds):
    command = [sys.executable, os.path.abspath(__file__), "--child", config,
               "--rounds", str(rounds)]
    return harness.child_json(command, f"{config} child")


def markdown(report):
    lines = ["| config | part (one thread, CPU time) | fastest ms | median ms "
             "| GFLOP/s (fastest) |", "|---|---|---:|---:|---:|"]
    for config, timings in report["results"].items():
        for name, timing in timings.items():
            gflops = timing.get("gflops_fastest")
            lines.append(f"| {config} | {name} | {timing['min_ms']:.2f} | "
                         f"{timing['median_ms']:.2f} | " + (f"{gflops:.1f} |" if gflops else "— |"))
    machine = report["machine"]
    lines += ["", f"{machine['cpu']}, {machine['cores']} cores, load average "
              f"{machine['load_average']}, threads: {machine['threads']}"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="medium,large",
                        help=f"comma-separated, of {', '.join(CONFIGS)}")
    parser.add_argument("--rounds", type=int, default=7,
                        help="timed rounds per configuration (after two warm-up rounds)")
    parser.add_argument("--out", default=None, help="also write the report as JSON here")
    parser.add_argument("--child", choices=tuple(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        harness.set_thread_env(1)
        harness.set_numrnn_threads(1)
        print(json.dumps(_numrnn_parts(args.child, args.rounds)))
        return 0

    configs = args.configs.split(",")
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configs {unknown}; expected some of {sorted(CONFIGS)}")
    results = {config: run_child(config, args.rounds) for config in configs}
    report = {"machine": harness.machine_info(1), "results": results}
    print(markdown(report))
    if args.out:
        harness.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
