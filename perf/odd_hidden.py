"""numrnn's per-FLOP rate at hidden sizes that are not multiples of 16, against the nearest
multiple of 64.

Run: ``python perf/odd_hidden.py [--quick] [--config medium] [--hidden 100,200,330]
[--cells LSTM,GRU,RNN] [--modes infer,train] [--processes N] [--budget S] [--threads N]
[--out DIR]``.

Issue 21's target: a hidden size that is not a multiple of 16 (100, 200, 330 by
default) runs within 15% of the per-FLOP rate of the nearest multiple of 64
(128, 192, 320): numrnn's GFLOP/s at the odd size ≥ 0.85x its GFLOP/s at the
reference size (running faster per FLOP is never a miss). Both sizes share the
batch, steps and input width of one of ``perf/compare.py``'s sizes
(``--config``, default ``medium``: B=64, T=100, I=256, where arithmetic
dominates; ``--quick`` uses ``small``: B=32, T=50, I=64), and FLOPs are counted
as compare.py counts them: ``2·B·T·(I+H)·G·H`` for inference (G gate blocks),
three times that for compare.py's training step (forward, then backward from a
seed of ones to every weight).

It runs as compare.py runs (:func:`compare.run_processes` and
``perf/compare_child.py``): numrnn alone in a fresh process for each size, the
pair's processes repeated ``--processes N`` times in rotated order (the median
of the processes' medians); the first call (JIT compile or cache load) is
excluded with two warm-up calls; ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``
are removed unless ``--keep-blas-env``. ``--quick`` times H=100 against 128 at
``small`` with short budgets: a smoke test of the tooling, not of the target.

Prints and writes ``odd_hidden.md`` and ``odd_hidden.json`` into ``--out``
(default ``perf/results``).
"""

import argparse
import os
import sys

CELLS = ("LSTM", "GRU", "RNN")


def nearest_multiple(hidden, step=64):
    """The multiple of ``step`` nearest ``hidden`` (never 0)."""
    return max(step, step * round(hidden / step))


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="H=100 against 128 at small, short budgets: a smoke test")
    parser.add_argument("--config", default=None,
                        help="compare.py size whose B, T, I both sizes use (default medium, "
                             "--quick small)")
    parser.add_argument("--hidden", default=None,
                        help="comma-separated hidden sizes, none a multiple of 16 "
                             "(default 100,200,330; --quick 100)")
    parser.add_argument("--cells", default=",".join(CELLS), help="subset of LSTM,GRU,RNN")
    parser.add_argument("--modes", default="infer,train", help="infer, train or both")
    parser.add_argument("--processes", type=int, default=1,
                        help="fresh processes per size and row (default 1)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per process (default 1.5, --quick 0.2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every pool (default: the libraries' own)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"),
                        help="directory for odd_hidden.md and odd_hidden.json")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep the host's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    args = parser.parse_args(argv)
    args.hidden = [int(h) for h in (args.hidden or ("100" if args.quick else "100,200,330"))
                   .split(",")]
    aligned = [h for h in args.hidden if h % 16 == 0 or h < 1]
    if aligned:
        parser.error(f"--hidden takes positive sizes that are not multiples of 16, got "
                     f"{', '.join(map(str, aligned))}")
    unknown = sorted(set(args.cells.split(",")) - set(CELLS))
    if unknown:
        parser.error(f"unknown cell {', '.join(unknown)}; choose from {', '.join(CELLS)}")
    return args


if __name__ == "__main__":
    ARGS = _parse()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness

    harness.restart_without_blas_overrides(ARGS.keep_blas_env)
    harness.set_thread_env(ARGS.threads)

import tempfile  # noqa: E402

import compare  # noqa: E402
import harness  # noqa: E402
import numpy as np  # noqa: E402
import targets  # noqa: E402


def measure_pair(cell, mode, shape, hidden, threads, budget, processes, folder):
    """One row: numrnn at ``hidden`` and at the nearest multiple of 64, fresh processes."""
    batch, steps, n_in = shape
    reference = nearest_multiple(hidden)
    data = os.path.join(folder, "data.npz")
    np.savez(data, x=np.random.default_rng(1).standard_normal((steps, batch, n_in))
             .astype(np.float32))
    sizes = {"odd": hidden, "reference": reference}
    tasks = {name: {"library": "numrnn", "cell": cell, "mode": mode, "threads": threads,
                    "budget": budget, "data": data, "onnx": None,
                    "spec": {"input": n_in, "hidden": size}} for name, size in sizes.items()}
    timings, _, _ = compare.run_processes(tasks, folder, processes)
    gflops = {name: compare.flops_of_shape(cell, (batch, steps, n_in, size), mode)
              / (timings[name]["median_ms"] * 1e-3) / 1e9 for name, size in sizes.items()}
    fraction = gflops["odd"] / gflops["reference"]
    return {"cell": cell, "mode": mode, "shape": [batch, steps, n_in], "hidden": hidden,
            "reference_hidden": reference, "timings": timings, "gflops": gflops,
            "rate_fraction": fraction,
            "target": targets.fraction_target(fraction, 1 - targets.ODD_HIDDEN_TOLERANCE)}


def markdown(report):
    info = report["machine"]
    environment = ", ".join(f"{k}={v}" for k, v in info["blas_environment"].items()) or "none"
    batch, steps, n_in = report["shape"]
    lines = [
        compare.machine_line(info, {}), "",
        f"Method: **fresh processes**, numrnn alone ({report['processes']} per size and row, "
        f"rotated), threads: {info['threads']}. OpenBLAS core type in use: "
        f"{info['blas_core'] or 'unknown'}. Thread and BLAS variables the processes saw: "
        f"{environment}. B={batch}, T={steps}, I={n_in} (compare.py's {report['config']}); "
        "medians, first call and 2 warm-up calls excluded.", "",
        "| cell | mode | H | nearest multiple of 64 | H ms | reference ms | H GFLOP/s "
        "| reference GFLOP/s | rate / reference | within 15% |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["rows"]:
        timings, gflops = row["timings"], row["gflops"]
        verdict = "met" if row["target"]["met"] else "MISSED"
        lines.append(f"| {row['cell']} | {row['mode']} | {row['hidden']} "
                     f"| {row['reference_hidden']} | {timings['odd']['median_ms']:.3f} "
                     f"| {timings['reference']['median_ms']:.3f} | {gflops['odd']:.1f} "
                     f"| {gflops['reference']:.1f} | {row['rate_fraction']:.2f} | {verdict} |")
    met = sum(row["target"]["met"] for row in report["rows"])
    lines += ["", f"Issue 21's target (rate ≥ {1 - targets.ODD_HIDDEN_TOLERANCE:.2f}x the "
              f"nearest multiple of 64's): **{met} of {len(report['rows'])} met**."]
    lines += [""] + [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def main(args):
    config = args.config or ("small" if args.quick else "medium")
    budget = args.budget if args.budget is not None else (0.2 if args.quick else 1.5)
    shape = compare.CONFIGS[config][:3]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for cell in args.cells.split(","):
            for mode in args.modes.split(","):
                for hidden in args.hidden:
                    row = measure_pair(cell, mode, shape, hidden, args.threads, budget,
                                       args.processes, folder)
                    rows.append(row)
                    print(f"{cell} {mode} H={hidden}: {row['gflops']['odd']:.1f} GFLOP/s, "
                          f"H={row['reference_hidden']}: {row['gflops']['reference']:.1f} "
                          f"({row['rate_fraction']:.2f})", flush=True)
    notes = ["GFLOP/s count the recurrence's matrix products as compare.py does."]
    if args.quick:
        notes.append("--quick: short budgets at a small size, a smoke test of the tooling.")
    report = {"machine": harness.machine_info(args.threads), "config": config,
              "shape": list(shape), "processes": args.processes, "budget_s": budget,
              "quick": args.quick, "notes": notes, "rows": rows}
    text = markdown(report)
    print()
    print(text)
    harness.write_report(args.out, "odd_hidden", text, report)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
