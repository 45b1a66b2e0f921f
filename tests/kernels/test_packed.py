"""Packed W_hh products (numrnn.kernels.packed): exact shapes, edges, and the generated tiles."""

import pathlib

import numba
import numpy as np
import pytest

from numrnn.kernels import packed


@numba.njit
def _product(a, weights, out):
    packed.product(a, weights, out, np.empty(packed.PANEL, dtype=np.float32))


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 8, 9, 16])
@pytest.mark.parametrize("depth, columns", [(1, 1), (3, 15), (7, 16), (8, 17), (64, 200)])
def test_product_matches_numpy(rows, depth, columns):
    rng = np.random.default_rng(rows * 1000 + depth * 10 + columns)
    a = rng.standard_normal((rows, depth)).astype(np.float32)
    weight = rng.standard_normal((depth, columns)).astype(np.float32)
    out = np.full((rows, columns), np.nan, dtype=np.float32)
    _product(a, packed.pack(weight), out)
    np.testing.assert_allclose(out, a @ weight, rtol=1e-5, atol=1e-5)


def test_pack_layout_and_zero_padding():
    weight = np.arange(3 * 20, dtype=np.float32).reshape(3, 20)
    panels = packed.pack(weight)
    assert panels.shape == (2, 3, packed.PANEL) and panels.flags.c_contiguous
    np.testing.assert_array_equal(panels[0], weight[:, :16])
    np.testing.assert_array_equal(panels[1, :, :4], weight[:, 16:])
    assert not panels[1, :, 4:].any()


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


def test_committed_tiles_match_the_generator():
    committed = pathlib.Path(packed.__file__).with_name("_tiles.py").read_text()
    assert committed == packed.tile_source()
