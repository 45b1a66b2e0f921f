"""Batch blocks (numrnn.kernels.common, sized by numrnn.kernels.plan): every row in exactly one
block, by batch size alone."""

import pytest

from numrnn.kernels.common import block_rows
from numrnn.kernels.plan import block_count, block_size


def _blocks(batch):
    return [block_rows(block, batch) for block in range(block_count(batch))]


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 130])
def test_blocks_cover_every_row_once_in_order(batch):
    blocks = _blocks(batch)
    assert blocks[0][0] == 0 and blocks[-1][1] == batch
    for (_, stop), (first, _) in zip(blocks, blocks[1:]):
        assert stop == first
    assert all(first < stop for first, stop in blocks)


@pytest.mark.parametrize("batch, size", [(1, 1), (2, 1), (3, 2), (8, 4), (16, 8), (31, 16),
                                         (32, 16), (63, 16), (64, 32), (200, 32)])
def test_block_size_by_batch(batch, size):
    assert block_size(batch) == size


@pytest.mark.parametrize("batch", range(2, 32))
def test_a_batch_under_32_rows_makes_two_blocks(batch):
    # Two cores stay busy on a small batch (see kernels/plan.py).
    assert block_count(batch) == 2
