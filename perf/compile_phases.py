"""Where a first training call's compile time goes: CPU seconds per compile phase.

Run: ``python perf/compile_phases.py [LSTM|GRU|RNN] [--top N]`` (from the checkout
to measure, with ``PYTHONPATH`` pointing at it, OpenBLAS variables unset).

One process, an empty ``NUMBA_CACHE_DIR`` of its own: it runs ``nn.<cell>(32, 64)``
forward and backward once at B = 16, T = 50, float32 (``perf/cold_start.py``'s
call) and prints the call's CPU time, then the CPU seconds of each compile phase,
each exclusive of the phases nested in it (a kernel compiles its callees while it
is typed): numba's typing, its lowering (IR to LLVM IR, CPython wrapper included),
LLVM's function passes (run on each module as it is added), LLVM's module passes
(numba's "cheap" and full O3 runs on a library's final module, its linked callees
included), machine code (a library's final module through the backend), parsing
and verifying LLVM IR text, linking, and numba's untyped passes; then the ``--top``
biggest entries per function. "rest" is what none of them covers (bytecode
analysis, numba's other passes, running the call).

CPU time, not wall time, so that a loaded machine inflates it less; it still
does (cache and SMT contention): compare trees in alternating runs at the same
load, and give the load average. ``perf/cold_start.py`` gives the official wall
time and ``--compile-events`` the functions compiled.
"""

import argparse
import atexit
import collections
import os
import shutil
import sys
import tempfile
import time

# Before numba is imported: it reads the variable once. Removed at exit.
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numrnn_compile_phases_")
atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)

from numba.core import codegen, typed_passes, untyped_passes  # noqa: E402

_stack = []
_exclusive = collections.Counter()
_calls = collections.Counter()
_per_function = collections.Counter()
# Phases whose first argument is a code library (its name: the function's) or whose
# second is numba's compiler state (its function's qualified name).
_BY_LIBRARY = ("machine code", "llvm module passes")
_BY_STATE = ("typing", "numba lowering")


def _timed(owner, method, label):
    """Wrap ``owner.method`` to add its exclusive CPU time to ``label``."""
    original = getattr(owner, method)

    def timed(*args, **kwargs):
        start = time.process_time()
        _stack.append([label, 0.0])
        try:
            return original(*args, **kwargs)
        finally:
            _, nested = _stack.pop()
            spent = time.process_time() - start
            _exclusive[label] += spent - nested
            _calls[label] += 1
            if label in _BY_LIBRARY and args:
                _per_function[(label, getattr(args[0], "name", "?"))] += spent - nested
            elif label in _BY_STATE and len(args) > 1:
                _per_function[(label, args[1].func_id.func_qualname)] += spent - nested
            if _stack:
                _stack[-1][1] += spent

    setattr(owner, method, timed)


def _instrument():
    _timed(codegen.CPUCodeLibrary, "_optimize_functions", "llvm function passes")
    _timed(codegen.CPUCodeLibrary, "_optimize_final_module", "llvm module passes")
    _timed(codegen.JITCodeLibrary, "_finalize_specific", "machine code")
    _timed(codegen.CPUCodeLibrary, "add_ir_module", "parse and verify IR")
    _timed(codegen.CPUCodeLibrary, "finalize", "link and verify")
    _timed(typed_passes.NopythonTypeInference, "run_pass", "typing")
    _timed(typed_passes.NativeLowering, "run_pass", "numba lowering")
    _timed(typed_passes.NopythonRewrites, "run_pass", "numba rewrites")
    _timed(typed_passes.IRLegalization, "run_pass", "numba IR legalization")
    _timed(typed_passes.ParforPass, "run_pass", "numba parfor pass")
    for name in ("InlineOverloads", "InlineInlinables", "ReconstructSSA",
                 "InlineClosureLikeCalls"):
        owner = getattr(untyped_passes, name, None) or getattr(typed_passes, name, None)
        if owner is not None:
            _timed(owner, "run_pass", f"numba {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cell", nargs="?", default="LSTM", choices=("LSTM", "GRU", "RNN"))
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    _instrument()
    start = time.process_time()
    import numpy as np

    import numrnn
    from numrnn import nn
    imported = time.process_time()
    layer = getattr(nn, args.cell)(32, 64, rng=0)
    x = numrnn.Tensor(np.random.default_rng(0).standard_normal((50, 16, 32)).astype(np.float32))
    called = time.process_time()
    output, _ = layer(x)
    output.backward(np.ones(output.shape, np.float32))
    done = time.process_time()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.cell}: import {imported - start:.2f} CPU s, first forward + backward "
          f"{done - called:.2f} CPU s (load average {load:.2f})")
    print("exclusive CPU s  calls  phase")
    for label, seconds in _exclusive.most_common():
        print(f"{seconds:15.3f}  {_calls[label]:5d}  {label}")
    covered = sum(_exclusive.values())
    print(f"{covered:15.3f}         all phases; rest {done - called - covered:.3f}")
    print(f"\nbiggest {args.top} entries per function")
    for (label, name), seconds in _per_function.most_common(args.top):
        print(f"{seconds:7.3f}  {label:20s} {name[:90]}")


if __name__ == "__main__":
    sys.exit(main())
