"""The layer-normalised LSTM's training step in two checkouts, alternating fresh processes.

Run: ``python perf/layer_norm_lstm_versions.py OLD_TREE NEW_TREE [--configs small,medium]
[--rounds 4] [--budget 4] [--threads N]``.

Each round runs, for each tree in turn (old first in odd rounds, new first in
even ones, so that a burst of load hits both), ``perf/layer_norm_lstm.py``'s
numrnn step in a fresh interpreter that imports that tree's numrnn, with the
libraries' default threads (or every pool capped at ``--threads``), OpenBLAS
variables unset; the child warms up three
steps, then times steps for ``--budget`` seconds and reports the median wall
and process CPU milliseconds per step (CPU time is what load from other
processes distorts least), and the least of each (what a step takes when
nothing else disturbs it, on a loaded machine the steadier figure). Prints
every round, then the medians over rounds.
"""

import argparse
import os
import statistics
import sys

PERF = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, PERF)

import harness  # noqa: E402

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from layer_norm_lstm import CONFIGS, numrnn_step
step = numrnn_step(CONFIGS[sys.argv[2]])
for _ in range(3):
    step()
wall, cpu = [], []
end = time.perf_counter() + float(sys.argv[3])
while time.perf_counter() < end or len(wall) < 5:
    w, c = time.perf_counter(), time.process_time()
    step()
    wall.append(time.perf_counter() - w)
    cpu.append(time.process_time() - c)
print(json.dumps({"wall_ms": 1e3 * sorted(wall)[len(wall) // 2],
                  "cpu_ms": 1e3 * sorted(cpu)[len(cpu) // 2],
                  "least_wall_ms": 1e3 * min(wall), "least_cpu_ms": 1e3 * min(cpu),
                  "steps": len(wall)}))
"""


def run_child(tree, config, budget, threads):
    """One fresh interpreter timing ``tree``'s step at ``config``: its JSON result."""
    env = harness.environment_without_blas_overrides(PYTHONPATH=tree)
    if threads is not None:
        env.update({name: str(threads) for name in harness.THREAD_VARIABLES})
    return harness.child_json([sys.executable, "-c", CHILD, PERF, config, str(budget)],
                              f"{tree} on {config}", env=env, cwd=tree)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--configs", default="small,medium")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--budget", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=None,
                        help="cap every pool at this many threads (default: the libraries' own)")
    args = parser.parse_args()
    trees = [("old", os.path.abspath(args.old)), ("new", os.path.abspath(args.new))]
    for config in args.configs.split(","):
        runs = {"old": [], "new": []}
        for index in range(args.rounds):
            for name, tree in trees if index % 2 == 0 else trees[::-1]:
                result = run_child(tree, config, args.budget, args.threads)
                runs[name].append(result)
                print(f"{config} round {index + 1} {name}: wall {result['wall_ms']:.2f} ms, "
                      f"cpu {result['cpu_ms']:.2f} ms ({result['steps']} steps, load average "
                      f"{os.getloadavg()[0]:.1f})", flush=True)
        for measure in ("wall_ms", "cpu_ms", "least_wall_ms", "least_cpu_ms"):
            old = statistics.median(r[measure] for r in runs["old"])
            new = statistics.median(r[measure] for r in runs["new"])
            print(f"{config} {measure}: old {old:.2f}, new {new:.2f}, new/old {new / old:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
