"""What a first training call compiles with an empty kernel cache (issue #21 item 5).

For each cell kind, one child interpreter runs ``nn.<cell>(32, 64)`` forward and
backward at B = 16, T = 50 (perf/cold_start.py's call: for the LSTM and GRU the
joint step with packed weights, for the Elman RNN the input projection and a
GEMM per step; batch blocks in parallel) on an empty ``NUMBA_CACHE_DIR`` and lists numba's
compilations; a second one runs it again on the cache the first filled.
"""

import json
import os
import subprocess
import sys

import pytest

import numrnn
from tests.compile_records import RECORD_EMITTED_MODULES

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

CHILD = RECORD_EMITTED_MODULES + r"""
import json, sys
import numba
import numpy as np
from numba.core import codegen, event
import numrnn
from numrnn import nn

recorder = event.RecordingListener()
event.register("numba:compile", recorder)
layer = getattr(nn, sys.argv[1])(32, 64, rng=0)
x = numrnn.Tensor(np.random.default_rng(0).standard_normal((50, 16, 32)).astype(np.float32))
output, _ = layer(x)
output.backward(np.ones(output.shape, np.float32))
compiled = []
for _, item in recorder.buffer:
    if item.is_start:
        function = item.data["dispatcher"].py_func
        compiled.append(f"{function.__module__}.{function.__qualname__}")
misses = 0
for name, module in list(sys.modules.items()):
    if name.startswith("numrnn.kernels"):
        for value in vars(module).values():
            if isinstance(value, numba.core.dispatcher.Dispatcher):
                misses += sum(value.stats.cache_misses.values())
print(json.dumps({"compiled": compiled, "misses": misses, "opt": int(numba.core.config.OPT),
                  "emitted": emitted}))
"""

# Compilations of the first call, numba's own helpers included: 45 (LSTM; since session 13
# one gemm layout fewer and one more copy of numba's min(), still 45), 49 (GRU)
# and 42 (Elman) once the kernels copy with loops and the parallel kernels that only
# call kernels are drivers; 101, 97 and 89 before. The bounds leave a little room.
# GRU 47 and Elman 38 since the GRU's weight gradient reads contiguous copies (no
# GEMM glue for non-contiguous views) and the Elman projection is made before its
# driver (only the path the call takes): bounds that 49 and 42 exceed. GRU 44 since
# session 13: its dx, dW_ih and dW_hh run as one task table (gru_gradient_products,
# a driver and a task kernel in place of gemm.matmul_into, gemm._chunk, plan.chunk_size
# and numba's min and max). Elman 36 and GRU 42 since a weight whose every block
# takes a GEMM goes in marked as such (matvec.ThroughGemm): matvec.accumulate and
# plan.takes_loops, the loop branch no 8-row block runs, no longer compile.
# LSTM 37 since session 14: the packed tiles store whole rows and are linked-only,
# the panels are allocated in NumPy (no _pack_stacked kernel, no compiled 3-D np.zeros),
# the GEMM glue copies 'A'-layout operands element by element (no
# np.ascontiguousarray) with its orientation one integer function (no max()), and a
# linked-only kernel is typed with a kernel's flags, so what both call compiles once.
# GRU 33 and Elman 30 with that and their own blocks (session 14 too): no np.zeros or
# np.empty_like in their block kernels, and the GRU backward's GEMM shares the
# gradient products' blas.gemm glue (no matvec.product, one _gemm_impl).
MOST_COMPILATIONS = {"LSTM": 37, "GRU": 33, "RNN": 30}
PACKING = {"LSTM": 1, "GRU": 1, "RNN": 0}
# The batch-block and row kernels only a driver calls (linked_kernel): their code is
# generated as machine code once, inside the driver's, never in a module of its own.
# Session 15: also the helpers and the overloads only kernels call, and the float32
# activations in kernels (Python's calls run a twin of their own).
LINKED_ONLY = ("_run_block_joint", "_joint_step_row", "_joint_step_rows", "_run_block",
               "_step_row", "_backward_block", "_backward_row", "_backward_rows",
               "combined_bias", "stacked_biases", "rational_tanh32",
               "rational_sigmoid32", "_product_impl.<locals>.impl", "_gemm_impl.<locals>.impl")


def _first_call(cell, cache_dir):
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, "-c", CHILD, cell], capture_output=True, text=True,
                          env=env, cwd=SOURCE_ROOT, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_a_first_training_call_compiles_only_what_it_runs_and_caches_it(tmp_path, cell):
    cold = _first_call(cell, tmp_path)
    # Slice assignments and .max() in the kernels made numba compile the formatting
    # of a shape-mismatch message (its unicode functions) and an array iterator.
    assert not [name for name in cold["compiled"] if name.startswith("numba.cpython.unicode")]
    assert not [name for name in cold["compiled"] if "raise_with_shape_context" in name]
    assert not [name for name in cold["compiled"] if "npy_max" in name]
    # One packing kernel for W_ihᵀ / W_hhᵀ views (forward) and W_hh itself (backward);
    # the Elman RNN's 64 x 64 W_hh is too small to pack.
    assert cold["compiled"].count("numrnn.kernels.packed._fill_panels") == PACKING[cell]
    assert len(cold["compiled"]) <= MOST_COMPILATIONS[cell], cold["compiled"]
    assert not [name for name in cold["emitted"] if name in LINKED_ONLY], cold["emitted"]
    if cell == "GRU":
        # The backward's per-step GEMM and the gradient products share blas.gemm's glue.
        assert cold["compiled"].count("numrnn.kernels.blas._gemm_impl.<locals>.impl") == 1
    # The parallel drivers lower at optimisation level 0 and put numba's level back.
    assert cold["opt"] == 3
    warm = _first_call(cell, tmp_path)
    # ... and are cached with everything else: a second process compiles nothing.
    assert warm["compiled"] == []
    assert warm["misses"] == 0
