"""Issue 21's speed targets and their verdicts: pure logic, nothing here is timed.

``perf/compare.py``, ``perf/odd_hidden.py`` and ``perf/training_step.py``
judge their measurements here, so each bound is written once. The targets hold
for each library alone in fresh processes, with its defaults:

- inference where latency and overhead dominate (:data:`LATENCY_CONFIGS`):
  numrnn / the faster of PyTorch and ONNX Runtime ≤ 0.8;
- inference where arithmetic dominates (:data:`ARITHMETIC_CONFIGS`): numrnn /
  the faster peer ≤ 1.0 **and** numrnn at ≥ 80% of NumPy's float32 GEMM rate
  measured in the same run (OpenBLAS variables unset); one target, met when both
  parts are;
- training: numrnn / PyTorch ≤ 0.7 at every size;
- hidden sizes that are not multiples of 16: a per-FLOP rate within 15% of
  that of the nearest multiple of 64 (a faster odd size is never a miss);
- a whole training step at the adding problem's shape: ≤ 0.8x PyTorch's.

A target whose measurement is missing (no peer installed, or every peer
disagreed with numrnn) is *not judged* (``met`` is None), never met.

Importing this module imports nothing else, so tests and scripts may load it
before any pool starts.
"""

LATENCY_CONFIGS = ("tiny-b1", "small-b8", "small")
ARITHMETIC_CONFIGS = ("medium", "large")
LATENCY_INFER_MAX = 0.8
ARITHMETIC_INFER_MAX = 1.0
GEMM_FRACTION_MIN = 0.8
TRAIN_MAX = 0.7
ODD_HIDDEN_TOLERANCE = 0.15
TRAINING_STEP_MAX = 0.8
PEER_LABELS = {"torch": "torch", "onnxruntime": "ORT"}


def ratio_target(peer, ratio, max_ratio):
    """``{"peer", "ratio", "max_ratio", "met"}``; ``met`` is None when ``ratio`` is."""
    return {"peer": peer, "ratio": ratio, "max_ratio": max_ratio,
            "met": None if ratio is None else bool(ratio <= max_ratio)}


def fraction_target(fraction, min_fraction):
    """``{"fraction", "min_fraction", "met"}``: a rate as a fraction of a reference rate."""
    return {"fraction": fraction, "min_fraction": min_fraction,
            "met": None if fraction is None else bool(fraction >= min_fraction)}


def faster_peer(ratios):
    """``(peer, numrnn / peer)`` of the faster peer among ``ratios``, or ``(None, None)``.

    ``ratios`` maps each peer that agreed with numrnn to numrnn's time over the
    peer's, so the faster peer is the one with the largest ratio.
    """
    if not ratios:
        return None, None
    peer = max(ratios, key=ratios.get)
    return peer, ratios[peer]


def row_targets(row, gemm_peak_gflops):
    """``{name: target}`` of one ``perf/compare.py`` row (``{}`` where the issue sets none).

    Names: ``"torch"`` (training), ``"faster_peer"`` (inference, with the
    peers compared under ``"compared"``) and ``"gemm_rate"`` (inference at
    medium and large, numrnn's GFLOP/s over ``gemm_peak_gflops``).
    """
    config, ratios = row["config"], row["ratios"]
    if row["mode"] == "train":
        return {"torch": ratio_target("torch", ratios.get("torch"), TRAIN_MAX)}
    if config in LATENCY_CONFIGS:
        max_ratio = LATENCY_INFER_MAX
    elif config in ARITHMETIC_CONFIGS:
        max_ratio = ARITHMETIC_INFER_MAX
    else:
        return {}
    peer, ratio = faster_peer(ratios)
    targets = {"faster_peer": dict(ratio_target(peer, ratio, max_ratio),
                                   compared=sorted(ratios))}
    if config in ARITHMETIC_CONFIGS:
        targets["gemm_rate"] = fraction_target(row["gflops"] / gemm_peak_gflops,
                                               GEMM_FRACTION_MIN)
    return targets


def overall(targets):
    """One verdict for a row's parts: False if any part is missed, else None if any is
    not judged, else True; None for a row without targets."""
    verdicts = [target["met"] for target in targets.values()]
    if False in verdicts:
        return False
    if not verdicts or None in verdicts:
        return None
    return True


def group_of(row):
    """The count a row's target adds to: one-layer cells, or the LSTM 2-layer bi rows."""
    return "one-layer" if row["layers"] == 1 else "LSTM 2-layer bi"


def summary(rows):
    """``{group: {"targets", "met", "missed", "not_judged"}}`` over rows that have a target."""
    counts = {}
    for row in rows:
        if not row.get("targets"):
            continue
        count = counts.setdefault(group_of(row), {"targets": 0, "met": 0, "missed": 0,
                                                  "not_judged": 0})
        verdict = overall(row["targets"])
        count["targets"] += 1
        count["met" if verdict else "missed" if verdict is False else "not_judged"] += 1
    return counts


def _word(met):
    return "met" if met else "MISSED" if met is False else "not judged"


def describe(name, target):
    """One target as text: ``met 0.74 ≤ 0.8 vs ORT (faster peer)``, ``MISSED 75% < 80% of GEMM``."""
    word = _word(target["met"])
    if "fraction" in target:
        if target["fraction"] is None:
            return f"{word}: ≥ {100 * target['min_fraction']:.0f}% (no figure)"
        sign = "≥" if target["met"] else "<"
        return (f"{word} {100 * target['fraction']:.0f}% {sign} "
                f"{100 * target['min_fraction']:.0f}% of GEMM")
    if target["ratio"] is None:
        return f"{word}: ≤ {target['max_ratio']} vs " \
            + ("the faster peer (no agreeing peer)" if name == "faster_peer"
               else f"{target['peer']} (no agreeing figure)")
    sign = "≤" if target["met"] else ">"
    peer = PEER_LABELS.get(target["peer"], target["peer"])
    return (f"{word} {target['ratio']:.2f} {sign} {target['max_ratio']} vs {peer}"
            + (" (faster peer)" if name == "faster_peer" else ""))


def describe_row(targets):
    """Every target of a row, ``"; "``-joined, or ``"—"`` when it has none."""
    return "; ".join(describe(name, target) for name, target in targets.items()) or "—"


def summary_lines(counts):
    """The report's count of targets met, one line per group."""
    lines = []
    for group, count in counts.items():
        rule = "" if group == "one-layer" else " (the one-layer rule applied to them)"
        lines.append(f"Issue 21's targets, {group} rows{rule}: **{count['met']} of "
                     f"{count['targets']} met**, {count['missed']} missed, "
                     f"{count['not_judged']} not judged.")
    return lines
