"""numrnn against PyTorch CPU and ONNX Runtime, side by side, in one process.

Run: ``python perf/compare.py [--quick] [--threads N] [--out DIR]``.

Every contestant gets the same float32 weights and input; outputs (and, for a
training step, the gradient of ``weight_hh_l0``) are checked to agree before
anything is timed. Calls are interleaved round by round, the first call of each
(JIT compile or cache load) is reported apart and excluded, and the table gives
medians and the ratios numrnn / peer (below 1: numrnn is faster). The same run
times numpy's float32 GEMM, the practical peak of the machine, and reports each
numrnn result in GFLOP/s and as a fraction of it. FLOPs counted are the
recurrence's matrix products: ``2·B·T·(I+H)·G·H`` per layer and direction for
inference (G gate blocks), three times that for a training step.

Writes ``compare.md`` and ``compare.json`` into ``--out`` (default ``perf/results``).
Peers that are not installed are skipped with a note. Absolute times drift
between machines and with load: compare ratios from one run.
"""

import argparse
import os
import sys

if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _parser.add_argument("--quick", action="store_true",
                         help="tiny-b1 and small only, short budgets: a smoke test")
    _parser.add_argument("--threads", type=int, default=None,
                         help="threads for every pool (default: the libraries' own)")
    _parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"),
                         help="directory for compare.md and compare.json")
    _parser.add_argument("--budget", type=float, default=None,
                         help="seconds of timing per row (default 1.5, --quick 0.3)")
    _parser.add_argument("--cells", default="LSTM,GRU,RNN,LSTM-bi,LSTM-proj",
                         help="comma-separated subset of LSTM,GRU,RNN,LSTM-bi,LSTM-proj "
                              "(LSTM-proj: proj_size = hidden_size // 2)")
    _parser.add_argument("--configs", default=None,
                         help="comma-separated subset of tiny-b1,small,medium,large")
    _parser.add_argument("--modes", default="infer,train", help="infer, train or both")
    _parser.add_argument("--no-peers", action="store_true",
                         help="time numrnn alone (thread scaling runs)")
    ARGS = _parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness

    harness.set_thread_env(ARGS.threads)

import harness  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402

from numrnn.functional.cell_kinds import kind_of  # noqa: E402

CONFIGS = {  # name: (B, T, I, H)
    "tiny-b1": (1, 50, 32, 64),
    # Not in issue 5's list (no targets): a small serving batch.
    "small-b8": (8, 50, 64, 128),
    "small": (32, 50, 64, 128),
    "medium": (64, 100, 256, 256),
    "large": (64, 100, 512, 512),
}
ISSUE_CONFIGS = ("tiny-b1", "small", "medium", "large")
BIDIRECTIONAL_CONFIGS = ("small", "medium")
# Issue 5's targets: ratio numrnn / peer at most this (None: no target).
TARGETS = {
    ("LSTM", "infer"): {"tiny-b1": (0.5, 0.5), "small": (0.8, 0.8), "medium": (1.0, 1.0),
                        "large": (1.0, 1.0)},
    ("LSTM", "train"): {"tiny-b1": (0.7, None), "small": (0.7, None), "medium": (1.0, None),
                        "large": (1.0, None)},
    ("GRU", "infer"): dict.fromkeys(ISSUE_CONFIGS, (0.5, 0.8)),
    ("GRU", "train"): dict.fromkeys(ISSUE_CONFIGS, (0.5, None)),
    ("RNN", "infer"): dict.fromkeys(ISSUE_CONFIGS, (0.8, 0.8)),
    ("RNN", "train"): dict.fromkeys(ISSUE_CONFIGS, (0.8, None)),
    # Issue 15: the projected LSTM against torch's proj_size (no ONNX peer: ONNX's
    # LSTM has no projection).
    ("LSTM-proj", "infer"): dict.fromkeys(ISSUE_CONFIGS, (0.8, None)),
    ("LSTM-proj", "train"): dict.fromkeys(ISSUE_CONFIGS, (0.8, None)),
}
OUTPUT_ATOL = 1e-4      # float32 over 100 steps; rational activations err ~1e-7 per gate
GRADIENT_RTOL = 1e-3    # relative to the largest gradient entry


def rows(args):
    """``(cell, config, mode, layers, bidirectional)`` of every row the flags select."""
    cells, modes = args.cells.split(","), args.modes.split(",")
    if args.configs:
        configs = args.configs.split(",")
    else:
        configs = ["tiny-b1", "small"] if args.quick else list(CONFIGS)
    for cell in ("LSTM", "GRU", "RNN", "LSTM-proj"):
        for config in configs if cell in cells else ():
            for mode in modes:
                yield cell, config, mode, 1, False
    bidirectional = [c for c in BIDIRECTIONAL_CONFIGS if c in configs]
    for config in (bidirectional[:1] if args.quick else bidirectional) \
            if "LSTM-bi" in cells else ():
        for mode in modes:
            yield "LSTM", config, mode, 2, True


def proj_size(cell, hidden):
    """The row's LSTM projection: half the hidden size for ``LSTM-proj``, else none."""
    return hidden // 2 if cell == "LSTM-proj" else 0


def flops(cell, config, mode, layers, bidirectional):
    batch, steps, n_in, hidden = CONFIGS[config]
    gates = kind_of(cell.split("-")[0]).gate_count
    projection = proj_size(cell, hidden)
    recurrent = projection or hidden
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        layer_in = n_in if layer == 0 else directions * recurrent
        total += directions * 2 * batch * steps * ((layer_in + recurrent) * gates * hidden
                                                   + hidden * projection)
    return total * (3 if mode == "train" else 1)


def agreement(ours, theirs, mode):
    """Max output difference and relative weight_hh gradient difference, and whether they pass."""
    output_diff = float(np.max(np.abs(ours[0] - theirs[0])))
    result = {"output_max_abs_diff": output_diff}
    ok = output_diff <= OUTPUT_ATOL
    if mode == "train" and theirs[1] is not None:
        scale = float(np.max(np.abs(theirs[1]))) or 1.0
        grad_diff = float(np.max(np.abs(ours[1] - theirs[1]))) / scale
        result["grad_rel_diff"] = grad_diff
        ok = ok and grad_diff <= GRADIENT_RTOL
    result["agree"] = bool(ok)
    return result


def measure_row(cell, config, mode, layers, bidirectional, skipped, threads, budget):
    batch, steps, n_in, hidden = CONFIGS[config]
    spec = {"input": n_in, "hidden": hidden, "layers": layers, "bidirectional": bidirectional,
            "proj_size": proj_size(cell, hidden)}
    module = peers.make_numrnn(cell, spec)
    x = np.random.default_rng(1).standard_normal((steps, batch, n_in)).astype(np.float32)
    infer, train, numrnn_result = peers.numrnn_runners(module, x)
    runners = {"numrnn": infer if mode == "infer" else train}
    row = {"cell": cell, "config": config, "shape": [batch, steps, n_in, hidden], "mode": mode,
           "layers": layers, "bidirectional": bidirectional, "checks": {}}
    ours = numrnn_result() if mode == "train" else (np.asarray(infer().data), None)
    if "torch" not in skipped:
        t_infer, t_train, t_result = peers.torch_runners(module, x, threads)
        theirs = t_result() if mode == "train" else (t_infer().numpy(), None)
        row["checks"]["torch"] = agreement(ours, theirs, mode)
        runners["torch"] = t_infer if mode == "infer" else t_train
    if "onnxruntime" not in skipped and mode == "infer" and not spec["proj_size"]:
        o_infer, _ = peers.ort_runner(module, x, threads)
        row["checks"]["onnxruntime"] = agreement(ours, (o_infer(), None), mode)
        runners["onnxruntime"] = o_infer
    for peer, check in row["checks"].items():
        if not check["agree"]:
            print(f"WARNING: {cell} {config} {mode}: {peer} disagrees with numrnn {check}; "
                  "its timing is kept but no ratio is reported", flush=True)
    row["timings"] = harness.interleaved(runners, budget)
    ours_ms = row["timings"]["numrnn"]["median_ms"]
    row["ratios"] = {peer: ours_ms / timing["median_ms"]
                     for peer, timing in row["timings"].items()
                     if peer != "numrnn" and row["checks"][peer]["agree"]}
    row["gflops"] = flops(cell, config, mode, layers, bidirectional) / (ours_ms * 1e-3) / 1e9
    targets = TARGETS.get((cell, mode), {}).get(config) if layers == 1 else None
    if targets is not None:
        row["targets"] = {peer: {"max_ratio": limit, "met": row["ratios"].get(peer, 9e9) <= limit}
                          for peer, limit in zip(("torch", "onnxruntime"), targets)
                          if limit is not None and peer in row["ratios"]}
    return row


def label(row):
    name = row["cell"] if row["layers"] == 1 else "LSTM 2-layer bi"
    if row["cell"] == "LSTM-proj":
        name = f"LSTM proj_size={row['shape'][3] // 2}"
    return f"{name} | {row['config']} {tuple(row['shape'])} | {row['mode']}"


def markdown(report):
    info, peak = report["machine"], report["gemm_peak_gflops"]
    lines = [
        f"Measured {info['time']} at git {info['git']} on {info['cpu']} "
        f"({info['cores']} cores, load average {info['load_average']}), threads: "
        f"{info['threads']}; python {info['python']}, numpy {info['numpy']}, "
        f"numba {info['numba']}" + "".join(f", {k} {v}" for k, v in report["peers"].items()),
        "",
        f"numpy float32 GEMM: {peak:.0f} GFLOP/s (best of sizes "
        + ", ".join(f"{n}: {g:.0f}" for n, g in report["gemm_gflops"].items()) + ")",
        "",
        "| cell | config (B, T, I, H) | mode | numrnn ms | torch ms | ORT ms | numrnn/torch "
        "| numrnn/ORT | numrnn GFLOP/s | % of GEMM | targets |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in report["rows"]:
        timings, ratios = row["timings"], row["ratios"]

        def ms(peer, timings=timings):
            return f"{timings[peer]['median_ms']:.3f}" if peer in timings else "—"

        def ratio(peer, ratios=ratios, row=row):
            if peer in ratios:
                return f"{ratios[peer]:.2f}"
            return "mismatch" if peer in row["checks"] else "—"

        verdicts = [f"{'met' if t['met'] else 'MISSED'} vs {p} (≤ {t['max_ratio']})"
                    for p, t in row.get("targets", {}).items()]
        lines.append(f"| {label(row)} | {ms('numrnn')} | {ms('torch')} | {ms('onnxruntime')} "
                     f"| {ratio('torch')} | {ratio('onnxruntime')} | {row['gflops']:.1f} "
                     f"| {100 * row['gflops'] / peak:.0f}% | {'; '.join(verdicts) or '—'} |")
    lines += ["", "First call, ms (numrnn: JIT compile or cache load; peers: setup):", "",
              "| cell | config | mode | numrnn | torch | ORT |", "|---|---|---|---:|---:|---:|"]
    for row in report["rows"]:
        first = {p: f"{t['first_ms']:.1f}" for p, t in row["timings"].items()}
        lines.append(f"| {label(row)} | {first['numrnn']} | {first.get('torch', '—')} "
                     f"| {first.get('onnxruntime', '—')} |")
    lines += [""] + [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def main(args):
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 1.5)
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
    gemm_before = harness.gemm_gflops(budget_s=budget)
    measured = []
    for cell, config, mode, layers, bidirectional in rows(args):
        row = measure_row(cell, config, mode, layers, bidirectional, skipped, args.threads,
                          budget)
        measured.append(row)
        ratios = ", ".join(f"{p} {r:.2f}" for p, r in row["ratios"].items())
        print(f"{label(row)}: numrnn {row['timings']['numrnn']['median_ms']:.3f} ms "
              f"({ratios})", flush=True)
    gemm_after = harness.gemm_gflops(budget_s=budget)
    # The better of two GEMM measurements (before and after) as the peak: load from
    # other processes only ever lowers it, and a low peak would flatter numrnn.
    gemm = {n: max(gemm_before[n], gemm_after[n]) for n in gemm_before}
    notes.append("numrnn/peer ratios below 1 mean numrnn is faster; medians of interleaved "
                 "rounds, first call and 2 warm-up calls excluded.")
    report = {"machine": harness.machine_info(args.threads), "peers": versions,
              "gemm_gflops": gemm, "gemm_peak_gflops": max(gemm.values()),
              "quick": args.quick, "budget_s": budget, "notes": notes, "rows": measured}
    text = markdown(report)
    print()
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "compare.md"), "w") as handle:
        handle.write(text)
    harness.write_json(os.path.join(args.out, "compare.json"), report)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
