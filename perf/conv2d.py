"""Conv2d against torch.nn.Conv2d at a small captioning encoder's shapes, each library alone.

Run: ``python perf/conv2d.py [--budget SECONDS] [--threads N] [--out FILE]``.

The two convolutions of a small image encoder, float32, 3x3 kernels, padding 1,
batch 32: 3 → 16 channels on 32x32 images (the first layer: the image needs no
gradient) and 16 → 32 channels on 16x16 (after a 2x2 pool: its input needs
one). Each is timed forward (under ``no_grad``) and forward + backward (every
gradient: weight, bias, and the input where it needs one, from a seed of ones).

Each library runs in its own fresh interpreter (``--child``), with its own
defaults: numrnn's ``import`` sets ``OMP_WAIT_POLICY=PASSIVE`` for itself, the
PyTorch child does not. In a child, the first call of each case (numba's JIT
compile or cache load, PyTorch's first-call set-up) is reported apart as
``first_ms``; after two more warm-up calls the cases are timed in alternation
(:func:`harness.interleaved`) and the medians compared as ratios numrnn / torch;
the fastest rounds are compared too (on a loaded machine, load only adds time).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

LIBRARIES = ("numrnn", "torch")
# (name, batch, in_channels, out_channels, size, input needs a gradient)
CASES = (("conv1 3→16 @32x32", 32, 3, 16, 32, False),
         ("conv2 16→32 @16x16", 32, 16, 32, 16, True))


def _numrnn_runners(batch, in_channels, out_channels, size, input_grad):
    import numpy as np

    import numrnn
    from numrnn import nn

    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, rng=0)
    image = np.random.default_rng(0).standard_normal((batch, in_channels, size, size))
    x = numrnn.tensor(image.astype(np.float32), requires_grad=input_grad)
    seed = np.ones((batch, out_channels, size, size), dtype=np.float32)

    def forward():
        with numrnn.no_grad():
            return conv(x)

    def train():
        for param in conv.parameters():
            param.grad = None
        x.grad = None
        conv(x).backward(seed)

    return forward, train


def _torch_runners(batch, in_channels, out_channels, size, input_grad):
    import numpy as np
    import torch

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(in_channels, out_channels, 3, padding=1)
    image = np.random.default_rng(0).standard_normal((batch, in_channels, size, size))
    x = torch.tensor(image.astype(np.float32), requires_grad=input_grad)
    seed = torch.ones((batch, out_channels, size, size))

    def forward():
        with torch.no_grad():
            return conv(x)

    def train():
        conv.zero_grad(set_to_none=True)
        x.grad = None
        conv(x).backward(seed)

    return forward, train


def measure(library, budget, threads):
    """Timings of every case and mode in this process, for ``library``."""
    if library == "numrnn":
        import numrnn

        harness.set_numrnn_threads(threads)
        version, make = numrnn.__version__, _numrnn_runners
    else:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        version, make = torch.__version__, _torch_runners
    runners = {}
    for name, *shape in CASES:
        forward, train = make(*shape)
        runners[f"{name} forward"] = forward
        runners[f"{name} forward+backward"] = train
    return {"library": library, "version": version,
            "timings": harness.interleaved(runners, budget)}


def run_child(library, budget, threads):
    command = [sys.executable, os.path.abspath(__file__), "--child", library,
               "--budget", str(budget)] + ([] if threads is None else ["--threads", str(threads)])
    return harness.child_json(command, f"{library} child")


def markdown(report):
    results = report["results"]
    lines = ["| case (float32, N=32, 3x3, padding 1) | numrnn ms | torch ms | numrnn/torch "
             "| fastest: numrnn ms | torch ms | numrnn/torch | first call: numrnn ms | torch ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case, ours in results["numrnn"]["timings"].items():
        theirs = results.get("torch", {}).get("timings", {}).get(case)
        cells = []
        for key in ("median_ms", "min_ms"):
            cells += [f"{ours[key]:.3f}", f"{theirs[key]:.3f}" if theirs else "—",
                      f"{ours[key] / theirs[key]:.2f}" if theirs else "—"]
        cells += [f"{ours['first_ms']:.0f}", f"{theirs['first_ms']:.0f}" if theirs else "—"]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    machine = report["machine"]
    lines += ["", f"{machine['cpu']}, {machine['cores']} cores, load average "
              f"{machine['load_average']}, threads: {machine['threads']}; numrnn "
              f"{results['numrnn']['version']}"
              + (f", torch {results['torch']['version']}" if "torch" in results else "")]
    lines += [f"Note: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=4.0,
                        help="seconds of timed rounds per library (after warm-up)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: each library's own)")
    parser.add_argument("--out", default=None, help="also write the report as JSON here")
    parser.add_argument("--child", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        if harness.ROOT not in sys.path:
            sys.path.insert(0, harness.ROOT)
        print(json.dumps(measure(args.child, args.budget, args.threads)))
        return 0

    import peers

    notes, results = [], {}
    for library in LIBRARIES:
        reason = peers.available(library) if library != "numrnn" else None
        if reason:
            notes.append(reason)
            continue
        results[library] = run_child(library, args.budget, args.threads)
    report = {"machine": harness.machine_info(args.threads), "results": results,
              "notes": notes}
    print(markdown(report))
    if args.out:
        harness.write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
