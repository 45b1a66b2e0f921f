"""Small-batch products (numrnn.kernels.matvec): loops, dot rows and GEMM agree with NumPy."""

import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import numrnn
from numrnn.kernels import packed
from numrnn.kernels.matvec import ThroughGemm, ThroughLoops, product, product_weight
from numrnn.kernels.plan import GEMM, LOOPS, MAX_ROWS, PACKED, ROW_MAJOR, VIEW

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))


@numba.njit
def _product(rows, weight, out):
    product(rows, weight, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True], ids=["row-major", "transposed-view"])
def test_product_matches_numpy(dtype, transposed):
    rng = np.random.default_rng(0)
    for count in range(1, MAX_ROWS + 3):           # the loops, then GEMM
        for inner, columns in [(1, 1), (3, 5), (8, 8), (7, 13), (64, 256)]:
            rows = rng.standard_normal((count, inner)).astype(dtype)
            matrix = rng.standard_normal((columns, inner)).astype(dtype)   # PyTorch's (N, K)
            weight = matrix.T if transposed else np.ascontiguousarray(matrix.T)
            out = np.full((count, columns), np.nan, dtype=dtype)
            _product(rows, weight, out)
            tolerance = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(out, rows @ matrix.T, rtol=tolerance, atol=tolerance,
                                       err_msg=f"{count} rows, K={inner}, N={columns}")


def test_product_weight_holds_the_weight_in_the_planned_form():
    # Which form a call gets is the plan's rule (tests/kernels/test_plan.py).
    weight_hh = np.arange(12.0).reshape(4, 3)
    view = product_weight(weight_hh.T, VIEW)
    copy = product_weight(weight_hh.T, ROW_MAJOR)
    assert np.shares_memory(view, weight_hh) and view.flags.f_contiguous
    assert not np.shares_memory(copy, weight_hh) and copy.flags.c_contiguous
    np.testing.assert_array_equal(view, copy)
    assert product_weight(weight_hh, ROW_MAJOR) is weight_hh          # already row-major
    panels = product_weight(weight_hh.T.astype(np.float32), PACKED)
    assert panels.ndim == 3
    np.testing.assert_array_equal(panels, packed.pack(weight_hh.T.astype(np.float32)))


@pytest.mark.parametrize("count", [1, 3, MAX_ROWS + 1, 9])
def test_product_with_packed_weights(count):
    rng = np.random.default_rng(count)
    rows = rng.standard_normal((count, 40)).astype(np.float32)
    weight = rng.standard_normal((40, 37)).astype(np.float32)
    out = np.full((count, 37), np.nan, dtype=np.float32)
    _product(rows, packed.pack(weight), out)
    np.testing.assert_allclose(out, rows @ weight, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("count", [1, MAX_ROWS + 2])
def test_product_called_from_python_runs_the_compiled_code(count):
    rng = np.random.default_rng(10 + count)
    rows = rng.standard_normal((count, 12)).astype(np.float32)
    weight = rng.standard_normal((12, 20)).astype(np.float32)
    for layout in (np.ascontiguousarray(weight), np.asfortranarray(weight), packed.pack(weight)):
        from_python = np.full((count, 20), np.nan, dtype=np.float32)
        compiled = np.full((count, 20), np.nan, dtype=np.float32)
        product(rows, layout, from_python)
        _product(rows, layout, compiled)
        np.testing.assert_array_equal(from_python, compiled)


def test_product_weight_marks_the_one_path_every_block_takes():
    weight = np.ones((3, 4))
    assert isinstance(product_weight(weight, ROW_MAJOR, (GEMM, GEMM)), ThroughGemm)
    assert isinstance(product_weight(weight.T, VIEW, (LOOPS, LOOPS)), ThroughLoops)
    # A last block on the other path, or no paths given: the plain array, both branches.
    assert isinstance(product_weight(weight, ROW_MAJOR, (GEMM, LOOPS)), np.ndarray)
    assert isinstance(product_weight(weight, ROW_MAJOR), np.ndarray)
    assert product_weight(weight.T.astype(np.float32), PACKED, (PACKED, PACKED)).ndim == 3


CHILD = r"""
import json
import numpy as np
from numrnn.kernels import matvec
from numrnn.kernels.plan import GEMM, LOOPS, ROW_MAJOR, VIEW

rng = np.random.default_rng(0)
matrix = rng.standard_normal((24, 16))   # PyTorch's (N, K)
results = {}
for count, path in ((8, GEMM), (3, LOOPS)):
    rows = rng.standard_normal((count, 16))
    for form in (ROW_MAJOR, VIEW):
        plain, marked = np.empty((count, 24)), np.empty((count, 24))
        matvec.product(rows, matvec.product_weight(matrix.T, form), plain)
        matvec.product(rows, matvec.product_weight(matrix.T, form, (path, path)), marked)
        results[f"{path} {form}"] = plain.tobytes() == marked.tobytes()
before = {name: len(getattr(matvec, name).signatures) for name in ("accumulate", "dot_rows")}
rows, out = rng.standard_normal((8, 16)).astype(np.float32), np.empty((8, 24), np.float32)
for form in (ROW_MAJOR, VIEW):
    matvec.product(rows, matvec.product_weight(matrix.T.astype(np.float32), form, (GEMM, GEMM)),
                   out)
after = {name: len(getattr(matvec, name).signatures) for name in ("accumulate", "dot_rows")}
print(json.dumps({"same": results, "loops_compiled": after != before}))
"""


def test_a_weight_marked_for_gemm_compiles_no_loops(tmp_path):
    # In a fresh process with an empty cache: a marked weight takes the same
    # branch, to the bit, as the plain one, and a GEMM-only weight's product
    # compiles neither loop kernel (the plain one compiles both branches).
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          env=env, cwd=SOURCE_ROOT, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(report["same"].values()) and len(report["same"]) == 4, report
    assert not report["loops_compiled"]
