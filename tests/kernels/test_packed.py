"""Packed W_hh products (numrnn.kernels.packed): exact shapes, edges, and the generated tiles."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numba
import numpy as np
import pytest

import numrnn
from numrnn.kernels import packed
from tests.compile_records import RECORD_EMITTED_MODULES

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))


@numba.njit
def _product(a, weights, out):
    packed.product(a, weights, out)


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 8, 9, 16])
@pytest.mark.parametrize("depth, columns", [(1, 1), (3, 15), (7, 16), (8, 17), (64, 200)])
def test_product_matches_numpy(rows, depth, columns):
    rng = np.random.default_rng(rows * 1000 + depth * 10 + columns)
    a = rng.standard_normal((rows, depth)).astype(np.float32)
    weight = rng.standard_normal((depth, columns)).astype(np.float32)
    out = np.full((rows, columns), np.nan, dtype=np.float32)
    _product(a, packed.pack(weight), out)
    np.testing.assert_allclose(out, a @ weight, rtol=1e-5, atol=1e-5)


def test_product_into_fewer_columns_than_the_packed_weight_writes_only_those():
    # The panels past out's width are not computed; none is written over its first
    # columns (a panel of width <= 0 once took the narrow-panel path into out).
    rng = np.random.default_rng(7)
    a = rng.standard_normal((6, 5)).astype(np.float32)
    weight = rng.standard_normal((5, 32)).astype(np.float32)
    out = np.full((6, 16), np.nan, dtype=np.float32)
    _product(a, packed.pack(weight), out)
    np.testing.assert_allclose(out, a @ weight[:, :16], rtol=1e-5, atol=1e-5)


def test_pack_layout_and_zero_padding():
    weight = np.arange(3 * 20, dtype=np.float32).reshape(3, 20)
    panels = packed.pack(weight)
    assert panels.shape == (2, 3, packed.PANEL) and panels.flags.c_contiguous
    np.testing.assert_array_equal(panels[0], weight[:, :16])
    np.testing.assert_array_equal(panels[1, :, :4], weight[:, 16:])
    assert not panels[1, :, 4:].any()


@pytest.mark.parametrize("columns", [16, 37])
def test_pack_writes_every_element_whatever_its_memory_held(columns):
    # The panels are allocated uninitialised: every element is written, the
    # padding with zeros. Memory just freed, full of NaNs, is usually what the
    # allocator hands out next (NumPy's cache of small blocks, glibc's free
    # lists), so a few rounds of freeing NaNs and packing would show an
    # element left unwritten.
    rng = np.random.default_rng(columns)
    top = rng.standard_normal((5, columns)).astype(np.float32)
    bottom = rng.standard_normal((9, columns)).astype(np.float32)
    panel_count = -(-columns // packed.PANEL)
    padded = np.zeros((14, panel_count * packed.PANEL), np.float32)
    padded[:, :columns] = np.vstack([top, bottom])
    expected = padded.reshape(14, panel_count, packed.PANEL).transpose(1, 0, 2)
    for top_view, bottom_view in ((top, bottom), (top.T.copy().T, bottom.T.copy().T)):
        for _ in range(3):
            np.full(expected.shape, np.nan, np.float32)
            np.testing.assert_array_equal(packed.pack_stacked(top_view, bottom_view), expected)


def test_pack_reads_a_transposed_view():
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(packed.pack(matrix.T)[0, :, :4], matrix.T)


@pytest.mark.parametrize("transposed", [False, True], ids=["row-major", "transposed-views"])
def test_pack_stacked_equals_packing_the_stacked_matrix(transposed):
    rng = np.random.default_rng(5)
    top = rng.standard_normal((5, 37)).astype(np.float32)
    bottom = rng.standard_normal((9, 37)).astype(np.float32)
    if transposed:
        # the LSTM's case: W_ihᵀ and W_hhᵀ as views of PyTorch's layout
        top, bottom = np.ascontiguousarray(top.T).T, np.ascontiguousarray(bottom.T).T
    expected = packed.pack(np.vstack([top, bottom]))
    np.testing.assert_array_equal(packed.pack_stacked(top, bottom), expected)


def test_the_panel_loop_counts_no_references_to_the_packed_weight():
    # Both batch blocks' threads read the same packed weight: a view of a panel
    # made per panel and step incremented and decremented its reference count,
    # an atomic operation on a cache line the other thread writes too (16 pairs
    # a step in the adding problem's forward). The tiles take the panel's index
    # instead; the product counts the weight once per call, on entry and exit,
    # and the tiles (tile_4 is linked in as a function of its own, where numba
    # prunes its view's pair) not at all. Counted over the whole module, the
    # product and the tiles its code links in, whose parameter is `packed` too.
    a, out = np.ones((9, 40), np.float32), np.zeros((9, 37), np.float32)
    _product(a, packed.pack(np.ones((40, 37), np.float32)), out)
    module = "".join(_product.inspect_llvm().values())
    assert re.search(r"^define[^\n]*6packed7product", module, re.M)
    assert module.count("NRT_incref(ptr %arg.packed") == 1, module
    assert module.count("NRT_decref(ptr %arg.packed") == 1, module


def test_committed_tiles_match_the_generator():
    committed = pathlib.Path(packed.__file__).with_name("_tiles.py").read_text()
    assert committed == packed.tile_source()


TILES_CHILD = RECORD_EMITTED_MODULES + r"""
import json, re
import numpy as np
from numba.core import codegen, config
from numrnn.kernels import _tiles, packed

slp_before = config.SLP_VECTORIZE
a = np.ones((9, 40), np.float32)
out = np.zeros((9, 37), np.float32)
packed.product(a, packed.pack(np.ones((40, 37), np.float32)), out)
try:
    _tiles.tile_4(a, np.int64(0), np.zeros((1, 40, 16), np.float32), np.int64(0), out,
                  np.int64(0))
    refused = False
except TypeError:
    refused = True
asm = "".join(packed.product.inspect_asm().values())
print(json.dumps({"emitted": emitted, "refused": refused, "out": out.tolist(),
                  "slp_unchanged": config.SLP_VECTORIZE == slp_before,
                  "packed_fmas": len(re.findall(r"vfmadd\w*ps\b[^\n]*%[yz]mm", asm))}))
"""


def test_the_tiles_compile_only_into_the_product(tmp_path):
    # The tiles are linked-only: their code is generated once, inside
    # packed.product's, not also on their own (a first call's compile time).
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, "-c", TILES_CHILD], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["out"] == np.full((9, 37), 40.0).tolist()
    assert not [name for name in report["emitted"] if "tile_" in name], report["emitted"]
    assert report["refused"]  # no code of their own to run from Python
    assert report["slp_unchanged"]
    # the SLP vectoriser still packed the tiles' accumulators, as linked into product
    assert report["packed_fmas"] >= 8
