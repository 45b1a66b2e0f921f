"""numrnn's cell options, one training step each, against the plain cell and PyTorch's nearest.

Run: ``python perf/compare_options.py [--quick] [--configs small,medium]
[--options NAME,...] [--processes N] [--budget S] [--threads N] [--out DIR]``.

Issue 15's speed rows. For each option (``--options``, default all of
:data:`OPTIONS`) at compare.py's ``small`` and ``medium`` sizes, a row times
compare.py's training step (forward over a (T, B, I) float32 input, backward
from a seed of ones to every weight) of

- numrnn's layer with the option,
- numrnn's layer of the same cell and size without it (``plain``): the
  option's cost, target option / plain ≤ 1.3;
- for two options a PyTorch peer built from the same weights, whose output and
  ``weight_hh_l0`` gradient must agree with numrnn's for a ratio to be given:
  ``torch.nn.LSTM(proj_size=H/2)`` for ``proj_size`` (target numrnn / torch
  ≤ 0.8), and for ``layer_norm`` the layer-normalised LSTM PyTorch users write
  themselves, a loop over the steps with ``LayerNorm`` on the gate
  pre-activations (``perf/layer_norm_lstm.py``; PyTorch has none, and its
  ``LSTMCell`` hides the pre-activations), target ≤ 0.2.

Which check settles agreement is the peer's (:data:`FLOAT64_CHECKED`). The
``proj_size`` peer's float32 results from the timed processes must agree within
compare.py's float32 tolerances. The layer-normalised loop's cannot, and need
not: normalising every step's gates divides by their spread, so float32
rounding grows over the steps (its output and numrnn's differ by about 1e-3
after 100 steps at ``medium``, each about as far from the float64 result). So
each of the two also runs once in float64 from the same float32 weights and
input, widened exactly, in two more fresh processes, and those results must
agree within :data:`FLOAT64_OUTPUT_ATOL` and :data:`FLOAT64_GRADIENT_RTOL`,
tighter than the float32 check's; the timings stay float32. The report says
which check each row used, and for the float64 one also gives the float32
differences and how far each float32 result lies from the float64 one.

The dropout rows draw their masks in training mode at rate 0.25; the
``cell_states`` row seeds the per-step cell states as it seeds the output.

It runs as compare.py runs (its harness, :func:`compare.run_processes`, and
child, ``perf/compare_child.py``): every contestant alone in a fresh process,
with its own thread defaults; ``--processes N`` repeats a row's processes N
times in rotated order and takes the median of their medians; the first call
(JIT compile or cache load) is reported apart and two warm-up calls are
dropped; ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed unless
``--keep-blas-env``; the header gives the CPU model and its vector extensions.
``--quick`` times ``tiny-b1`` only with short budgets: a smoke test of the
tooling, not of the targets.

Writes ``compare_options.md`` and ``compare_options.json`` into ``--out``
(default ``perf/results``). Compare ratios from one run: absolute times drift
with load.
"""

import argparse
import os
import sys

# name: (cell, label, constructor options given the hidden size, peer or None).
OPTIONS = {
    "gru-reset_before": ("GRU", "reset_after=False", lambda hidden: {"reset_after": False},
                         None),
    "lstm-proj_size": ("LSTM", "proj_size=H/2", lambda hidden: {"proj_size": hidden // 2},
                       "torch"),
    "lstm-peepholes": ("LSTM", "peepholes", lambda hidden: {"peepholes": True}, None),
    "lstm-layer_norm": ("LSTM", "layer_norm", lambda hidden: {"layer_norm": True},
                        "torch-layer-norm-lstm"),
    "gru-layer_norm": ("GRU", "layer_norm", lambda hidden: {"layer_norm": True}, None),
    "lstm-input_dropout": ("LSTM", "input_dropout=0.25",
                           lambda hidden: {"input_dropout": 0.25}, None),
    "lstm-recurrent_dropout": ("LSTM", "recurrent_dropout=0.25",
                               lambda hidden: {"recurrent_dropout": 0.25}, None),
    "gru-input_dropout": ("GRU", "input_dropout=0.25",
                          lambda hidden: {"input_dropout": 0.25}, None),
    "gru-recurrent_dropout": ("GRU", "recurrent_dropout=0.25",
                              lambda hidden: {"recurrent_dropout": 0.25}, None),
    "lstm-weight_dropout": ("LSTM", "weight_dropout=0.25",
                            lambda hidden: {"weight_dropout": 0.25}, None),
    "gru-weight_dropout": ("GRU", "weight_dropout=0.25",
                           lambda hidden: {"weight_dropout": 0.25}, None),
    "lstm-cell_states": ("LSTM", "return_cell_states", lambda hidden: {}, None),
}
# Issue 15's bounds: option / plain, and numrnn / peer.
PLAIN_TARGET = 1.3
PEER_TARGETS = {"torch": 0.8, "torch-layer-norm-lstm": 0.2}
PEER_LABELS = {"torch": "torch.nn.LSTM(proj_size=H/2)",
               "torch-layer-norm-lstm": "torch LayerNorm LSTM loop"}
# Peers whose agreement with numrnn is checked in float64 (see the module's docstring).
FLOAT64_CHECKED = {"torch-layer-norm-lstm"}
# The float64 check's bounds: the layer-normalised LSTM and the loop agreed to about
# 1e-12 at "medium", and float64 rounding is 2e-16 per operation.
FLOAT64_OUTPUT_ATOL = 1e-9
FLOAT64_GRADIENT_RTOL = 1e-9


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny-b1 only, short budgets: a smoke test")
    parser.add_argument("--configs", default=None,
                        help="comma-separated compare.py sizes (default small,medium)")
    parser.add_argument("--options", default=",".join(OPTIONS),
                        help="comma-separated subset of " + ",".join(OPTIONS))
    parser.add_argument("--processes", type=int, default=1,
                        help="fresh processes per contestant and row (default 1)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per process (default 1.5, --quick 0.1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every pool (default: the libraries' own)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"),
                        help="directory for compare_options.md and compare_options.json")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep the host's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.options.split(",")) - set(OPTIONS))
    if unknown:
        parser.error(f"unknown option {', '.join(unknown)}; choose from {', '.join(OPTIONS)}")
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
import peers  # noqa: E402


def measure_option(name, config, peer_skipped, threads, budget, folder, processes):
    """One row: the option, the plain cell and the option's peer, each in fresh processes."""
    cell, label, options_of, peer = OPTIONS[name]
    batch, steps, n_in, hidden = compare.CONFIGS[config]
    plain = {"input": n_in, "hidden": hidden}
    spec = dict(plain, options=options_of(hidden), cell_states=name == "lstm-cell_states")
    data = os.path.join(folder, "data.npz")
    np.savez(data, x=compare.row_input(config),
             **{f"weight:{key}": value for key, value
                in peers.weights_of(peers.make_numrnn(cell, spec)).items()})
    task = {"cell": cell, "mode": "train", "threads": threads, "budget": budget, "data": data,
            "onnx": None}
    tasks = {"option": dict(task, library="numrnn", spec=spec),
             "plain": dict(task, library="numrnn", spec=plain)}
    if peer is not None and not peer_skipped:
        tasks["peer"] = dict(task, library=peer, spec=spec)
    row = {"option": name, "cell": cell, "label": label, "config": config,
           "shape": [batch, steps, n_in, hidden], "peer": peer, "checks": {}}
    row["timings"], row["versions"], computed = compare.run_processes(tasks, folder, processes)
    option_ms = row["timings"]["option"]["median_ms"]
    row["over_plain"] = option_ms / row["timings"]["plain"]["median_ms"]
    row["targets"] = {"plain": {"max_ratio": PLAIN_TARGET,
                                "met": row["over_plain"] <= PLAIN_TARGET}}
    if "peer" in tasks:
        row["checks"].update(peer_checks(tasks, computed, folder))
        if row["checks"]["peer"]["agree"]:
            row["over_peer"] = option_ms / row["timings"]["peer"]["median_ms"]
            row["targets"]["peer"] = {"max_ratio": PEER_TARGETS[peer],
                                      "met": row["over_peer"] <= PEER_TARGETS[peer]}
        else:
            print(f"WARNING: {name} {config}: {peer} disagrees with numrnn "
                  f"{row['checks']['peer']}; its timing is kept but no ratio is reported",
                  flush=True)
    return row


def peer_checks(tasks, computed, folder):
    """``{"peer": the check that settles agreement}``, plus ``"peer_float32"`` (the float32
    results' differences, for the record) where that check is the float64 one.

    ``computed`` holds the float32 ``(output, d weight_hh_l0)`` of the timed
    processes; each check names its ``precision`` and its bounds.
    """
    float32 = dict(compare.agreement(computed["option"], computed["peer"], "train"),
                   precision="float32", output_atol=compare.OUTPUT_ATOL,
                   gradient_rtol=compare.GRADIENT_RTOL)
    if tasks["peer"]["library"] not in FLOAT64_CHECKED:
        return {"peer": float32}
    wide = {}
    for name in ("option", "peer"):
        result = os.path.join(folder, f"float64-{name}.npz")
        compare.run_child(dict(tasks[name], precision="float64", result=result), folder)
        with np.load(result) as arrays:
            wide[name] = (arrays["output"], arrays["grad_weight_hh_l0"])
    float64 = compare.agreement(wide["option"], wide["peer"], "train",
                                FLOAT64_OUTPUT_ATOL, FLOAT64_GRADIENT_RTOL)
    float64.update(precision="float64", output_atol=FLOAT64_OUTPUT_ATOL,
                   gradient_rtol=FLOAT64_GRADIENT_RTOL)
    # How far each float32 output lies from numrnn's float64 one: rounding, if both
    # are about as far.
    reference = wide["option"][0]
    float32["output_error_from_float64"] = {
        name: float(np.max(np.abs(computed[name][0] - reference))) for name in ("option", "peer")}
    return {"peer": float64, "peer_float32": float32}


def agreement_lines(report):
    """One line per row with a peer: which check settled agreement, and its figures."""
    lines = []
    for row in report["rows"]:
        check = row["checks"].get("peer")
        if check is None:
            continue
        line = (f"- {row['label']} {row['cell']} {row['config']}: {check['precision']} check, "
                f"output max |diff| {check['output_max_abs_diff']:.1e} (≤ "
                f"{check['output_atol']:.0e}), weight_hh_l0 gradient relative diff "
                f"{check['grad_rel_diff']:.1e} (≤ {check['gradient_rtol']:.0e}): "
                f"{'agree' if check['agree'] else 'DISAGREE'}")
        narrow = row["checks"].get("peer_float32")
        if narrow is not None:
            errors = narrow["output_error_from_float64"]
            line += (f"; the float32 results (timed) differ by {narrow['output_max_abs_diff']:.1e} "
                     f"in the output and {narrow['grad_rel_diff']:.1e} in the gradient, "
                     f"numrnn's output {errors['option']:.1e} and the peer's "
                     f"{errors['peer']:.1e} from numrnn's float64 one")
        lines.append(line)
    return lines


def verdicts(row):
    """``met/MISSED vs ... (≤ bound)`` for each of the row's targets."""
    names = {"plain": "plain", "peer": PEER_LABELS.get(row["peer"], "peer")}
    return "; ".join(f"{'met' if target['met'] else 'MISSED'} vs {names[kind]} "
                     f"(≤ {target['max_ratio']})" for kind, target in row["targets"].items())


def markdown(report):
    info = report["machine"]
    environment = ", ".join(f"{k}={v}" for k, v in info["blas_environment"].items()) or "none"
    threads = "its defaults" if info["threads"] == "library defaults" else "threads capped"
    lines = [
        compare.machine_line(info, report["peers"]), "",
        f"Method: **fresh processes** ({report['processes']} per contestant and row, "
        f"rotated), each with {threads}; threads: {info['threads']}. OpenBLAS core type in use: "
        f"{info['blas_core'] or 'unknown (threadpoolctl not installed)'}. Thread and BLAS "
        f"variables the processes saw: {environment}. Training step (forward + backward), "
        "float32; medians, first call and 2 warm-up calls excluded.", "",
        "| option | cell | config (B, T, I, H) | option ms | plain ms | option / plain "
        "| peer | peer ms | numrnn / peer | targets |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for row in report["rows"]:
        timings = row["timings"]
        peer = PEER_LABELS.get(row["peer"], "—")
        peer_ms = f"{timings['peer']['median_ms']:.3f}" if "peer" in timings else "—"
        over_peer = (f"{row['over_peer']:.3f}" if "over_peer" in row
                     else "mismatch" if "peer" in row["checks"] else "—")
        lines.append(f"| {row['label']} | {row['cell']} | {row['config']} {tuple(row['shape'])} "
                     f"| {timings['option']['median_ms']:.3f} "
                     f"| {timings['plain']['median_ms']:.3f} | {row['over_plain']:.2f} "
                     f"| {peer} | {peer_ms} | {over_peer} | {verdicts(row)} |")
    lines += ["", "First call, ms (numrnn: JIT compile or cache load; peer: setup):", "",
              "| option | cell | config | option | plain | peer |", "|---|---|---|---:|---:|---:|"]
    for row in report["rows"]:
        first = {kind: f"{timing['first_ms']:.1f}" for kind, timing in row["timings"].items()}
        lines.append(f"| {row['label']} | {row['cell']} | {row['config']} | {first['option']} "
                     f"| {first['plain']} | {first.get('peer', '—')} |")
    checks = agreement_lines(report)
    if checks:
        lines += ["", "Agreement with the peers (same weights and input):", "", *checks]
    lines += [""] + [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def main(args):
    budget = args.budget if args.budget is not None else (0.1 if args.quick else 1.5)
    configs = (args.configs or ("tiny-b1" if args.quick else "small,medium")).split(",")
    names = args.options.split(",")
    notes, versions = [], {}
    skipped = peers.available("torch")
    if skipped:
        notes.append(skipped)
    else:
        versions["torch"] = __import__("torch").__version__
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for config in configs:
            for name in names:
                row = measure_option(name, config, skipped, args.threads, budget, folder,
                                     args.processes)
                rows.append(row)
                print(f"{row['cell']} {row['label']} {config}: option / plain "
                      f"{row['over_plain']:.2f}" + (f", numrnn / peer {row['over_peer']:.3f}"
                                                    if "over_peer" in row else ""), flush=True)
    notes.append("ratios below 1 mean the option (numrnn) is faster; peers got the option "
                 "layer's weights and input and must agree on the output and the "
                 "weight_hh_l0 gradient for a ratio: in float32 (the timed runs), or for "
                 "the layer-normalised LSTM loop in float64 (see above).")
    report = {"machine": harness.machine_info(args.threads), "peers": versions,
              "processes": args.processes, "quick": args.quick, "budget_s": budget,
              "notes": notes, "rows": rows}
    text = markdown(report)
    print()
    print(text)
    harness.write_report(args.out, "compare_options", text, report)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
