"""numrnn against PyTorch CPU and ONNX Runtime, side by side: what users get.

Run: ``python perf/compare.py [--quick] [--processes N] [--threads N] [--out DIR]``.

By default every library runs **alone in a fresh process** for each row
(``perf/compare_child.py``), as a user runs it: its own defaults, no thread
call and no environment setting the user would not make. OpenBLAS's
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the
environment (the whole script restarts without them; ``--keep-blas-env`` keeps
the host's), because with them set NumPy's GEMM ran older kernels at half the
machine's speed. ``--processes N`` repeats every row's processes N times in
rotated order and reports the median of the processes' medians.

``--in-process`` is the older mode, labelled as such in the report: every
library in this one process, calls interleaved round by round. Pools left
spinning there steal the cores from the next library, so that mode makes idle
workers sleep (``OMP_WAIT_POLICY=PASSIVE``, ONNX Runtime's spinning off),
settings that slow PyTorch's small calls by up to 6x: use it only to compare
numrnn with itself.

Every contestant gets the same float32 weights and input; outputs (and, for a
training step, the gradient of ``weight_hh_l0``) are checked to agree, and a
peer that disagrees gets no ratio. The first call of each (JIT compile or cache
load) is reported apart and excluded with two warm-up calls, and the table
gives medians, the ratios numrnn / peer (below 1: numrnn is faster) and, in
fresh processes, how many cores numrnn kept busy (CPU time / wall time). The
same run times NumPy's float32 GEMM (in a fresh process too), the practical
peak of the machine, and reports each numrnn result in GFLOP/s and as a
fraction of it. FLOPs counted are the recurrence's matrix products:
``2·B·T·(I+H)·G·H`` per layer and direction for inference (G gate blocks),
three times that for a training step. The header records the CPU model, its
vector extensions, the OpenBLAS core type in use (threadpoolctl) and every
thread or BLAS variable the processes saw.

Each row is judged against issue 21's targets (``perf/targets.py``): inference
at tiny-b1, small-b8 and small ≤ 0.8x the faster of PyTorch and ONNX Runtime;
at medium and large ≤ 1.0x the faster peer and ≥ 80% of the GEMM rate of the
same run; training ≤ 0.7x PyTorch at every size. The LSTM 2-layer
bidirectional rows get the same rule and are counted apart. The report gives
each row's verdicts and the count of targets met. Targets are judged only in
fresh processes (the conditions of issue 21), not with ``--in-process``.

Writes ``compare.md`` and ``compare.json`` into ``--out`` (default ``perf/results``).
Peers that are not installed are skipped with a note. Absolute times drift
between machines and with load: compare ratios from one run.
"""

import argparse
import os
import sys


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny-b1 and small only, short budgets: a smoke test")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every pool (default: the libraries' own)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"),
                        help="directory for compare.md and compare.json")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per row (default 1.5, --quick 0.3)")
    parser.add_argument("--cells", default="LSTM,GRU,RNN,LSTM-bi",
                        help="comma-separated subset of LSTM,GRU,RNN,LSTM-bi")
    parser.add_argument("--configs", default=None,
                        help="comma-separated subset of tiny-b1,small-b8,small,medium,large")
    parser.add_argument("--modes", default="infer,train", help="infer, train or both")
    parser.add_argument("--no-peers", action="store_true",
                        help="time numrnn alone (thread scaling runs)")
    parser.add_argument("--processes", type=int, default=1,
                        help="fresh processes per library and row (default 1)")
    parser.add_argument("--in-process", action="store_true",
                        help="all libraries in this process, interleaved (idle pools made "
                             "to sleep, which slows the peers): numrnn against itself only")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep the host's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    return parser.parse_args(argv)


if __name__ == "__main__":
    ARGS = _parse()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness

    harness.restart_without_blas_overrides(ARGS.keep_blas_env)
    harness.set_thread_env(ARGS.threads)
    if ARGS.in_process:
        # Labelled in the report: see the module's docstring.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import tempfile  # noqa: E402

import harness  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402
import targets  # noqa: E402

from numrnn.functional.cell_kinds import kind_of  # noqa: E402

CONFIGS = {  # name: (B, T, I, H)
    "tiny-b1": (1, 50, 32, 64),
    # A small serving batch.
    "small-b8": (8, 50, 64, 128),
    "small": (32, 50, 64, 128),
    "medium": (64, 100, 256, 256),
    "large": (64, 100, 512, 512),
}
BIDIRECTIONAL_CONFIGS = ("small", "medium")
OUTPUT_ATOL = 1e-4      # float32 over 100 steps; rational activations err ~1e-7 per gate
GRADIENT_RTOL = 1e-3    # relative to the largest gradient entry
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare_child.py")


def rows(args):
    """``(cell, config, mode, layers, bidirectional)`` of every row the flags select."""
    cells, modes = args.cells.split(","), args.modes.split(",")
    if args.configs:
        configs = args.configs.split(",")
    else:
        configs = ["tiny-b1", "small"] if args.quick else list(CONFIGS)
    for cell in ("LSTM", "GRU", "RNN"):
        for config in configs if cell in cells else ():
            for mode in modes:
                yield cell, config, mode, 1, False
    bidirectional = [c for c in BIDIRECTIONAL_CONFIGS if c in configs]
    for config in (bidirectional[:1] if args.quick else bidirectional) \
            if "LSTM-bi" in cells else ():
        for mode in modes:
            yield "LSTM", config, mode, 2, True


def flops(cell, config, mode, layers, bidirectional):
    """The FLOPs of one row's call: :func:`flops_of_shape` at ``CONFIGS[config]``."""
    return flops_of_shape(cell, CONFIGS[config], mode, layers, bidirectional)


def flops_of_shape(cell, shape, mode, layers=1, bidirectional=False):
    """The recurrence's matrix-product FLOPs at ``shape`` = (B, T, I, H): ``2·B·T·(I+H)·G·H``
    per layer and direction for inference (G gate blocks), three times that for training."""
    batch, steps, n_in, hidden = shape
    gates = kind_of(cell).gate_count
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        layer_in = n_in if layer == 0 else directions * hidden
        total += directions * 2 * batch * steps * (layer_in + hidden) * gates * hidden
    return total * (3 if mode == "train" else 1)


def agreement(ours, theirs, mode, output_atol=OUTPUT_ATOL, gradient_rtol=GRADIENT_RTOL):
    """Max output difference and relative weight_hh gradient difference, and whether they
    pass (the float32 bounds unless others are given)."""
    output_diff = float(np.max(np.abs(ours[0] - theirs[0])))
    result = {"output_max_abs_diff": output_diff}
    ok = output_diff <= output_atol
    if mode == "train" and theirs[1] is not None:
        scale = float(np.max(np.abs(theirs[1]))) or 1.0
        grad_diff = float(np.max(np.abs(ours[1] - theirs[1]))) / scale
        result["grad_rel_diff"] = grad_diff
        ok = ok and grad_diff <= gradient_rtol
    result["agree"] = bool(ok)
    return result


def row_input(config):
    batch, steps, n_in, _ = CONFIGS[config]
    return np.random.default_rng(1).standard_normal((steps, batch, n_in)).astype(np.float32)


def _new_row(cell, config, mode, layers, bidirectional):
    batch, steps, n_in, hidden = CONFIGS[config]
    spec = {"input": n_in, "hidden": hidden, "layers": layers, "bidirectional": bidirectional}
    row = {"cell": cell, "config": config, "shape": [batch, steps, n_in, hidden], "mode": mode,
           "layers": layers, "bidirectional": bidirectional, "checks": {}}
    return spec, row


def measure_row_in_process(cell, config, mode, layers, bidirectional, skipped, threads, budget,
                           folder):
    """One row with every library in this process, calls interleaved round by round."""
    spec, row = _new_row(cell, config, mode, layers, bidirectional)
    module = peers.make_numrnn(cell, spec)
    x = row_input(config)
    infer, train, infer_output, result = peers.numrnn_runners(module, x)
    runners = {"numrnn": infer if mode == "infer" else train}
    ours = result() if mode == "train" else (infer_output(), None)
    if "torch" not in skipped:
        t_infer, t_train, t_output, t_result = peers.torch_runners(
            cell, spec, peers.weights_of(module), x, threads)
        theirs = t_result() if mode == "train" else (t_output(), None)
        row["checks"]["torch"] = agreement(ours, theirs, mode)
        runners["torch"] = t_infer if mode == "infer" else t_train
    if "onnxruntime" not in skipped and mode == "infer":
        path = os.path.join(folder, "model.onnx")
        peers.export_onnx(module, path)
        o_infer = peers.ort_runner(path, x, threads, spinning=False)
        row["checks"]["onnxruntime"] = agreement(ours, (o_infer(), None), mode)
        runners["onnxruntime"] = o_infer
    row["timings"] = harness.interleaved(runners, budget)
    return finish_row(row, spec)


def child_environment():
    """The environment of every child: this one's, with the worktree importable."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=harness.ROOT + (os.pathsep + path if path else ""))


def run_child(task, folder):
    """Run compare_child.py on ``task`` in a fresh interpreter; its JSON report."""
    path = os.path.join(folder, f"task-{task['library']}.json")
    harness.write_json(path, task)
    return harness.child_json([sys.executable, CHILD, path], f"{task['library']} process",
                              env=child_environment())


def run_processes(tasks, folder, processes):
    """Each of ``{name: task}`` alone in a fresh process, the whole set ``processes``
    times in rotated order.

    Returns ``(timings, versions, computed)``: per name the median of the
    processes' medians (with min, first call, calls and cores), the peer's
    version where its child reports one, and what the last process computed
    (``(output, d weight_hh_l0 or None)``).
    """
    names = list(tasks)
    reports = {name: [] for name in names}
    computed = {}
    for index in range(processes):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            result = os.path.join(folder, f"result-{names.index(name)}.npz")
            reports[name].append(run_child(dict(tasks[name], result=result), folder))
            with np.load(result) as arrays:
                computed[name] = (arrays["output"], arrays.get("grad_weight_hh_l0"))
    timings = {name: {
        "median_ms": harness.median([r["median_ms"] for r in runs]),
        "min_ms": min(r["min_ms"] for r in runs),
        "first_ms": harness.median([r["first_ms"] for r in runs]),
        "n": sum(r["n"] for r in runs), "processes": len(runs),
        "cores": harness.median([r["cores"] for r in runs])} for name, runs in reports.items()}
    versions = {name: runs[0]["version"] for name, runs in reports.items()
                if "version" in runs[0]}
    return timings, versions, computed


def measure_row_fresh(cell, config, mode, layers, bidirectional, skipped, threads, budget,
                      folder, processes):
    """One row with each library alone in fresh processes, ``processes`` times each."""
    spec, row = _new_row(cell, config, mode, layers, bidirectional)
    module = peers.make_numrnn(cell, spec)
    data = os.path.join(folder, "data.npz")
    np.savez(data, x=row_input(config),
             **{f"weight:{name}": value for name, value in peers.weights_of(module).items()})
    libraries = ["numrnn"] + [peer for peer in ("torch", "onnxruntime") if peer not in skipped
                              and (peer == "torch" or mode == "infer")]
    onnx_path = os.path.join(folder, "model.onnx")
    if "onnxruntime" in libraries:
        peers.export_onnx(module, onnx_path)
    tasks = {library: {"library": library, "cell": cell, "spec": spec, "mode": mode,
                       "threads": threads, "budget": budget, "data": data, "onnx": onnx_path}
             for library in libraries}
    row["timings"], row["versions"], computed = run_processes(tasks, folder, processes)
    for peer in libraries[1:]:
        row["checks"][peer] = agreement(computed["numrnn"], computed[peer], mode)
    return finish_row(row, spec)


def finish_row(row, spec):
    """Warn about disagreeing peers; add ratios and GFLOP/s (main judges the targets later)."""
    cell, config, mode, layers = row["cell"], row["config"], row["mode"], row["layers"]
    for peer, check in row["checks"].items():
        if not check["agree"]:
            print(f"WARNING: {cell} {config} {mode}: {peer} disagrees with numrnn {check}; "
                  "its timing is kept but no ratio is reported", flush=True)
    ours_ms = row["timings"]["numrnn"]["median_ms"]
    row["ratios"] = {peer: ours_ms / timing["median_ms"]
                     for peer, timing in row["timings"].items()
                     if peer != "numrnn" and row["checks"][peer]["agree"]}
    row["gflops"] = flops(cell, config, mode, layers, spec["bidirectional"]) \
        / (ours_ms * 1e-3) / 1e9
    return row


def label(row):
    name = row["cell"] if row["layers"] == 1 else "LSTM 2-layer bi"
    return f"{name} | {row['config']} {tuple(row['shape'])} | {row['mode']}"


def machine_line(info, versions):
    """The report's first line: when, which commit, the CPU and its vector extensions,
    the load, the versions (``info`` from :func:`harness.machine_info`)."""
    return (f"Measured {info['time']} at git {info['git']} on {info['cpu']} (family "
            f"{info['cpu_family']} model {info['cpu_model']}; {info['cores']} cores; vector "
            f"extensions: {', '.join(info['vector_extensions']) or 'none found'}), load "
            f"average {info['load_average']}; python {info['python']}, numpy {info['numpy']}, "
            f"numba {info['numba']}" + "".join(f", {k} {v}" for k, v in versions.items()))


def markdown(report):
    info, peak = report["machine"], report["gemm_peak_gflops"]
    environment = ", ".join(f"{k}={v}" for k, v in report["environment"].items()) or "none"
    fresh = report["method"] == "fresh processes"
    lines = [
        machine_line(info, report["peers"]),
        "",
        f"Method: **{report['method']}**"
        + (f" ({report['processes']} per library and row); each library with its "
           + ("defaults" if info["threads"] == "library defaults" else "thread count capped")
           if fresh else "; idle pools made to sleep (OMP_WAIT_POLICY=PASSIVE, ONNX Runtime "
           "spinning off), which slows the peers: not what users get")
        + f". Threads: {info['threads']}. OpenBLAS core type in use: "
        f"{report['blas_core'] or 'unknown (threadpoolctl not installed)'}. Thread and BLAS "
        f"variables the libraries saw: {environment}.",
        "",
        f"numpy float32 GEMM: {peak:.0f} GFLOP/s (best of sizes "
        + ", ".join(f"{n}: {g:.0f}" for n, g in report["gemm_gflops"].items()) + ")",
        "",
        "| cell | config (B, T, I, H) | mode | numrnn ms | torch ms | ORT ms | numrnn/torch "
        "| numrnn/ORT | numrnn GFLOP/s | % of GEMM | numrnn cores | targets |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["rows"]:
        timings, ratios = row["timings"], row["ratios"]

        def ms(peer, timings=timings):
            return f"{timings[peer]['median_ms']:.3f}" if peer in timings else "—"

        def ratio(peer, ratios=ratios, row=row):
            if peer in ratios:
                return f"{ratios[peer]:.2f}"
            return "mismatch" if peer in row["checks"] else "—"

        cores = timings["numrnn"].get("cores")
        lines.append(f"| {label(row)} | {ms('numrnn')} | {ms('torch')} | {ms('onnxruntime')} "
                     f"| {ratio('torch')} | {ratio('onnxruntime')} | {row['gflops']:.1f} "
                     f"| {100 * row['gflops'] / peak:.0f}% "
                     f"| {'—' if cores is None else f'{cores:.1f}'} "
                     f"| {targets.describe_row(row.get('targets', {}))} |")
    lines += [""] + (targets.summary_lines(report["targets"]["counts"]) if report.get("targets")
                     else ["Issue 21's targets are judged only with each library in fresh "
                           "processes: none judged in this run."])
    lines += ["", "First call, ms (numrnn: JIT compile or cache load; peers: setup):", "",
              "| cell | config | mode | numrnn | torch | ORT |", "|---|---|---|---:|---:|---:|"]
    for row in report["rows"]:
        first = {p: f"{t['first_ms']:.1f}" for p, t in row["timings"].items()}
        lines.append(f"| {label(row)} | {first['numrnn']} | {first.get('torch', '—')} "
                     f"| {first.get('onnxruntime', '—')} |")
    lines += [""] + [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def gemm_yardstick(args, budget, folder):
    """``(GFLOP/s per size, OpenBLAS core type)`` of NumPy's GEMM, where the rows ran."""
    if args.in_process:
        return harness.gemm_gflops(budget_s=budget), harness.blas_core(harness.blas_pools())
    report = run_child({"library": "gemm", "threads": args.threads, "budget": budget}, folder)
    return {int(n): g for n, g in report["gemm_gflops"].items()}, report["blas_core"]


def main(args):
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 1.5)
    if args.in_process:
        harness.set_numrnn_threads(args.threads)
    skipped, notes, versions = set(), [], {}
    for peer in ("torch", "onnxruntime"):
        reason = "--no-peers: numrnn timed alone" if args.no_peers else peers.available(peer)
        if reason:
            skipped.add(peer)
            if reason not in notes:
                notes.append(reason)
        else:
            versions[peer] = __import__(peer).__version__
    measured = []
    with tempfile.TemporaryDirectory() as folder:
        gemm_before, blas_core = gemm_yardstick(args, budget, folder)
        for cell, config, mode, layers, bidirectional in rows(args):
            if args.in_process:
                row = measure_row_in_process(cell, config, mode, layers, bidirectional,
                                             skipped, args.threads, budget, folder)
            else:
                row = measure_row_fresh(cell, config, mode, layers, bidirectional, skipped,
                                        args.threads, budget, folder, args.processes)
            measured.append(row)
            ratios = ", ".join(f"{p} {r:.2f}" for p, r in row["ratios"].items())
            print(f"{label(row)}: numrnn {row['timings']['numrnn']['median_ms']:.3f} ms "
                  f"({ratios})", flush=True)
        gemm_after, _ = gemm_yardstick(args, budget, folder)
    # The better of two GEMM measurements (before and after) as the peak: load from
    # other processes only ever lowers it, and a low peak would flatter numrnn.
    gemm = {n: max(gemm_before[n], gemm_after[n]) for n in gemm_before}
    judged = None
    if not args.in_process:
        for row in measured:
            row["targets"] = targets.row_targets(row, max(gemm.values()))
            row["target_met"] = targets.overall(row["targets"])
        judged = {"issue": 21, "counts": targets.summary(measured)}
    if any(name in os.environ for name in harness.BLAS_OVERRIDES):
        notes.append("OpenBLAS overrides kept (--keep-blas-env): the GEMM rate the medium and "
                     "large targets are judged against is not the machine's own.")
    notes.append("numrnn/peer ratios below 1 mean numrnn is faster; medians"
                 + (" of each process's timed calls" if not args.in_process
                    else " of interleaved rounds")
                 + ", first call and 2 warm-up calls excluded.")
    report = {"machine": harness.machine_info(args.threads), "peers": versions,
              "method": "in one process" if args.in_process else "fresh processes",
              "processes": None if args.in_process else args.processes,
              "blas_core": blas_core,
              "environment": {name: os.environ[name] for name in harness.BLAS_ENVIRONMENT
                              if name in os.environ},
              "gemm_gflops": gemm, "gemm_peak_gflops": max(gemm.values()),
              "quick": args.quick, "budget_s": budget, "notes": notes, "targets": judged,
              "rows": measured}
    text = markdown(report)
    print()
    print(text)
    harness.write_report(args.out, "compare", text, report)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
