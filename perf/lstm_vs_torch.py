"""Time F.lstm against torch.nn.LSTM (float32, CPU), inference and a training step.

Run: ``python perf/lstm_vs_torch.py [--budget SECONDS] [--threads N] [--scaling]``.
Prints medians (and minima) in ms, the median ratio numrnn / torch for each
configuration (below 1 means numrnn is faster), numrnn's GEMM GFLOP/s and its
fraction of numpy's float32 GEMM measured in the same run. numrnn and torch
calls alternate, so both see the same background load. Absolute times drift between
machines; only ratios from one run compare. The first calls (JIT compilation,
allocator warm-up) are excluded. ``--threads`` caps every pool (numba, both
OpenBLAS copies, torch) before they start: on a machine shared with other jobs,
per-step thread barriers make 2-thread timings swing by orders of magnitude.
"""

import argparse
import os
import sys
import time

if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _parser.add_argument("--budget", type=float, default=2.0,
                         help="seconds spent timing each measurement (default 2)")
    _parser.add_argument("--threads", type=int, default=None,
                         help="threads for every pool (default: the libraries' own)")
    _parser.add_argument("--configs", nargs="+", choices=["tiny-b1", "small", "medium", "large"],
                         help="configurations to run (default: all)")
    _parser.add_argument("--scaling", action="store_true",
                         help="also time numrnn training on 1 thread against all threads")
    ARGS = _parser.parse_args()
    if ARGS.threads is not None:
        for _name in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                      "MKL_NUM_THREADS"):
            os.environ[_name] = str(ARGS.threads)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import numrnn  # noqa: E402
from numrnn import functional as F  # noqa: E402

CONFIGS = {  # name: (B, T, I, H)
    "tiny-b1": (1, 50, 32, 64),
    "small": (32, 50, 64, 128),
    "medium": (64, 100, 256, 256),
    "large": (64, 100, 512, 512),
}


def time_pair(fn_a, fn_b, budget_s, warmup=3, min_runs=5, max_runs=200):
    """Medians and minima in ms of two functions timed alternately (a, b, a, b, ...).

    Interleaving exposes both to the same background load on a shared machine,
    so their ratio stays meaningful while absolute times drift.
    """
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    start = time.perf_counter()
    while len(times_a) < max_runs and (len(times_a) < min_runs
                                       or time.perf_counter() - start < 2 * budget_s):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return [(1e3 * float(np.median(t)), 1e3 * min(t)) for t in (times_a, times_b)]


def gemm_gflops(budget_s, n=1024):
    """numpy float32 GEMM GFLOP/s (median), the machine's practical limit."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    (ms, _), _ = time_pair(lambda: a @ a, lambda: None, budget_s)
    return 2 * n ** 3 / (ms * 1e-3) / 1e9


def lstm_flops(batch, steps, n_in, hidden, train):
    """GEMM flops of one LSTM forward (and backward: twice more) pass."""
    forward = 2 * steps * batch * 4 * hidden * (n_in + hidden)
    return 3 * forward if train else forward


def numrnn_runners(module, x):
    weights = [numrnn.Tensor(p.detach().numpy().copy(), requires_grad=True)
               for p in (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                         module.bias_hh_l0)]
    x_tensor = numrnn.Tensor(x.numpy().copy(), requires_grad=True)
    seed = None

    def infer():
        with numrnn.no_grad():
            F.lstm(x_tensor, None, None, *weights)

    def train():
        nonlocal seed
        for t in (x_tensor, *weights):
            t.grad = None
        out, _, _ = F.lstm(x_tensor, None, None, *weights)
        if seed is None:
            seed = np.ones(out.shape, dtype=out.dtype)
        out.backward(seed)

    return infer, train


def torch_runners(module, x):
    x = x.clone().requires_grad_(True)

    def infer():
        with torch.no_grad():
            module(x)

    def train():
        module.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = module(x)
        out.backward(torch.ones_like(out))

    return infer, train


def main(args):
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        numrnn.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"numba {numba.__version__}, {numrnn.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.2f}")
    peak = gemm_gflops(args.budget)
    print(f"numpy float32 GEMM (1024): {peak:.1f} GFLOP/s")
    header = (f"{'config':<8} {'(B, T, I, H)':<20} {'mode':<6} {'numrnn ms':>10} "
              f"{'(min)':>9} {'torch ms':>10} {'(min)':>9} {'ratio':>7} {'GFLOP/s':>8} "
              f"{'of GEMM':>8}")
    print(header)
    print("-" * len(header))
    for name, (batch, steps, n_in, hidden) in CONFIGS.items():
        if args.configs and name not in args.configs:
            continue
        module = torch.nn.LSTM(n_in, hidden)
        x = torch.randn(steps, batch, n_in)
        ours = numrnn_runners(module, x)
        theirs = torch_runners(module, x)
        for mode, our_fn, their_fn in zip(("infer", "train"), ours, theirs):
            (our_ms, our_min), (their_ms, their_min) = time_pair(our_fn, their_fn, args.budget)
            gflops = lstm_flops(batch, steps, n_in, hidden, mode == "train") / our_ms / 1e6
            print(f"{name:<8} {str((batch, steps, n_in, hidden)):<20} {mode:<6} "
                  f"{our_ms:>10.3f} {our_min:>9.3f} {their_ms:>10.3f} {their_min:>9.3f} "
                  f"{our_ms / their_ms:>7.2f} {gflops:>8.1f} {gflops / peak:>8.0%}", flush=True)
        if args.scaling:
            train = ours[1]

            def with_threads(threads):
                def run():
                    numrnn.set_num_threads(threads)
                    train()
                return run

            limit = numba.config.NUMBA_NUM_THREADS
            (one_ms, _), (many_ms, _) = time_pair(with_threads(1), with_threads(limit),
                                                  args.budget)
            numrnn.set_num_threads(limit)
            print(f"{name:<8} train scaling: 1 thread {one_ms:.3f} ms, {limit} threads "
                  f"{many_ms:.3f} ms, speed-up {one_ms / many_ms:.2f}x", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(ARGS)
