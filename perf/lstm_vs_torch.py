"""Time F.lstm against torch.nn.LSTM (float32, CPU), inference and a training step.

Run: ``python perf/lstm_vs_torch.py [--budget SECONDS] [--threads N]``. Prints
medians (and minima) in ms and the median ratio numrnn / torch for each
configuration (below 1 means numrnn is faster). Absolute times drift between
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


def time_ms(fn, budget_s, warmup=3, min_runs=5, max_runs=200):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs
                                     or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times)), 1e3 * min(times)


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
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"numba {numba.__version__}, {numba.get_num_threads()} threads")
    header = (f"{'config':<8} {'(B, T, I, H)':<20} {'mode':<6} {'numrnn ms':>10} "
              f"{'(min)':>9} {'torch ms':>10} {'(min)':>9} {'ratio':>7}")
    print(header)
    print("-" * len(header))
    for name, (batch, steps, n_in, hidden) in CONFIGS.items():
        module = torch.nn.LSTM(n_in, hidden)
        x = torch.randn(steps, batch, n_in)
        ours = numrnn_runners(module, x)
        theirs = torch_runners(module, x)
        for mode, our_fn, their_fn in zip(("infer", "train"), ours, theirs):
            our_ms, our_min = time_ms(our_fn, args.budget)
            their_ms, their_min = time_ms(their_fn, args.budget)
            print(f"{name:<8} {str((batch, steps, n_in, hidden)):<20} {mode:<6} "
                  f"{our_ms:>10.3f} {our_min:>9.3f} {their_ms:>10.3f} {their_min:>9.3f} "
                  f"{our_ms / their_ms:>7.2f}", flush=True)


if __name__ == "__main__":
    main(ARGS)
