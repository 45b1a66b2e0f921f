"""What a small recurrent call costs around its kernel: module call, taped and untaped.

Run: ``python perf/small_calls.py [--rounds 7] [--calls 2000] [--clock wall|cpu]
[--shape issue-14|tiny-b1]``.

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
under load 9-11 from other jobs (rough figures), ``--clock cpu``, after the
second pass on the untaped call (µs, two runs; the method, main's figures and
where the time goes: ``docs/performance.md``, "Small calls cost little"):

| cell | kernel | untaped | budget | taped | budget |
|---|---|---|---|---|---|
| LSTM | 8.9-9.1 | 15.3-15.5 | 16.6-16.9 met | 23.6-23.8 | 27.8-28.3 met |
| GRU | 8.2 | 14.5-14.8 | 15.7 met | 22.4-22.8 | 26.5 met |
| RNN | 6.1-6.6 | 11.8-11.9 | 13.0-13.6 met | 19.0-19.3 | 22.3-23.3 met |

(main, ``ac4da02``, alternated with them: untaped LSTM 16.5-17.2 against
16.0-16.1, missed; RNN missed too, GRU met once.) Minima of CPU time put every
untaped row 1.2-1.6 µs under its budget.
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

# issue-14: the small layer of issue #14; tiny-b1: issue #21's (B, T, I, H) = (1, 50, 32, 64),
# where the call around the kernel is what numrnn can still take off against ONNX Runtime.
SHAPES = {"issue-14": {"input": 8, "hidden": 16, "batch": 1, "steps": 5},
          "tiny-b1": {"input": 32, "hidden": 64, "batch": 1, "steps": 50}}
SHAPE = SHAPES["issue-14"]


def runners(cell, shape=None):
    """``{"kernel": fn, "untaped": fn, "taped": fn}`` for one cell kind."""
    shape = shape or SHAPE
    n_in, hidden, batch, steps = (shape[key] for key in ("input", "hidden", "batch", "steps"))
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


def measure(cell, rounds, calls, clock=time.perf_counter, shape=None):
    fns = runners(cell, shape)
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
    parser.add_argument("--shape", choices=sorted(SHAPES), default="issue-14")
    args = parser.parse_args()
    shape = SHAPES[args.shape]
    machine = harness.machine_info(None)
    print(f"# small calls, {shape}: µs per call ({args.clock} clock), "
          f"medians of {args.rounds} rounds")
    print(f"# {machine['cpu']}, {machine['cores']} cores, git {machine['git']}")
    print("| cell | kernel | untaped | budget | taped | budget |")
    print("|---|---|---|---|---|---|")
    for cell in ("LSTM", "GRU", "RNN"):
        result = measure(cell, args.rounds, args.calls, CLOCKS[args.clock], shape)
        kernel = result["kernel"]
        untaped_budget, taped_budget = 1.3 * kernel + 5, 2 * kernel + 10
        print(f"| {cell} | {kernel:.1f} | {result['untaped']:.1f} | {untaped_budget:.1f} "
              f"{'met' if result['untaped'] <= untaped_budget else 'missed'} | "
              f"{result['taped']:.1f} | {taped_budget:.1f} "
              f"{'met' if result['taped'] <= taped_budget else 'missed'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
