"""Two checkouts of numrnn against each other, interleaved in fresh processes.

Run: ``python perf/interleaved_versions.py OLD_TREE NEW_TREE [--rounds 6]``, where
each tree is the root of a numrnn checkout (``git worktree add /tmp/old <commit>``).
``--cases training`` times the LSTM's and GRU's training steps at small-b8, small
and medium instead of the default cases; ``--threads default`` leaves numba and
BLAS their default thread counts; ``--clock process`` times each call in the
process's CPU time rather than wall time (with one thread, the time the call
itself took, whatever else the machine runs: for comparisons on a loaded machine).

For a change meant to keep speed, as issue #14's redesign was: each case runs in a
fresh process per tree and round, one thread (numba and BLAS), OpenBLAS variables
unset, the two trees alternating (old first in even rounds, new first in odd ones)
so that a slow phase of the machine hits both. A process builds the layer, warms
up three calls, then times ``calls`` more and reports their median; the verdict
is the median over rounds of those medians, and the per-round ratios are printed
so that noise shows. Each tree gets a numba cache of its own.

``--threads default`` runs each process on the libraries' defaults (every core),
as ``perf/compare.py`` and users do: for a change whose effect is in how work
spreads over the cores. ``--case CELL,MODE,B,T,I,H,CALLS`` (repeatable) times those cases instead of
``CASES``, e.g. ``--case RNN,train,64,100,512,512,8``; two optional fields more give the
layers and ``bi`` for a bidirectional layer: ``--case LSTM,infer,32,50,64,128,60,2,bi``.
"""

import argparse
import os
import statistics
import sys
import tempfile

import harness

# (cell, mode, B, T, I, H, calls[, layers, "bi" or "uni"])
CASES = [("LSTM", "train", 32, 50, 64, 128, 60), ("LSTM", "train", 64, 100, 256, 256, 8),
         ("LSTM", "infer", 1, 50, 32, 64, 400), ("GRU", "train", 32, 50, 64, 128, 60)]

# --cases training: issue #21 item 4's training steps, at small-b8, small and medium.
TRAINING_CASES = [(cell, "train", b, t, i, h, calls) for cell in ("LSTM", "GRU")
                  for b, t, i, h, calls in ((8, 50, 64, 128, 200), (32, 50, 64, 128, 60),
                                            (64, 100, 256, 256, 8))]

CHILD = r"""
import json, sys, time
import numpy as np
import numrnn
from numrnn import nn
cell, mode, b, t, i, h, calls, layers = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:9])
bidirectional = sys.argv[9] == "bi"
clock = time.process_time if sys.argv[10] == "process" else time.perf_counter
layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell](
    i, h, num_layers=layers, bidirectional=bidirectional, rng=0)
x = numrnn.Tensor(np.random.default_rng(1).standard_normal((t, b, i)).astype(np.float32))
seed = np.ones((t, b, (2 if bidirectional else 1) * h), np.float32)

def infer():
    with numrnn.no_grad():
        layer(x)

def train():
    for param in layer.parameters():
        param.grad = None
    layer(x)[0].backward(seed)

run = infer if mode == "infer" else train
for _ in range(3):
    run()
times = []
for _ in range(calls):
    start = clock()
    run()
    times.append(clock() - start)
print(json.dumps({"median": sorted(times)[len(times) // 2]}))
"""


def run_case(tree, name, case, cache, threads, clock):
    env = harness.environment_without_blas_overrides(
        PYTHONPATH=tree, NUMBA_CACHE_DIR=os.path.join(cache, name))
    for variable in harness.THREAD_VARIABLES:
        env.pop(variable, None)
    if threads == "1":
        env.update(dict.fromkeys(harness.THREAD_VARIABLES, "1"))
    layers, directions = case[7:] or (1, "uni")
    command = [sys.executable, "-c", CHILD, *map(str, case[:7]), str(layers), directions, clock]
    return harness.child_json(command, f"the {name} tree on {case}", env=env,
                              cwd=tempfile.gettempdir())["median"]


def _case(text):
    cell, mode, *fields = text.split(",")
    sizes, stack = fields[:5], fields[5:]
    if len(sizes) != 5 or len(stack) > 2 or stack[1:] not in ([], ["bi"], ["uni"]):
        raise argparse.ArgumentTypeError(
            f"expected CELL,MODE,B,T,I,H,CALLS[,LAYERS[,bi|uni]], got {text!r}")
    if not stack:
        return (cell, mode, *map(int, sizes))
    return (cell, mode, *map(int, sizes), int(stack[0]), (stack[1:] or ["uni"])[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--cases", choices=("default", "training"), default="default")
    parser.add_argument("--case", action="append", type=_case, dest="own_cases",
                        help="CELL,MODE,B,T,I,H,CALLS[,LAYERS[,bi|uni]] instead of the "
                             "built-in cases")
    parser.add_argument("--threads", choices=("1", "default"), default="1")
    parser.add_argument("--clock", choices=("wall", "process"), default="wall")
    args = parser.parse_args()
    cases = args.own_cases or (TRAINING_CASES if args.cases == "training" else CASES)
    trees = [("old", os.path.abspath(args.old)), ("new", os.path.abspath(args.new))]
    times = {}
    with tempfile.TemporaryDirectory() as cache:
        for round_index in range(args.rounds):
            for name, tree in trees if round_index % 2 == 0 else trees[::-1]:
                for case in cases:
                    times.setdefault(case[:6] + case[7:], {}).setdefault(name, []).append(
                        run_case(tree, name, case, cache, args.threads, args.clock))
    for case, by_tree in times.items():
        old, new = statistics.median(by_tree["old"]), statistics.median(by_tree["new"])
        ratios = [round(b / a, 3) for a, b in zip(by_tree["old"], by_tree["new"])]
        print(f"{case}: old {old * 1e3:.3f} ms, new {new * 1e3:.3f} ms, new/old "
              f"{new / old:.3f} (per round {ratios})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
