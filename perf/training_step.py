"""A whole training step at the adding problem's shape: numrnn against PyTorch.

Run: ``python perf/training_step.py [--quick] [--processes N] [--budget S]
[--threads N] [--out DIR]``.

Issue 21's last target: one step of ``examples/adding_problem.py``'s LSTM
(H = 64, batch 64, T = 100; a Linear read-out of the last hidden state, MSE,
Adam at 1e-2, gradient-norm clipping to 1.0; ``perf/adding_step.py`` builds
both models) in numrnn ≤ 0.8x PyTorch's. A step is zero_grad, forward, loss,
backward, clip and Adam's update on one fixed batch (drawing the batch is
NumPy's work, the same for both, and left out).

It runs as ``perf/compare.py`` runs (:func:`compare.run_processes` and
``perf/compare_child.py``): each library alone in a fresh process with its
defaults, ``--processes N`` times in rotated order (default 3), the median of
the processes' medians; the first call (JIT compile or cache load) is reported
apart and two warm-up steps are dropped; ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` are removed unless ``--keep-blas-env``. Both start from
the same initial weights, and a fresh copy of each model trains two steps on
the batch: the two losses (the second after one Adam update) must agree within
1e-4, and the clipped ``weight_hh_l0`` gradient of the second step within 1e-3
of its largest entry, or no ratio is given. ``--quick`` runs one process per
library with short budgets: a smoke test of the tooling, not of the target.

Prints and writes ``training_step.md`` and ``training_step.json`` into
``--out`` (default ``perf/results``).
"""

import argparse
import os
import sys


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one process per library, short budgets: a smoke test")
    parser.add_argument("--processes", type=int, default=None,
                        help="fresh processes per library (default 3, --quick 1)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per process (default 2, --quick 0.3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every pool (default: the libraries' own)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"),
                        help="directory for training_step.md and training_step.json")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep the host's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    return parser.parse_args(argv)


if __name__ == "__main__":
    ARGS = _parse()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness

    harness.restart_without_blas_overrides(ARGS.keep_blas_env)
    harness.set_thread_env(ARGS.threads)

import tempfile  # noqa: E402

import adding_step  # noqa: E402
import compare  # noqa: E402
import harness  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402
import targets  # noqa: E402

from numrnn.data import adding_problem  # noqa: E402

LIBRARIES = {"numrnn": "numrnn-adding-step", "torch": "torch-adding-step"}


def measure(threads, budget, processes, folder):
    """Time both libraries' steps; ``(timings, versions, check, losses)``."""
    weights = peers.weights_of(adding_step.numrnn_model(adding_step.SHAPE[3]))
    batch, steps, _, _ = adding_step.SHAPE
    x, y = adding_problem(batch, steps, rng=1)
    data = os.path.join(folder, "data.npz")
    np.savez(data, x=x, y=y, **{f"weight:{name}": value for name, value in weights.items()})
    tasks = {name: {"library": library, "mode": "train", "threads": threads, "budget": budget,
                    "data": data, "onnx": None} for name, library in LIBRARIES.items()}
    timings, versions, computed = compare.run_processes(tasks, folder, processes)
    check = compare.agreement(computed["numrnn"], computed["torch"], "train")
    losses = {name: [float(loss) for loss in result[0]] for name, result in computed.items()}
    return timings, versions, check, losses


def markdown(report):
    info = report["machine"]
    environment = ", ".join(f"{k}={v}" for k, v in info["blas_environment"].items()) or "none"
    batch, steps, n_in, hidden = report["shape"]
    threads = "its defaults" if info["threads"] == "library defaults" else "threads capped"
    lines = [
        compare.machine_line(info, report["peers"]), "",
        f"Method: **fresh processes** ({report['processes']} per library, rotated), each "
        f"library with {threads}. OpenBLAS core type in use: {info['blas_core'] or 'unknown'}"
        f". Thread and BLAS variables the processes saw: {environment}.", "",
        f"One training step of the adding problem's LSTM (B={batch}, T={steps}, I={n_in}, "
        f"H={hidden}; Linear head, MSE, Adam lr {adding_step.LEARNING_RATE}, clipping to "
        f"{adding_step.MAX_NORM}), medians of the processes' medians, first call and 2 warm-up "
        "steps excluded:", "",
        "| library | median ms | fastest ms | first call ms | steps timed | cores "
        "| losses of steps 1, 2 |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, timing in report["timings"].items():
        losses = ", ".join(f"{loss:.6f}" for loss in report["losses"][name])
        lines.append(f"| {name} | {timing['median_ms']:.3f} | {timing['min_ms']:.3f} "
                     f"| {timing['first_ms']:.1f} | {timing['n']} | {timing['cores']:.1f} "
                     f"| {losses} |")
    check = report["check"]
    lines += ["", f"Agreement: losses within {check['output_max_abs_diff']:.2e}, step 2's "
              f"clipped weight_hh_l0 gradient within {check['grad_rel_diff']:.2e} of its "
              f"largest entry: {'agree' if check['agree'] else 'DISAGREE (no ratio)'}.", "",
              "Issue 21's target, numrnn / PyTorch ≤ "
              f"{targets.TRAINING_STEP_MAX}: {targets.describe('torch', report['target'])}."]
    lines += [""] + [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def main(args):
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 2.0)
    processes = args.processes if args.processes is not None else (1 if args.quick else 3)
    missing = peers.available("torch")
    if missing:
        print(missing)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        timings, versions, check, losses = measure(args.threads, budget, processes, folder)
    ratio = (timings["numrnn"]["median_ms"] / timings["torch"]["median_ms"]
             if check["agree"] else None)
    notes = ["numrnn / PyTorch below 1: numrnn is faster."]
    if args.quick:
        notes.append("--quick: one short process per library, a smoke test of the tooling.")
    report = {"machine": harness.machine_info(args.threads), "peers": versions,
              "shape": list(adding_step.SHAPE), "processes": processes, "budget_s": budget,
              "quick": args.quick, "timings": timings, "losses": losses, "check": check,
              "ratio": ratio,
              "target": targets.ratio_target("torch", ratio, targets.TRAINING_STEP_MAX),
              "notes": notes}
    text = markdown(report)
    print(text)
    harness.write_report(args.out, "training_step", text, report)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
