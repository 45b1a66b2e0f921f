"""Which vector registers the compiled kernels' hot loops use on this machine.

Run: ``python perf/vector_width.py [--dtype float32] [--json out.json]``.

numba compiles every kernel for the CPU it runs on (LLVM's host target), so
the same source becomes AVX-512 code on a CPU that has it and AVX2 code on one
that has not: no choice is made in numrnn's code, and the kernel cache is
keyed by the CPU, so a cache is never reused on another kind of machine. This
script checks that claim where it runs. In a fresh process with an empty
kernel cache (numba shows no assembly for kernels loaded from a cache), it
runs every cell kind's forward and backward at a small and a large batch,
which compiles the loop, BLAS and packed-panel paths, then counts in the
assembly of each hot kernel the instructions that use 512-bit (``zmm``),
256-bit (``ymm``) and 128-bit (``xmm``) registers, and the fused
multiply-adds by width.

On an AVX-512 machine the hot loops should show ``zmm`` instructions and
``zmm`` FMAs; on an AVX2 one, ``ymm`` and no ``zmm`` at all. The header names
the CPU and what LLVM reports of its features.
"""

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import harness  # noqa: E402

# The kernels whose loops carry the time: per module, the dispatchers to read (None:
# every one). A linked-only kernel (jit.linked_kernel: the block and row kernels, the
# register tiles) has no machine code of its own; its code is read in the driver that
# links it in (lstm._forward_joint, packed.product, ...).
HOT = {
    "numrnn.kernels.lstm": None,
    "numrnn.kernels.lstm_backward": None,
    "numrnn.kernels.gru": None,
    "numrnn.kernels.gru_backward": None,
    "numrnn.kernels.elman": None,
    "numrnn.kernels.elman_backward": None,
    "numrnn.kernels.matvec": ("accumulate", "dot_rows"),
    "numrnn.kernels.packed": ("product",),
}

CHILD = r"""
import importlib, json, re, sys
import numpy as np
import numba
import numrnn
from llvmlite import binding as llvm
from numrnn import nn

hot, dtype = json.loads(sys.argv[1]), np.dtype(sys.argv[2])
for layer_type in (nn.LSTM, nn.GRU, nn.RNN):
    for batch in (1, 64):
        layer = layer_type(32, 64, dtype=dtype, rng=0)
        x = numrnn.Tensor(np.ones((6, batch, 32), dtype), requires_grad=True)
        output, _ = layer(x)
        output.sum().backward()

def count(pattern, text):
    return len(re.findall(pattern, text))

report = {}
for module_name, names in hot.items():
    module = importlib.import_module(module_name)
    if names is None:
        names = [name for name in dir(module)
                 if isinstance(getattr(module, name), numba.core.registry.CPUDispatcher)]
    for name in names:
        dispatcher = getattr(module, name, None)
        if dispatcher is None or not dispatcher.signatures:
            continue
        text = "\n".join(dispatcher.inspect_asm().values())
        lines = [line for line in text.splitlines() if line.startswith("\t") and "%" in line]
        fmas = [line for line in lines if re.match(r"\s*vf(n?)m(add|sub)", line)]
        report[f"{module_name.rsplit('.', 1)[1]}.{name}"] = {
            width: count(rf"%{width}\d", "\n".join(lines)) for width in ("zmm", "ymm", "xmm")} | {
            f"fma {width}": sum(1 for line in fmas if f"%{width}" in line.split(",")[-1])
            for width in ("zmm", "ymm", "xmm")}
features = llvm.get_host_cpu_features()
print(json.dumps({"cpu": llvm.get_host_cpu_name(),
                  "features": sorted(name for name in ("avx2", "fma", "avx512f", "avx512bw",
                                                       "avx512vl") if features.get(name)),
                  "kernels": report}))
"""


def measure(dtype):
    """The child's report: LLVM's CPU name and features, and per kernel the counts."""
    with tempfile.TemporaryDirectory() as cache:
        env = harness.environment_without_blas_overrides(
            NUMBA_CACHE_DIR=cache,
            PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        return harness.child_json([sys.executable, "-c", CHILD, json.dumps(HOT), dtype],
                                  "vector_width's measuring process", env=env, cwd=ROOT)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    report = measure(args.dtype)
    print(f"# {harness.cpu_model()}; LLVM target {report['cpu']}; "
          f"features {', '.join(report['features']) or 'none of avx2/fma/avx512'}; {args.dtype}")
    print(f"{'kernel':40s} {'zmm':>6s} {'ymm':>6s} {'xmm':>6s} "
          f"{'fma zmm':>8s} {'fma ymm':>8s} {'fma xmm':>8s}")
    for name, counts in sorted(report["kernels"].items()):
        print(f"{name:40s} {counts['zmm']:6d} {counts['ymm']:6d} {counts['xmm']:6d} "
              f"{counts['fma zmm']:8d} {counts['fma ymm']:8d} {counts['fma xmm']:8d}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"cpu_model": harness.cpu_model(), "dtype": args.dtype, **report}, out,
                      indent=1)
    return report


if __name__ == "__main__":
    main()
