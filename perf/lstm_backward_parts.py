"""Where the plain LSTM's backward pass goes, part by part (issue #21 item 4).

Run: ``python perf/lstm_backward_parts.py [--threads 1] [--clock process]
[--configs small-b8,small,medium,large] [--rounds 15]``.

For each configuration (B, T, I, H of ``perf/compare.py``, float32) it times, in
alternation, each part of the kernels' training step: ``forward_train``, the
whole backward as a layer whose input needs no gradient calls it (weight and
bias gradients), the backward recurrence alone (no gradient asked for after the
loop), then the products after the loop on arrays of their shapes: the
weight gradients ``dGᵀ·x`` and ``dGᵀ·h_prev`` as ``gemm.matmul`` makes each and
as :func:`numrnn.kernels.gradient_products.gradient_products` makes both, the
input gradient ``dG·W_ih``, and the bias sum. It prints each part's median and
fastest milliseconds. With ``--clock process`` on one thread a part's time is
its own CPU time, whatever else a shared machine runs (``--threads 1`` caps
every pool, as ``perf/harness.py`` does; without it the libraries' defaults).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

CONFIGS = {"small-b8": (8, 50, 64, 128), "small": (32, 50, 64, 128),
           "medium": (64, 100, 256, 256), "large": (64, 100, 512, 512),
           "adding": (64, 100, 2, 64)}


def runners(batch, steps, n_in, hidden):
    """``{part: callable}`` for one configuration."""
    from numrnn.kernels import lstm, lstm_backward
    from numrnn.kernels.gemm import matmul
    from numrnn.kernels.gradient_products import gradient_products

    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, n_in), dtype=np.float32)
    bound = 1 / np.sqrt(hidden)
    weights = tuple(rng.uniform(-bound, bound, shape).astype(np.float32) for shape in
                    ((4 * hidden, n_in), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)))
    zeros = np.zeros((batch, hidden), dtype=np.float32)
    states, lengths = (zeros, zeros), np.full(batch, steps, np.int64)
    _, _, saved = lstm.forward_train(x, states, weights)
    grad_output = np.ones((steps, batch, hidden), dtype=np.float32)
    grad_finals = (zeros, zeros)
    weight_needs, no_needs = (False,) * 3 + (True,) * 4, (False,) * 7
    positions = steps * batch
    # The GEMMs' time does not depend on the values (none are subnormal).
    grads = rng.standard_normal((positions, 4 * hidden), dtype=np.float32)
    prev_hidden = rng.standard_normal((positions, hidden), dtype=np.float32)
    inputs = x.reshape(positions, n_in)
    return {
        "forward_train": lambda: lstm.forward_train(x, states, weights),
        "backward (weights, biases)": lambda: lstm_backward.backward(
            grad_output, grad_finals, x, states, weights, saved, lengths, False, {},
            weight_needs),
        "backward recurrence alone": lambda: lstm_backward.backward(
            grad_output, grad_finals, x, states, weights, saved, lengths, False, {}, no_needs),
        "dW_ih, dW_hh by matmul": lambda: (matmul(grads.T, inputs), matmul(grads.T, prev_hidden)),
        "dW_ih, dW_hh by gradient_products": lambda: gradient_products(
            grads, weights[0], inputs, prev_hidden, (False, True, True)),
        "dx by matmul": lambda: matmul(grads, weights[0]),
        "bias sum": lambda: grads.sum(axis=0),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small-b8,small,medium,large")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--clock", choices=("wall", "process"), default="wall")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    harness.set_thread_env(args.threads)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    for name in args.configs.split(","):
        parts = runners(*CONFIGS[name])
        for run in parts.values():
            run()
        samples = {part: [] for part in parts}
        for _ in range(args.rounds):
            for part, run in parts.items():
                start = clock()
                run()
                samples[part].append(clock() - start)
        print(f"{name} {CONFIGS[name]}")
        for part, times in samples.items():
            print(f"  {part:36s} median {1e3 * statistics.median(times):9.3f} ms"
                  f"  fastest {1e3 * min(times):9.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
