"""The plan of a recurrent kernel call (numrnn.kernels.plan): each rule at its
thresholds, and the kernels taking the path their plan names."""

import contextlib

import numpy as np
import pytest

from numrnn.kernels import elman, elman_backward, gemm, gru, gru_backward, lstm, lstm_backward
from numrnn.kernels.common import block_rows
from numrnn.kernels.matvec import ThroughGemm, ThroughLoops
from numrnn.kernels.plan import (
    COPY_FROM_STEPS,
    GEMM,
    GRADIENT_CHUNK_ROWS,
    GROUPED_FROM,
    JOINT,
    LOOPS,
    MAX_ROWS,
    PACK_FROM_SIZE,
    PACKED,
    ROW_MAJOR,
    SMALL_PROJECTION,
    VIEW,
    block_count,
    chunk_size,
    host_vector_bits,
    packs,
    plan_for,
    projection_calls_blas,
    recurrent_weight_form,
    takes_loops,
    weight_gradient_chunks,
)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@pytest.mark.parametrize("batch, rows, blocks, last", [
    (1, 1, 1, 1), (2, 1, 2, 1), (31, 16, 2, 15), (32, 16, 2, 16), (63, 16, 4, 15),
    (64, 32, 2, 32), (65, 32, 3, 1),
])
def test_block_sizes(batch, rows, blocks, last):
    plan = plan_for(F32, batch, 10, 8, 16, 4)
    assert (plan.block_rows, plan.blocks, plan.last_block_rows) == (rows, blocks, last)
    # The compiled kernels split the batch into exactly these blocks.
    assert block_count(batch) == blocks
    sizes = [stop - first for first, stop in (block_rows(b, batch) for b in range(blocks))]
    assert sizes == [rows] * (blocks - 1) + [last]


def test_an_empty_batch_has_no_blocks():
    plan = plan_for(F64, 0, 3, 4, 4, 4)
    assert (plan.blocks, plan.last_block_rows) == (0, 0)


def test_blocks_of_up_to_max_rows_take_the_loops():
    assert takes_loops(MAX_ROWS) and not takes_loops(MAX_ROWS + 1)
    # float64 keeps unpacked weights, so only the row count decides.
    assert plan_for(F64, 2 * MAX_ROWS, 10, 8, 16, 4)[6:8] == (LOOPS, LOOPS)
    # 9 rows: a block of 5 (GEMM) and a last block of 4 (loops).
    nine = plan_for(F64, 2 * MAX_ROWS + 1, 10, 8, 16, 4)
    assert (nine.block_rows, nine.last_block_rows) == (MAX_ROWS + 1, MAX_ROWS)
    assert (nine.product, nine.last_product) == (GEMM, LOOPS)
    assert (nine.backward_product, nine.backward_last_product) == (GEMM, LOOPS)
    assert plan_for(F64, 2 * MAX_ROWS + 2, 10, 8, 16, 4)[6:8] == (GEMM, GEMM)


@pytest.mark.parametrize("gates", [1, 3, 4])
@pytest.mark.parametrize("batch", [1, MAX_ROWS + 1, 64])
def test_float64_never_packs(gates, batch):
    plan = plan_for(F64, batch, 100, 512, 512, gates)
    assert PACKED not in (plan.recurrent_weight, plan.backward_weight)
    assert JOINT not in (plan.product, plan.projection)
    assert not packs(F64, batch, 1 << 30)


def test_float32_packs_from_pack_from_size_elements_past_max_rows_rows():
    # Elman's W_hh has H² elements: 128² is PACK_FROM_SIZE exactly.
    assert 128 * 128 == PACK_FROM_SIZE
    # joint=False: the per-step product a kernel without a joint step takes.
    packed = plan_for(F32, MAX_ROWS + 1, COPY_FROM_STEPS, 8, 128, 1, joint=False)
    assert (packed.recurrent_weight, packed.product, packed.last_product) == (PACKED,) * 3
    assert (packed.backward_weight, packed.backward_product) == (PACKED, PACKED)
    below = plan_for(F32, MAX_ROWS + 1, COPY_FROM_STEPS, 8, 127, 1, joint=False)
    assert (below.recurrent_weight, below.backward_weight) == (ROW_MAJOR, ROW_MAJOR)
    few_rows = plan_for(F32, MAX_ROWS, COPY_FROM_STEPS, 8, 128, 1)
    assert (few_rows.recurrent_weight, few_rows.backward_weight) == (ROW_MAJOR, ROW_MAJOR)


def test_joint_step_for_float32_batches_from_pack_from_size_joint_elements():
    # (I + H) * 4H: (96 + 32) * 128 is PACK_FROM_SIZE exactly.
    assert (96 + 32) * 4 * 32 == PACK_FROM_SIZE
    joint = plan_for(F32, MAX_ROWS + 1, 1, 96, 32, 4)
    assert (joint.projection, joint.recurrent_weight, joint.product) == (JOINT, PACKED, JOINT)
    assert not joint.pins_blas and joint.projection_chunk_rows == 0
    # The backward pass packs W_hh (4H x H = 4096 elements) by its own size: not here.
    assert joint.backward_weight == ROW_MAJOR
    assert plan_for(F32, MAX_ROWS + 1, 1, 95, 32, 4).projection == GEMM
    assert plan_for(F32, MAX_ROWS, 1, 96, 32, 4).projection != JOINT
    assert plan_for(F64, MAX_ROWS + 1, 1, 96, 32, 4).projection == GEMM
    assert plan_for(F32, MAX_ROWS + 1, 1, 96, 32, 3).projection == GEMM   # 3H: too small
    assert plan_for(F32, MAX_ROWS + 1, 1, 96, 64, 3).projection == JOINT
    # The Elman kernel's (I + H) * H: (192 + 64) * 64 is PACK_FROM_SIZE exactly.
    assert (192 + 64) * 64 == PACK_FROM_SIZE
    elman_joint = plan_for(F32, MAX_ROWS + 1, COPY_FROM_STEPS, 192, 64, 1)
    assert (elman_joint.projection, elman_joint.product) == (JOINT, JOINT)
    assert plan_for(F32, MAX_ROWS + 1, COPY_FROM_STEPS, 191, 64, 1).projection == GEMM
    assert plan_for(F32, 64, 100, 256, 256, 1).projection == JOINT


def test_recurrent_weight_copied_only_for_long_runs_of_several_rows():
    assert recurrent_weight_form(F64, 64, COPY_FROM_STEPS - 1, 12) == VIEW
    assert recurrent_weight_form(F64, 64, COPY_FROM_STEPS, 12) == ROW_MAJOR
    assert recurrent_weight_form(F64, 1, 10 * COPY_FROM_STEPS, 12) == VIEW
    short, long = (plan_for(F32, 8, steps, 8, 16, 3) for steps in (7, 8))
    assert COPY_FROM_STEPS == 8
    assert (short.recurrent_weight, long.recurrent_weight) == (VIEW, ROW_MAJOR)
    assert plan_for(F32, 1, 1000, 8, 16, 3).recurrent_weight == VIEW
    # The backward recurrence never reads the view.
    assert short.backward_weight == ROW_MAJOR


def test_recurrent_weight_packed_for_large_float32_weights_and_real_batches():
    size = 4 * 64 * 64                               # an LSTM's W_hh at H = 64
    assert size >= PACK_FROM_SIZE
    assert recurrent_weight_form(F32, MAX_ROWS + 1, COPY_FROM_STEPS, size) == PACKED
    assert recurrent_weight_form(F32, MAX_ROWS, COPY_FROM_STEPS, size) == ROW_MAJOR
    assert recurrent_weight_form(F64, 64, COPY_FROM_STEPS, size) == ROW_MAJOR
    assert plan_for(F32, 64, COPY_FROM_STEPS, 1, 64, 4).backward_weight == PACKED
    assert plan_for(F32, 64, COPY_FROM_STEPS, 1, 8, 4).backward_weight == ROW_MAJOR


def test_projection_is_a_gemm_past_max_rows_rows_or_small_projection_multiply_adds():
    # I * G*H * T * B multiply-adds: 512 * 256 = SMALL_PROJECTION exactly.
    assert 512 * 256 == SMALL_PROJECTION
    at = plan_for(F32, 1, 1, 512, 256, 1)
    over = plan_for(F32, 1, 1, 513, 256, 1)
    assert (at.projection, at.pins_blas, at.projection_chunk_rows) == (LOOPS, False, 0)
    assert (over.projection, over.pins_blas, over.projection_chunk_rows) == (GEMM, True, 64)
    assert projection_calls_blas(1, 1, 512, 256) is False
    assert projection_calls_blas(MAX_ROWS + 1, 1, 1, 1) is True
    assert plan_for(F64, MAX_ROWS, 1, 1, 1, 4).projection == LOOPS
    many_rows = plan_for(F64, MAX_ROWS + 1, 1, 1, 1, 4)
    assert (many_rows.projection, many_rows.pins_blas) == (GEMM, True)


@pytest.mark.parametrize("rows, size", [(1, 64), (512, 64), (513, 65), (2048, 256),
                                        (10_000, 256)])
def test_gemm_chunks(rows, size):
    assert chunk_size(rows) == size


@pytest.mark.parametrize("rows, depth, width, expected", [
    (512, 6400, 256, [(0, 512)]),                    # the "large" Elman layer: whole products
    (130, 512, 128, [(0, 128), (128, 130)]),         # a last short chunk stays on its own
    (1100, 400, 90, [(0, 414), (414, 828), (828, 966), (966, 1100)]),
    (4096, 100, 256, [(first, first + 512) for first in range(0, 4096, 512)]),
    (40, 200_000, 1, [(0, 40)]),                     # fewer rows than one chunk
])
def test_weight_gradient_chunks_group_whole_matmul_chunks(rows, depth, width, expected):
    chunks = weight_gradient_chunks(rows, depth, width)
    assert chunks.tolist() == [list(bounds) for bounds in expected]
    size = chunk_size(rows)
    for first, stop in expected:
        assert first % size == 0 and stop - first <= max(GRADIENT_CHUNK_ROWS, size)
        assert (stop - first) % size == 0 or stop == rows


def test_weight_gradient_chunks_leave_small_products_to_matmul():
    # A 64-row matmul chunk of 64 * 512 * 128 multiply-adds is grouped, one less is not.
    assert 64 * 512 * 128 == GROUPED_FROM
    assert weight_gradient_chunks(512, 512, 128) is not None
    assert weight_gradient_chunks(512, 511, 128) is None
    assert weight_gradient_chunks(40, 512, 128) is None  # 40 rows * 512 * 128
    assert weight_gradient_chunks(512, 6400, 0) is None  # no input features


def test_the_backward_recurrence_always_pins_blas():
    for batch in (1, MAX_ROWS, 64):
        for dtype in (F32, F64):
            assert plan_for(dtype, batch, 5, 8, 16, 4).backward_pins_blas


def test_no_rule_reads_the_vector_width_yet():
    assert host_vector_bits() in (128, 256, 512)
    assert plan_for(F32, 8, 50, 256, 256, 3).vector_bits == host_vector_bits()
    for args in [(F32, 8, 50, 256, 256, 3), (F64, 9, 10, 8, 16, 4), (F32, 1, 5, 8, 16, 1)]:
        plans = {bits: plan_for(*args, vector_bits=bits) for bits in (128, 256, 512)}
        assert len({plan._replace(vector_bits=0) for plan in plans.values()}) == 1


# Which path each kernel call took, by spies on the kernels' compiled entry points,
# and whether BLAS was pinned when it was entered.

def _form(weight, source):
    if isinstance(weight, (ThroughGemm, ThroughLoops)):
        # The plan's one path for every block, marked (matvec.product_weight).
        weight = weight.weight
    if weight.ndim == 3:
        return PACKED
    return VIEW if np.shares_memory(weight, source) and weight.flags.f_contiguous else ROW_MAJOR


def _watch(monkeypatch, entries):
    """Spy on ``entries`` ({module: names}); returns the list of (name, args, pinned) calls."""
    seen, depth = [], [0]
    original_pinning = gemm.single_threaded_kernel_blas

    @contextlib.contextmanager
    def pinning():
        with original_pinning():
            depth[0] += 1
            try:
                yield
            finally:
                depth[0] -= 1

    monkeypatch.setattr(gemm, "single_threaded_kernel_blas", pinning)
    def spy(name, original):
        def entry(*args):
            seen.append((name, args, depth[0] > 0))
            return original(*args)
        return entry

    for module, names in entries.items():
        for name in names:
            monkeypatch.setattr(module, name, spy(name, getattr(module, name)))
    return seen


def _problem(gates, dtype, steps, batch, n_in, hidden):
    rng = np.random.default_rng(steps * 100 + batch)
    x = rng.standard_normal((steps, batch, n_in)).astype(dtype)
    h0 = np.zeros((batch, hidden), dtype=dtype)
    w_ih = (rng.standard_normal((gates * hidden, n_in)) * 0.1).astype(dtype)
    w_hh = (rng.standard_normal((gates * hidden, hidden)) * 0.1).astype(dtype)
    return x, h0, w_ih, w_hh


CONFIGURATIONS = [  # (dtype, steps, batch, input size, hidden size)
    (F64, 5, 1, 3, 8),            # view, loops, no BLAS
    (F32, COPY_FROM_STEPS, MAX_ROWS + 4, 3, 8),       # row-major copy, loops, GEMM projection
    (F64, COPY_FROM_STEPS, MAX_ROWS + 5, 3, 8),       # a GEMM block and a loops block
    (F32, COPY_FROM_STEPS, MAX_ROWS + 4, 3, 128),     # joint
]


def _check_forward(call, plan, w_hh):
    (name, args, pinned), = call
    if plan.product == JOINT:
        assert name == "_forward_joint"
    else:
        assert name == "_forward" and _form(args[2], w_hh) == plan.recurrent_weight
    assert pinned == plan.pins_blas


def _check_backward(call, plan, weight, w_hh):
    (name, args, pinned), = call
    assert name == "_backward_recurrence" and _form(weight(args), w_hh) == plan.backward_weight
    assert pinned == plan.backward_pins_blas


@pytest.mark.parametrize("dtype, steps, batch, n_in, hidden", CONFIGURATIONS)
def test_lstm_kernels_take_the_planned_path(monkeypatch, dtype, steps, batch, n_in, hidden):
    plan = plan_for(dtype, batch, steps, n_in, hidden, 4)
    x, h0, w_ih, w_hh = _problem(4, dtype, steps, batch, n_in, hidden)
    seen = _watch(monkeypatch, {lstm: ["_forward", "_forward_joint"],
                                lstm_backward: ["_backward_recurrence"]})
    weights = (w_ih, w_hh, None, None)
    output, finals, saved = lstm.forward_train(x, (h0, h0), weights)
    _check_forward(seen, plan, w_hh)
    seen.clear()
    lstm_backward.backward(np.ones_like(output), finals, x, (h0, h0), weights, saved)
    _check_backward(seen, plan, lambda args: args[2], w_hh)


@pytest.mark.parametrize("dtype, steps, batch, n_in, hidden", CONFIGURATIONS)
def test_gru_kernels_take_the_planned_path(monkeypatch, dtype, steps, batch, n_in, hidden):
    plan = plan_for(dtype, batch, steps, n_in, hidden, 3)
    x, h0, w_ih, w_hh = _problem(3, dtype, steps, batch, n_in, hidden)
    seen = _watch(monkeypatch, {gru: ["_forward", "_forward_joint"],
                                gru_backward: ["_backward_recurrence"]})
    weights = (w_ih, w_hh, None, None)
    output, finals, saved = gru.forward_train(x, (h0,), weights)
    _check_forward(seen, plan, w_hh)
    seen.clear()
    gru_backward.backward(np.ones_like(output), finals, x, (h0,), weights, saved)
    _check_backward(seen, plan, lambda args: args[5], w_hh)


@pytest.mark.parametrize("dtype, steps, batch, n_in, hidden", CONFIGURATIONS)
def test_elman_kernels_take_the_planned_path(monkeypatch, dtype, steps, batch, n_in, hidden):
    plan = plan_for(dtype, batch, steps, n_in, hidden, 1)
    x, h0, w_ih, w_hh = _problem(1, dtype, steps, batch, n_in, hidden)
    seen = _watch(monkeypatch, {elman: ["_forward", "_forward_joint"],
                                elman_backward: ["_backward_recurrence"]})
    weights = (w_ih, w_hh, None, None)
    output, finals, saved = elman.forward_train(x, (h0,), weights)
    _check_forward(seen, plan, w_hh)
    seen.clear()
    elman_backward.backward(np.ones_like(output), finals, x, (h0,), weights, saved)
    _check_backward(seen, plan, lambda args: args[3], w_hh)
