"""Performance regression check of numrnn against the committed ``perf/baseline.json``.

Run ``python perf/regression.py check`` (exit status 1 on a slowdown) or
``python perf/regression.py record`` (rewrite the baseline after an intended change).

Machines differ, so no raw seconds are compared: each case is timed interleaved
with a 512x512 float32 numpy GEMM, and the figure kept is the case's time
divided by the GEMM's from the same rounds, both the fastest of their rounds.
Load from other processes only ever adds time, so on a shared machine the
fastest round is the stable statistic: back-to-back checks on the shared
2-core box moved median-based figures by up to 2x and minimum-based ones far
less. Medians are recorded alongside, for reading. A case fails when that
figure grows by more than ``--tolerance`` (default 1.5x) over the baseline's;
a case over the limit is measured once more, with twice the budget, and keeps
its better figure, so one burst of load from another process is not a failure.
Only numrnn is timed; no peers are needed.

A figure holds for one kind of machine: the kernels and OpenBLAS choose their
code by the CPU's vector width, so the same code gives different figures on an
AVX2 and an AVX-512 machine. ``perf/baseline.json`` therefore keeps one
baseline per machine kind (:func:`harness.machine_key`: CPU model name, family
and model numbers, widest vector instruction set), each with the OpenBLAS core
type its GEMM yardstick ran on. ``check`` compares against the baseline of the
machine it runs on; where there is none, or its yardstick ran other BLAS
kernels, it says so and exits 0 without timing anything: there is nothing to
compare with, which is not a regression. ``record`` adds or replaces this
machine's baseline and keeps the others.

Everything runs on one thread (numba, BLAS): a parallel region waits at a
barrier for its slowest thread, so on a machine shared with other jobs
two-thread timings swing by 10x when one thread is descheduled, while
one-thread figures move with the load about as the GEMM's do. Thread scaling
is measured by ``perf/compare.py --threads``, not here.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

THREADS = 1
if __name__ == "__main__":
    # Pools read these when they start, so before numpy loads; only when run as a
    # script: the unit test imports this module for its pure comparison logic and
    # must not change the test process's environment.
    harness.set_thread_env(THREADS)

import numpy as np  # noqa: E402

BASELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "baseline.json")
DEFAULT_TOLERANCE = 1.5
GEMM_SIZE = 512
BASELINE_FORMAT = 2
# name: (cell, mode, (B, T, I, H)); small shapes so that the whole check takes ~1 minute.
CASES = {
    "lstm-infer-tiny-b1": ("LSTM", "infer", (1, 50, 32, 64)),
    "lstm-infer-small": ("LSTM", "infer", (32, 50, 64, 128)),
    "lstm-train-small": ("LSTM", "train", (32, 50, 64, 128)),
    "lstm-infer-medium": ("LSTM", "infer", (64, 100, 256, 256)),
    "lstm-train-medium": ("LSTM", "train", (64, 100, 256, 256)),
    "gru-infer-small": ("GRU", "infer", (32, 50, 64, 128)),
    "gru-train-small": ("GRU", "train", (32, 50, 64, 128)),
    "rnn-infer-small": ("RNN", "infer", (32, 50, 64, 128)),
    "rnn-train-small": ("RNN", "train", (32, 50, 64, 128)),
    "lstm-stream-1000-steps": ("LSTM", "stream", (1, 1000, 32, 128)),
}


def compare(baseline, current, tolerance=DEFAULT_TOLERANCE):
    """Judge normalised figures: ``{case: figure}`` dicts -> list of findings.

    Each finding is ``(case, baseline, current, ratio, status)`` with status
    ``"slower"`` (ratio above ``tolerance``: a failure), ``"faster"`` (below
    ``1 / tolerance``: time to record a new baseline), ``"ok"``, ``"new"`` (no
    baseline figure) or ``"missing"`` (in the baseline, not measured now).
    """
    findings = []
    for case in sorted(set(baseline) | set(current)):
        if case not in current:
            findings.append((case, baseline[case], None, None, "missing"))
            continue
        if case not in baseline:
            findings.append((case, None, current[case], None, "new"))
            continue
        ratio = current[case] / baseline[case]
        status = "slower" if ratio > tolerance else "faster" if ratio < 1 / tolerance else "ok"
        findings.append((case, baseline[case], current[case], ratio, status))
    return findings


def failed(findings):
    return any(status in ("slower", "missing") for *_, status in findings)


def machine_baseline(document, key):
    """The baseline recorded for machine ``key`` in a baseline file's contents, or None."""
    return document.get("machines", {}).get(key)


def with_machine_baseline(document, key, entry):
    """A copy of ``document`` with ``entry`` as machine ``key``'s baseline, the others kept."""
    machines = dict(document.get("machines", {}))
    machines[key] = entry
    return {"format": BASELINE_FORMAT, "machines": dict(sorted(machines.items()))}


def comparable(entry, key, blas_core):
    """``None`` when ``entry`` can be compared with figures from this run, else why not."""
    if entry is None:
        return f"no baseline for this kind of machine ({key})"
    recorded = entry["machine"].get("blas_core")
    if recorded != blas_core:
        return (f"the baseline for {key} was timed against OpenBLAS's {recorded or 'unknown'} "
                f"kernels, this run's GEMM runs its {blas_core or 'unknown'} kernels "
                "(OPENBLAS_CORETYPE set or unset? threadpoolctl missing?): the normalised "
                "figures are not comparable")
    return None


def _runner(cell, mode, shape):
    import numrnn
    from numrnn import nn

    batch, steps, n_in, hidden = shape
    layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell](n_in, hidden, rng=0)
    rng = np.random.default_rng(1)
    if mode == "stream":
        stream = layer.streamer(batch)
        frames = rng.standard_normal((steps, batch, n_in)).astype(np.float32)

        def run_stream():
            for frame in frames:
                stream.step(frame)
        return run_stream
    x = numrnn.Tensor(rng.standard_normal((steps, batch, n_in)).astype(np.float32))
    seed = np.ones((steps, batch, hidden), np.float32)

    def infer():
        with numrnn.no_grad():
            layer(x)

    def train():
        for param in layer.parameters():
            param.grad = None
        layer(x)[0].backward(seed)
    return infer if mode == "infer" else train


def measure(names, budget):
    """``{case: {"normalised", "median_ms", "gemm_ms"}}`` for the given cases."""
    a, b = (np.random.default_rng(0).standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32)
            for _ in range(2))
    out = np.empty_like(a)

    def gemm():
        np.matmul(a, b, out=out)

    result = {}
    for name in names:
        timings = harness.interleaved({"case": _runner(*CASES[name]), "gemm": gemm}, budget,
                                      min_rounds=7)
        case, gemm_timing = timings["case"], timings["gemm"]
        result[name] = {"normalised": case["min_ms"] / gemm_timing["min_ms"],
                        "normalised_median": case["median_ms"] / gemm_timing["median_ms"],
                        "min_ms": case["min_ms"], "median_ms": case["median_ms"],
                        "gemm_min_ms": gemm_timing["min_ms"],
                        "gemm_median_ms": gemm_timing["median_ms"]}
    return result


def figures(entries):
    """``{case: normalised figure}`` of measured or baseline entries."""
    return {name: entry["normalised"] for name, entry in entries.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("check", "record"))
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per case")
    args = parser.parse_args(argv)

    features = harness.cpu_features()
    key = harness.machine_key(features)
    blas_core = harness.blas_core(harness.blas_pools())
    document = harness.load_json(args.baseline) if os.path.exists(args.baseline) else {}
    if args.command == "check":
        entry = machine_baseline(document, key)
        reason = comparable(entry, key, blas_core)
        if reason is not None:
            known = ", ".join(document.get("machines", {})) or "none"
            print(f"NO BASELINE: {reason}. Baselines in {args.baseline}: {known}. Nothing "
                  "was compared; record one on an idle machine of this kind with "
                  "`python perf/regression.py record`.")
            return 0
        print(f"baseline: {key}, recorded {entry['machine'].get('time')} at git "
              f"{entry['machine'].get('git')}; OpenBLAS kernels {blas_core}", flush=True)
    harness.set_numrnn_threads(THREADS)
    measured = measure(list(CASES), args.budget)
    if args.command == "record":
        entry = {"machine": harness.machine_info(THREADS), "gemm_size": GEMM_SIZE,
                 "cases": measured}
        harness.write_json(args.baseline, with_machine_baseline(document, key, entry))
        for name, case in measured.items():
            print(f"{name:<26} {case['min_ms']:9.3f} ms  = {case['normalised']:8.3f} GEMMs")
        print(f"baseline for {key} written to {args.baseline}")
        return 0

    findings = compare(figures(entry["cases"]), figures(measured), args.tolerance)
    suspects = [case for case, *_, status in findings if status == "slower"]
    if suspects:
        print(f"re-measuring {', '.join(suspects)} with twice the budget", flush=True)
        again = measure(suspects, 2 * args.budget)
        for case in suspects:
            if again[case]["normalised"] < measured[case]["normalised"]:
                measured[case] = again[case]
        findings = compare(figures(entry["cases"]), figures(measured), args.tolerance)
    print(f"{'case':<26} {'baseline':>9} {'now':>9} {'ratio':>7}  (figures in GEMM-{GEMM_SIZE} "
          f"times; tolerance {args.tolerance}x)")
    for case, before, now, ratio, status in findings:
        cells = [f"{value:9.3f}" if value is not None else f"{'—':>9}" for value in (before, now)]
        ratio_text = f"{ratio:7.2f}" if ratio is not None else f"{'—':>7}"
        print(f"{case:<26} {cells[0]} {cells[1]} {ratio_text}  {status}")
    if failed(findings):
        print("FAIL: slower than the baseline beyond the tolerance (or a case is missing)")
        return 1
    if any(status == "faster" for *_, status in findings):
        print("PASS, and some cases are much faster: consider `python perf/regression.py record`")
    else:
        print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
