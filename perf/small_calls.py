"""What a small recurrent call costs around its kernel: module call, taped and untaped.

Run: ``python perf/small_calls.py [--rounds 7] [--calls 2000] [--clock wall|cpu]``.

At small sizes (issue #14: ``nn.LSTM(8, 16)``, B = 1, T = 5) the compiled
kernel takes microseconds and what surrounds it (validation, reshapes,
stacking states, the tape) can cost several times that. For each cell kind
this times, in one process and interleaved round by round (medians of
``--rounds`` rounds of ``--calls`` calls, warm-up excluded):

- ``kernel``: the inference kernel's Python entry point on ready arrays
  (``numrnn.kernels.<cell>.forward_infer``);
- ``untaped``: the module under ``numrnn.no_grad()`` (the path a server takes);
- ``taped``: the module with an input that requires a gradient (forward only;
  the tape is recorded, no backward).

and reports each in µs with the issue's budgets: untaped within 1.3x the
kernel + 5 µs, taped within 2x the kernel + 10 µs. ``--clock cpu`` times with
the calling thread's CPU time (``time.thread_time``) instead of the wall clock:
on a machine shared with other jobs the wall clock also counts the time the
process waited for a core, which inflates every column alike.

Measured 2026-12-07 on the 2-core AMD EPYC (Zen 4), OpenBLAS variables unset,
under load 7-10 from other jobs, ``--clock cpu``, after issue #14 item 7's
trims (µs; the method and the old tree's figures: ``docs/performance.md``,
"Small calls cost little"):

| cell | kernel | untaped | budget | taped | budget |
|---|---|---|---|---|---|
| LSTM | 7.9-8.8 | 16.3-17.8 | 15.3-16.4 missed | 22.1-25.2 | 25.8-27.5 met |
| GRU | 7.5-8.5 | 14.9-16.6 | 14.8-16.0 met once | 21.2-24.8 | 25.1-27.0 met |
| RNN | 5.7-6.6 | 12.4-14.0 | 12.5-13.6 met once | 17.5-19.8 | 21.5-23.3 met |

(three runs; the old tree, ``03bcebb``, alternated with them: untaped
18.4-27.5, every row missed by 5.4-9.4 µs). Minima of CPU time, which the load
inflates less, put the untaped call at the budget's edge: LSTM 15.1-15.8
against 15.2-15.4, GRU 14.2-14.3 against 14.5-14.6, RNN 12.1-12.6 against
12.1-12.2.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import harness  # noqa: E402
import numpy as np  # noqa: E402

import numrnn  # noqa: E402
from numrnn import nn  # noqa: E402

SHAPE = {"input": 8, "hidden": 16, "batch": 1, "steps": 5}


def runners(cell):
    """``{"kernel": fn, "untaped": fn, "taped": fn}`` for one cell kind."""
    n_in, hidden, batch, steps = (SHAPE[key] for key in ("input", "hidden", "batch", "steps"))
    layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell](n_in, hidden, rng=0)
    x = np.random.default_rng(0).standard_normal((steps, batch, n_in)).astype(np.float32)
    x_tensor = numrnn.Tensor(x)
    x_grad = numrnn.Tensor(x, requires_grad=True)
    states = tuple(np.zeros((batch, hidden), np.float32) for _ in layer.kind.states)
    weights = tuple(np.ascontiguousarray(param.data) for param in layer._weights(0, 0))
    options = layer.kind.options_of(layer)
    kernels = layer.kind.forward_kernels

    def kernel():
        return kernels.forward_infer(x, states, weights, None, False, options)

    def untaped():
        with numrnn.no_grad():
            return layer(x_tensor)

    def taped():
        return layer(x_grad)

    return {"kernel": kernel, "untaped": untaped, "taped": taped}


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def time_calls(fn, calls, clock=time.perf_counter):
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls * 1e6


def measure(cell, rounds, calls, clock=time.perf_counter):
    fns = runners(cell)
    for fn in fns.values():
        for _ in range(50):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(time_calls(fn, calls, clock))
    return {name: harness.median(values) for name, values in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: time.perf_counter; cpu: this thread's CPU time")
    args = parser.parse_args()
    machine = harness.machine_info(None)
    print(f"# small calls, {SHAPE}: µs per call ({args.clock} clock), "
          f"medians of {args.rounds} rounds")
    print(f"# {machine['cpu']}, {machine['cores']} cores, git {machine['git']}")
    print("| cell | kernel | untaped | budget | taped | budget |")
    print("|---|---|---|---|---|---|")
    for cell in ("LSTM", "GRU", "RNN"):
        result = measure(cell, args.rounds, args.calls, CLOCKS[args.clock])
        kernel = result["kernel"]
        untaped_budget, taped_budget = 1.3 * kernel + 5, 2 * kernel + 10
        print(f"| {cell} | {kernel:.1f} | {result['untaped']:.1f} | {untaped_budget:.1f} "
              f"{'met' if result['untaped'] <= untaped_budget else 'missed'} | "
              f"{result['taped']:.1f} | {taped_budget:.1f} "
              f"{'met' if result['taped'] <= taped_budget else 'missed'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
