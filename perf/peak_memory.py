"""Peak memory of one training step: numrnn against PyTorch CPU, each in a fresh process.

Run: ``python perf/peak_memory.py [--config large] [--cell LSTM] [--repeat N] [--out FILE]``.

The step is compare.py's: forward over a (T, B, I) float32 input that needs no
gradient, then backward from a seed of ones on the output to every weight. Each
library runs in its own child interpreter, so one library's allocations (or its
allocator's cache) never count against the other. The child imports its library,
builds the layer (1 layer, one direction), the input and the seed, and runs one
warm-up step (JIT compile, caches, thread pools). Then, for each of ``--repeat``
measured steps, it drops the gradients, collects garbage, hands free heap pages
back to the kernel (glibc ``malloc_trim``, so pages the allocator kept from the
previous step do not hide the next step's), reads the resident set (``VmRSS``) as
the baseline, resets the kernel's high-water mark (``"5"`` into
``/proc/self/clear_refs``), runs the step and reads ``VmHWM``. The peak increase
is ``VmHWM - baseline``, the largest over the repeats; it includes the new weight
gradients, which the step must produce. Where ``clear_refs`` cannot be written the
child falls back to ``ru_maxrss``, the lifetime high-water mark, which includes
the warm-up step and the JIT compile: an upper bound (without /proc, only its
growth during the step: a lower bound), flagged in the report.

For scale the report gives the theoretical minimum of what backward must keep
from forward, in float32, with ``T·B·H`` as the unit (the output is counted: the
step returns it; ``h_{t-1}`` is the previous output, so it costs nothing):

- LSTM: gates i, f, g, o (4) + cells c_t (1) + output h_t (1) = 6
- GRU:  gates r, z, n (3) + ``W_hn h + b_hn`` (1) + output (1) = 5
- RNN:  output (1): ``tanh' = 1 - h²`` and ``relu'`` both come from h
"""

import argparse
import ctypes
import gc
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

LIBRARIES = ("numrnn", "torch")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# Floats per (t, b, hidden unit) that backward needs at least (module docstring).
RESIDUALS = {"LSTM": 6, "GRU": 5, "RNN": 1}
MIB = 2.0 ** 20
FLOAT32 = 4


def configs():
    """compare.py's table; imported on demand because compare imports numrnn."""
    import compare

    return compare.CONFIGS


def theoretical(cell, shape):
    """MiB that backward must keep from forward, and MiB of the weight gradients."""
    batch, steps, n_in, hidden = shape
    columns = GATES[cell] * hidden
    weights = columns * (n_in + hidden) + 2 * columns
    return {"residual_min_mib": RESIDUALS[cell] * steps * batch * hidden * FLOAT32 / MIB,
            "weight_grads_mib": weights * FLOAT32 / MIB}


def _status_kib(field):
    """A ``kB`` line of /proc/self/status as an int, or None where there is none."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_high_water_mark():
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _max_rss_kib():
    scale = 1024 if sys.platform == "darwin" else 1  # macOS reports bytes, Linux kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // scale


def _trim_heap():
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def numrnn_step(cell, shape):
    """``(clear, step, version)``: drop the gradients; one training step."""
    import numpy as np
    import peers

    import numrnn

    batch, steps, n_in, hidden = shape
    module = peers.make_numrnn(cell, {"input": n_in, "hidden": hidden})
    x = numrnn.Tensor(np.random.default_rng(1).standard_normal((steps, batch, n_in))
                      .astype(np.float32))
    seed = np.ones((steps, batch, hidden), dtype=np.float32)

    def clear():
        for param in module.parameters():
            param.grad = None

    def step():
        module(x)[0].backward(seed)

    return clear, step, numrnn.__version__


def torch_step(cell, shape):
    """As :func:`numrnn_step`, for the same layer in PyTorch (weights seeded, not copied)."""
    import numpy as np
    import torch

    batch, steps, n_in, hidden = shape
    torch.manual_seed(0)
    layer = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[cell](n_in, hidden)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((steps, batch, n_in))
                         .astype(np.float32))
    # Made once, as numrnn's: peers.torch_runners makes it in every step.
    seed = torch.ones(steps, batch, hidden)

    def clear():
        layer.zero_grad(set_to_none=True)

    def step():
        layer(x)[0].backward(seed)

    return clear, step, torch.__version__


def measure(library, cell, shape, repeat):
    """Run in the child: the peak RSS increase of ``repeat`` steps after one warm-up."""
    clear, step, version = {"numrnn": numrnn_step, "torch": torch_step}[library](cell, shape)
    clear()
    start = time.perf_counter()
    step()
    warmup_s = time.perf_counter() - start
    samples, method = [], "VmHWM after clear_refs"
    for _ in range(repeat):
        clear()
        gc.collect()
        _trim_heap()
        baseline = _status_kib("VmRSS")
        if _reset_high_water_mark():
            step()
            peak = _status_kib("VmHWM")
        else:
            method = "ru_maxrss (lifetime peak, includes warm-up and JIT: an upper bound)"
            if baseline is None:
                method = "ru_maxrss growth (no /proc: a lower bound, 0 if warm-up peaked higher)"
                baseline = _max_rss_kib()
            step()
            peak = _max_rss_kib()
        samples.append((peak - baseline, baseline, peak))
    increase, baseline, peak = max(samples)
    return {"library": library, "version": version, "cell": cell, "shape": list(shape),
            "method": method, "warmup_s": warmup_s, "baseline_mib": baseline / 1024,
            "hwm_mib": peak / 1024, "increases_mib": [sample[0] / 1024 for sample in samples],
            "peak_increase_mib": increase / 1024}


def run_child(library, cell, config, repeat):
    """One fresh interpreter measuring ``library``; its result dict."""
    shape = configs()[config]
    command = [sys.executable, os.path.abspath(__file__), "--child", library, "--cell", cell,
               "--shape", ",".join(map(str, shape)), "--repeat", str(repeat)]
    return harness.child_json(command, f"{library} child")


def markdown(report):
    results = report["results"]
    lines = [f"{report['cell']} training step, {report['config']} "
             f"(B, T, I, H) = {tuple(report['shape'])}, float32; max over "
             f"{report['repeat']} measured step(s) after one warm-up", "",
             "| library | peak increase MiB | numrnn/torch | baseline RSS MiB | VmHWM MiB |",
             "|---|---:|---:|---:|---:|"]
    for library, result in results.items():
        ratio = "—"
        if library == "numrnn" and results.get("torch", {}).get("peak_increase_mib", 0) > 0:
            ratio = f"{result['peak_increase_mib'] / results['torch']['peak_increase_mib']:.2f}"
        lines.append(f"| {library} {result['version']} | {result['peak_increase_mib']:.1f} "
                     f"| {ratio} | {result['baseline_mib']:.1f} | {result['hwm_mib']:.1f} |")
    floor = report["theoretical"]
    lines += ["", f"Theoretical minimum kept for backward: {floor['residual_min_mib']:.1f} MiB; "
              f"weight gradients: {floor['weight_grads_mib']:.1f} MiB.", ""]
    lines += [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="large",
                        help="one of compare.py's: tiny-b1, small, medium, large")
    parser.add_argument("--cell", default="LSTM", choices=sorted(GATES))
    parser.add_argument("--repeat", type=int, default=1,
                        help="measured steps per child (after one warm-up); the max is reported")
    parser.add_argument("--out", default=None, help="also write the report as JSON here")
    parser.add_argument("--child", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.child:
        shape = tuple(int(n) for n in args.shape.split(","))
        print(json.dumps(measure(args.child, args.cell, shape, args.repeat)))
        return 0

    import peers

    if args.config not in configs():
        parser.error(f"--config must be one of {', '.join(configs())}")
    notes, results = [], {}
    for library in LIBRARIES:
        reason = peers.available(library) if library != "numrnn" else None
        if reason:
            notes.append(reason)
            continue
        results[library] = run_child(library, args.cell, args.config, args.repeat)
    methods = {result["method"] for result in results.values()}
    notes.append(f"peak measured as {' / '.join(sorted(methods))}; "
                 "numrnn/torch below 1: numrnn needs less.")
    shape = configs()[args.config]
    report = {"machine": harness.machine_info(None), "cell": args.cell, "config": args.config,
              "shape": list(shape), "repeat": args.repeat,
              "theoretical": theoretical(args.cell, shape), "notes": notes,
              "results": results}
    print(markdown(report))
    if args.out:
        harness.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    harness.set_thread_env(None)
    sys.exit(main())
