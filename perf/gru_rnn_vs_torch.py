"""Time F.gru and F.rnn against torch.nn.GRU / torch.nn.RNN (float32, CPU).

Run: ``python perf/gru_rnn_vs_torch.py [--budget SECONDS] [--cells gru rnn]``.
For each configuration prints medians in ms of the forward pass (``infer``, under
``no_grad``) and of forward + backward (``train``), and the ratio numrnn / torch
(below 1 means numrnn is faster). The first calls (JIT compilation, allocator
warm-up) are excluded. Absolute times drift between machines; only ratios from
one run compare.
"""

import argparse
import os
import time

import numba
import numpy as np
import torch

import numrnn
from numrnn import functional as F

CONFIGS = {  # name: (B, T, I, H)
    "tiny-b1": (1, 50, 32, 64),
    "small": (32, 50, 64, 128),
    "medium": (64, 100, 256, 256),
    "large": (64, 100, 512, 512),
}

CELLS = {  # name: (torch module class, numrnn op)
    "gru": (torch.nn.GRU, F.gru),
    "rnn": (torch.nn.RNN, F.rnn),
}


def median_pair(fn_a, fn_b, budget_s, warmup=3, min_runs=5, max_runs=200):
    """Median ms of two functions timed alternately (a, b, a, b, ...), so that both
    see the same background load on a shared machine."""
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
    return 1e3 * float(np.median(times_a)), 1e3 * float(np.median(times_b))


def numrnn_runners(op, module, x):
    weights = [numrnn.Tensor(p.detach().numpy().copy(), requires_grad=True)
               for p in (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                         module.bias_hh_l0)]
    x_tensor = numrnn.Tensor(x.numpy().copy(), requires_grad=True)
    seed = None

    def infer():
        with numrnn.no_grad():
            op(x_tensor, None, *weights)

    def train():
        nonlocal seed
        for t in (x_tensor, *weights):
            t.grad = None
        out, _ = op(x_tensor, None, *weights)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=2.0,
                        help="seconds spent timing each measurement (default 2)")
    parser.add_argument("--cells", nargs="+", choices=sorted(CELLS), default=sorted(CELLS))
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for torch and numrnn (numba and BLAS, through "
                             "numrnn.set_num_threads; default: the libraries' own)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        numrnn.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"numba {numba.__version__}, {numrnn.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.2f}")
    header = (f"{'cell':<4} {'config':<8} {'(B, T, I, H)':<20} {'mode':<6} "
              f"{'numrnn ms':>10} {'torch ms':>10} {'ratio':>7}")
    print(header)
    print("-" * len(header))
    for cell in args.cells:
        module_class, op = CELLS[cell]
        for name, (batch, steps, n_in, hidden) in CONFIGS.items():
            module = module_class(n_in, hidden)
            x = torch.randn(steps, batch, n_in)
            ours = numrnn_runners(op, module, x)
            theirs = torch_runners(module, x)
            for mode, our_fn, their_fn in zip(("infer", "train"), ours, theirs):
                our_ms, their_ms = median_pair(our_fn, their_fn, args.budget)
                print(f"{cell:<4} {name:<8} {str((batch, steps, n_in, hidden)):<20} "
                      f"{mode:<6} {our_ms:>10.3f} {their_ms:>10.3f} "
                      f"{our_ms / their_ms:>7.2f}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
