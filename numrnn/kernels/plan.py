"""The plan of a recurrent kernel call: its batch blocks, products, projection and BLAS pinning.

Every choice a recurrent kernel makes from the sizes of a call is made here, beside
the measurement that set its threshold. :func:`plan_for` takes the dtype, batch,
steps, input size, hidden size, gate count and the CPU's vector width, and returns
one :class:`Plan`; the kernels (:mod:`~numrnn.kernels.lstm`,
:mod:`~numrnn.kernels.gru`, :mod:`~numrnn.kernels.elman`,
:mod:`~numrnn.kernels.lstm_backward`) ask for it once per call and do what it
says, while :mod:`~numrnn.kernels.matvec`, :mod:`~numrnn.kernels.gemm`,
:mod:`~numrnn.kernels.packed` and :mod:`~numrnn.kernels.common` only compute.
A float32 GRU at B = 8, T = 50, I = H = 256 runs two blocks of four rows on
the joint step, and goes back through packed ``W_hh``::

    >>> plan = plan_for(np.dtype(np.float32), 8, 50, 256, 256, 3)
    >>> plan.blocks, plan.block_rows, plan.product, plan.backward_product
    (2, 4, 'joint', 'packed')

The rules that compiled code applies itself (:func:`block_size`,
:func:`block_count`, :func:`takes_loops`, :func:`projection_calls_blas`,
:func:`chunk_size`) are ``register_jitable``: plain functions from Python,
compiled into their callers by Numba, so the kernels and the plan cannot
disagree. Every rule reads the dtype and sizes only, never the thread count: a
row's arithmetic then never depends on how many threads run, and results are
bit-identical for any count.

The vector width (bits in the widest float register: 512 with AVX-512, 256
with AVX, else 128) is an input so that a threshold can depend on it; none does
yet. Every measurement below comes from the 2-core AMD EPYC machine, and the
packed tiles are written for eight float32 lanes (:mod:`numrnn.kernels.packed`).
"""

import functools
from collections import namedtuple

import llvmlite.binding as llvm
import numpy as np
from numba.extending import register_jitable

from numrnn.kernels.jit import OVERLOAD_OPTIONS

# The rules compiled code applies: plain functions from Python; in kernels, linked-only
# code with a kernel's options (no machine code of their own, jit.OVERLOAD_OPTIONS).
compiled_rule = register_jitable(**OVERLOAD_OPTIONS)

# How a product runs (Plan.product, Plan.projection, ...).
LOOPS = "loops"        # matrix-vector loops, no BLAS (matvec.accumulate, matvec.dot_rows)
GEMM = "gemm"          # one single-threaded BLAS GEMM (blas.gemm)
PACKED = "packed"      # register tiles over the weight packed once per call (packed.product)
JOINT = "joint"        # input and recurrent products together per step, in register tiles

# How a weight reaches matvec.product (Plan.recurrent_weight, Plan.backward_weight).
VIEW = "view"          # PyTorch's layout read through a transposed view, no copy
ROW_MAJOR = "row-major"
# ... or PACKED: panels made by packed.pack (packed.pack_stacked for the joint step).

# Rows per batch block. Each block runs its whole recurrence on one core, with
# its own GEMM per step on one BLAS thread; blocks run in parallel (prange), so
# a call has one parallel region, not a barrier per step. Derived from the
# batch size only, never from the thread count: a row's arithmetic then never
# depends on how many threads there are, so results are bit-identical for any
# count. Every per-step sgemm call repacks W_hh, so its efficiency grows with
# the rows it gets (NumPy's OpenBLAS, one thread, K = 512, N = 2048: about 54-68
# GFLOP/s at 32 rows and 77 at 64, against ~84 for a large GEMM): 32-row blocks
# where the batch has at least two of them, 16-row blocks where it has two of
# those (the "small" batch of 32 makes two), and below 32 rows two blocks of
# half the batch each, so that a small batch still keeps two cores busy: with
# 16-row blocks a batch of 5 to 16 rows was one block on one core. Halving,
# against 16-row blocks, 2 threads, T = 50 (in one process, interleaved, medians,
# forward only unless marked): LSTM 0.53-0.90 of the time at B = 2..24 and
# H = 64..512; GRU 0.77-1.00 at B = 2..16, training 0.69-1.01; Elman 0.63-0.89,
# but 1.06-1.08 at H = 64 and B = 4 or 8, where a step is too short to pay
# for the second core. On one thread two blocks of a 2-row batch cost
# 1.06-1.16x (each streams W_hh), larger batches 0.93-1.07x. Blocks of up to
# MAX_ROWS rows skip BLAS for matrix-vector loops.
BLOCK_ROWS = 32
SMALL_BATCH_BLOCK_ROWS = 16

# Largest block whose per-step product runs as loops instead of a GEMM. At one
# to four rows, ``rows @ W`` is a few matrix-vector products, and an OpenBLAS
# sgemm call spends most of its time packing W; the loops stream W once per
# four of its rows and keep the output rows in L1. Single thread, float32,
# ``rows @ W`` with W (K, N), µs per product (matvec.accumulate / blas.gemm):
#
#     (K, N)          1 row        2 rows       4 rows       8 rows
#     (64, 256)     1.1 / 3.2    1.5 / 3.4    2.9 / 3.2    5.7 / 4.8
#     (128, 512)    3.4 / 18.9   4.8 / 19.6  11.0 / 17.0  18.9 / 22.4
#     (512, 2048)  87 / 360    141 / 354    252 / 313    470 / 468
#
# The streaming step uses the loops for every product.
MAX_ROWS = 4

# Smallest weight (in elements) packed: the smallest size measured. The tiles
# beat OpenBLAS by 20-30% on one core at every size. Whole layers on 2 cores,
# packed against OpenBLAS on the row-major copy, interleaved (medians of up to
# 400 rounds, float32), forward and training step: at "small" (B = 32, H = 128,
# W_hh 16k-64k elements) 0.84-0.85 (RNN), 0.90-0.93 (GRU), 0.93-1.02 (LSTM); at
# "medium" (H = 256) 0.92-0.96 for the GRU and RNN, whose W_hh is under 256k
# elements; LSTM at H = 256 and 512, packed since the first measurement, 0.92-0.95.
# float64 keeps OpenBLAS: the gradient checks run in float64, and the tiles are
# written for float32 lanes.
PACK_FROM_SIZE = 16 * 1024

# Sequences at least this long get a row-major copy of W_hhᵀ; shorter ones read
# PyTorch's (G*H, H) layout through a transposed view: making the copy costs
# more than a whole step when there is only one step (82 µs at H = 128, against
# 2.9 µs for the product), as in every call of a cell. Through the view each
# output is a dot product along a contiguous weight row (about 1.3x the loops'
# time at one row and 1.5x at four when timed alone), or a GEMM told to read W
# transposed. A batch of one row reads the view at any length: its dot products
# along W_hh's rows stream W_hh once per step just as the loops do, and skip the
# copy. Whole forward kernels at B = 1, I = 32, view against copy (median of
# 7 x 200 calls): 0.72-0.96 at T = 50 (H = 64, 128, 256; RNN, GRU, LSTM),
# 0.80-0.85 at T = 200, 0.77-1.08 at T = 1000; at B = 4 the view re-reads W_hh
# per row and lost (up to 1.5x at H = 256).
COPY_FROM_STEPS = 8

# An input projection (T*B, I) @ W_ihᵀ of a batch of at most MAX_ROWS rows with
# at most this many multiply-adds runs as dot-product loops instead of a GEMM:
# the kernel call then reaches no BLAS at all and skips pinning it to one
# thread. At B = 1, T = 50, I = 32, H = 64 (an Elman layer, 102k multiply-adds)
# the loops cost 2.6 µs more than sgemm (7.2 against 4.6) and the pinning saved
# 6 µs of an 80 µs call timed between ONNX Runtime calls; at the GRU's and
# LSTM's 3-4x larger projections the loops lost (21 against 11, 29 against
# 14 µs). Single steps (cells, decoders) of any usual size qualify.
SMALL_PROJECTION = 1 << 17

# Rows of the result per single-threaded GEMM in gemm.matmul (the projection,
# and the gradients dx, dW_ih, dW_hh after the backward loop): at most
# CHUNK_ROWS, large enough for sgemm to run near its single-core peak; fewer
# (down to MIN_CHUNK_ROWS) when that leaves under TARGET_CHUNKS chunks, so that
# a short, deep product such as a weight gradient dGᵀ·x (H rows, T·B deep)
# still spreads over the cores: with 256-row chunks the Elman layer's dW_ih and
# dW_hh at H = 256 were one single-threaded GEMM each, and its backward sped up
# only 1.29x on 2 threads.
CHUNK_ROWS = 256
MIN_CHUNK_ROWS = 64
TARGET_CHUNKS = 8

# The Elman backward's two weight gradients, dW_ih = dᵀ·x and dW_hh = dᵀ·h_prev
# (H rows each, T·B deep), run side by side in one parallel call, in chunks of up
# to GRADIENT_CHUNK_ROWS rows made of whole gemm.matmul chunks
# (:func:`weight_gradient_chunks`). matmul's chunks are 64 rows for every H up to
# 512, and each one repacks its whole (T·B, I) right operand: at "large" (B = 64,
# T = 100, I = H = 512) that is 13 MB per 64 rows of result, and the pair of
# gradients ran at 71 GFLOP/s on one thread against 97 for whole products.
# Measured on one thread (CPU time, best of 5): 64-row chunks 94.7 ms, 128 80.5,
# 256 75.5, whole products 69.3; on 2 threads (interleaved, both gradients in one
# parallel call against two matmul calls) 256-row chunks 0.77 and whole products
# 0.73 of the time at H = 512, 0.77 at H = 256. OpenBLAS gives every element the
# same bits however the rows are split, as long as each call stays on its blocked
# path: its small-matrix kernels (up to 10^6 multiply-adds on x86-64) and its
# one-row GEMV sum in other orders. So only products whose matmul chunks are far
# past that (GROUPED_FROM multiply-adds each) are grouped, a last short chunk
# stays on its own, and the results keep the bits gemm.matmul gave them.
GRADIENT_CHUNK_ROWS = 512
GROUPED_FROM = 1 << 22


@compiled_rule
def block_size(batch):
    """Rows per block for a batch of ``batch`` rows (the last block may have fewer):
    32 from 64 rows, 16 from 32 rows, else half the batch (rounded up)."""
    if batch >= 2 * BLOCK_ROWS:
        return BLOCK_ROWS
    if batch >= 2 * SMALL_BATCH_BLOCK_ROWS:
        return SMALL_BATCH_BLOCK_ROWS
    return (batch + 1) // 2


@compiled_rule
def block_count(batch):
    """Number of batch blocks (none for an empty batch)."""
    size = block_size(batch)
    if size == 0:
        return 0
    return (batch + size - 1) // size


@compiled_rule
def takes_loops(rows):
    """Whether a product of ``rows`` rows by an unpacked weight runs as loops, not a GEMM."""
    return rows <= MAX_ROWS


@compiled_rule
def projection_calls_blas(batch, steps, n_in, n_out):
    """Whether a forward call's input projection ``(T*B, I) @ W_ihᵀ`` is a BLAS GEMM.

    A batch past ``MAX_ROWS`` rows, or more than ``SMALL_PROJECTION``
    multiply-adds; else dot-product loops.
    """
    return batch > MAX_ROWS or steps * batch * n_in * n_out > SMALL_PROJECTION


@compiled_rule
def chunk_size(rows):
    """Rows per chunk of a ``gemm.matmul`` result of ``rows`` rows: a function of ``rows`` only."""
    size = (rows + TARGET_CHUNKS - 1) // TARGET_CHUNKS
    return max(MIN_CHUNK_ROWS, min(CHUNK_ROWS, size))


@functools.lru_cache(maxsize=256)
def weight_gradient_chunks(rows, depth, width, most_rows=GRADIENT_CHUNK_ROWS):
    """Row ranges of two weight gradients computed side by side, or None to keep ``gemm.matmul``.

    For products ``dᵀ·a`` and ``dᵀ·b`` of ``rows`` rows, ``depth`` deep, the
    narrower of ``a`` and ``b`` ``width`` columns wide: an (n, 2) int64 array of
    ``(first, stop)`` ranges, each up to ``most_rows`` rows of whole
    :func:`chunk_size` chunks, the last short chunk (if any) a range of its own;
    None where a chunk has under ``GROUPED_FROM`` multiply-adds.
    """
    size = chunk_size(rows)
    if min(size, rows) * depth * width < GROUPED_FROM:
        return None
    full = rows // size * size
    step = max(1, most_rows // size) * size
    bounds = [(first, min(first + step, full)) for first in range(0, full, step)]
    if full < rows:
        bounds.append((full, rows))
    chunks = np.array(bounds, dtype=np.int64)
    chunks.flags.writeable = False
    return chunks


# A table's weight-gradient ranges are made for this many threads whatever the
# call's count (at least this many ranges a gradient where its chunks allow), so
# that no element's GEMM depends on the thread count.
RANGES_FOR_THREADS = 2


def weight_gradient_ranges(rows, depth, width, dtype):
    """The row ranges, ``[(first, stop), ...]``, in which a table of GEMM tasks
    (:mod:`numrnn.kernels.gradient_products`, :mod:`~numrnn.kernels.gru_gradient_products`)
    computes a weight gradient of ``rows`` rows, ``depth`` deep, ``width`` columns.

    float32: :func:`weight_gradient_chunks`' ranges where the chunks are large (each
    range repacks the deep operand once, not once per chunk), at least
    :data:`RANGES_FOR_THREADS` of them where the chunks allow; else, and always in
    float64, :func:`chunk_size`'s chunks, as ``gemm.matmul`` cuts them. They
    depend on the shapes and the dtype only, never on the call's thread count:
    float64 rows grouped into other ranges changed dgemm's bits at some shapes
    (P = 2800, I = 300: ranges made per thread count gave ``dW_ih`` other bits on
    1, 2 and 4 threads), which sgemm did at none tried.
    """
    size = chunk_size(rows)
    if dtype == np.float32:
        most = max(size, min(GRADIENT_CHUNK_ROWS, rows // RANGES_FOR_THREADS // size * size))
        grouped = weight_gradient_chunks(rows, depth, width, most)
        if grouped is not None:
            return [tuple(bounds) for bounds in grouped.tolist()]
    return [(first, min(first + size, rows)) for first in range(0, rows, size)]


def thread_shares(tasks, threads, idle):
    """A ``prange`` task table laid out so that each of ``threads`` threads gets about
    the same work: an (n, k) read-only int64 array.

    ``tasks`` are ``(cost, *fields)`` tuples, ``fields`` the k integers of a table
    row; ``idle`` is a row of k integers that does nothing. numba splits a
    ``prange`` evenly by count, one contiguous share a thread, so the tasks,
    largest first, are dealt out as a snake (first, second, ..., last, last, ...,
    first, ...) into one share a thread, the shorter shares padded with ``idle``,
    and the shares laid one after the other. Listed in the order they were made,
    one of two threads could get all of one product and the other all of a wider
    one. Which thread runs a task must not change its result; the caller makes it so.
    """
    ordered = sorted(tasks, key=lambda task: -task[0])
    shares = [[] for _ in range(threads)]
    for index, task in enumerate(ordered):
        turn, place = divmod(index, threads)
        shares[place if turn % 2 == 0 else threads - 1 - place].append(tuple(task[1:]))
    longest = max(len(share) for share in shares)
    rows = [row for share in shares for row in share + [tuple(idle)] * (longest - len(share))]
    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(idle))
    table.flags.writeable = False
    return table


def packs(dtype, batch, size):
    """Whether a product by a weight of ``size`` elements, over the blocks of a
    ``batch``-row batch, runs on packed panels: float32, past ``MAX_ROWS`` rows."""
    return dtype == np.float32 and batch > MAX_ROWS and size >= PACK_FROM_SIZE


def joint_step(dtype, batch, input_size, hidden_size, gates):
    """Whether the forward call takes the joint step (LSTM, GRU and Elman).

    Where the packed products pay (:func:`packs`, on the ``(I + H) x G*H``
    weights of both parts), each step multiplies ``[x_t, h_{t-1}]`` by the
    packed ``[W_ihᵀ; W_hhᵀ]``: no projection GEMM, no (T, B, G*H) projection
    through memory. Against the projection GEMM then a product per step, in one
    process, forward inference: LSTM 0.80-0.90 (small), 0.92-0.95 (medium),
    0.93-0.95 (large); GRU 0.91-0.95 (small), 1.00-1.03 (medium), 0.93-0.97
    (large); training steps within 0.91-1.05. The Elman layer (one gate block,
    so a quarter of the LSTM's work per step), fresh processes interleaved,
    one thread, CPU time: 0.89 (medium) and 0.94 (large) of the time for
    inference, 0.95 and 0.98 for the training step; in one process, 0.93 at
    small and 0.86 at small-b8 (inference). Its forward is then one parallel
    region per call instead of two (the projection's chunks, then the blocks).
    """
    return packs(dtype, batch, (input_size + hidden_size) * gates * hidden_size)


def recurrent_weight_form(dtype, batch, steps, size):
    """How the forward recurrence holds ``W_hhᵀ`` of ``size`` elements:
    ``VIEW`` for short runs and single rows (``COPY_FROM_STEPS``), else
    ``PACKED`` where :func:`packs` says so, else a ``ROW_MAJOR`` copy."""
    if steps < COPY_FROM_STEPS or batch == 1:
        return VIEW
    return PACKED if packs(dtype, batch, size) else ROW_MAJOR


def _block_product(rows, form):
    """The path of one block's per-step product by a weight held as ``form``."""
    if form == PACKED:
        return PACKED
    return LOOPS if takes_loops(rows) else GEMM


Plan = namedtuple("Plan", [
    "block_rows", "blocks", "last_block_rows",
    "projection", "projection_chunk_rows",
    "recurrent_weight", "product", "last_product", "pins_blas",
    "backward_weight", "backward_product", "backward_last_product", "backward_pins_blas",
    "vector_bits",
])
Plan.__doc__ = """What a recurrent kernel call does, by :func:`plan_for`.

block_rows, blocks, last_block_rows
    Rows per batch block, the number of blocks, and the rows of the last one
    (fewer where the batch does not divide).
projection
    The forward input projection: ``GEMM`` (one, chunked by
    ``projection_chunk_rows`` rows), ``LOOPS`` (dot products), or ``JOINT``
    (made per step inside the joint step; ``projection_chunk_rows`` is then 0,
    as it is for ``LOOPS``).
recurrent_weight
    How the forward recurrence holds ``W_hhᵀ``: ``VIEW``, ``ROW_MAJOR`` or
    ``PACKED`` (with ``W_ihᵀ``, for the joint step).
product, last_product
    The forward per-step product of a block of ``block_rows`` rows and of the
    last block: ``LOOPS``, ``GEMM``, ``PACKED`` or ``JOINT``.
pins_blas
    Whether the forward call holds the kernels' BLAS at one thread: exactly
    when it reaches BLAS, which only a ``GEMM`` projection does (a batch past
    ``MAX_ROWS`` rows has one, so its GEMM blocks are covered).
backward_weight, backward_product, backward_last_product
    ``W_hh`` in the backward recurrence (``ROW_MAJOR`` or ``PACKED``) and the
    per-step product of its blocks.
backward_pins_blas
    Whether the backward recurrence holds BLAS at one thread: always, as it
    did before the plan (its weight-gradient GEMMs pin for themselves).
vector_bits
    The CPU vector width the plan was made for (no rule reads it yet).
"""


def _plan(dtype, batch, steps, input_size, hidden_size, gates, vector_bits, joint):
    rows = block_size(batch)
    blocks = block_count(batch)
    last_rows = batch - (blocks - 1) * rows if blocks else 0
    recurrent_size = gates * hidden_size * hidden_size
    if joint and joint_step(dtype, batch, input_size, hidden_size, gates):
        projection, chunk_rows = JOINT, 0
        form = PACKED
        product = last_product = JOINT
        pins = False
    else:
        calls_blas = projection_calls_blas(batch, steps, input_size, gates * hidden_size)
        projection = GEMM if calls_blas else LOOPS
        chunk_rows = chunk_size(steps * batch) if calls_blas else 0
        form = recurrent_weight_form(dtype, batch, steps, recurrent_size)
        product, last_product = _block_product(rows, form), _block_product(last_rows, form)
        pins = calls_blas
    backward_form = PACKED if packs(dtype, batch, recurrent_size) else ROW_MAJOR
    return Plan(rows, blocks, last_rows, projection, chunk_rows, form, product, last_product,
                pins, backward_form, _block_product(rows, backward_form),
                _block_product(last_rows, backward_form), True, vector_bits)


@functools.cache
def host_vector_bits():
    """Bits in the host CPU's widest float vector register, as LLVM reports its features:
    512 with AVX-512, 256 with AVX, else 128 (SSE2, NEON), also where LLVM cannot tell."""
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:
        return 128
    if features.get("avx512f", False):
        return 512
    if features.get("avx", False):
        return 256
    return 128


# Calls repeat the same few configurations; the cache makes a plan cost one
# dictionary lookup, which small calls (a cell step takes a few µs) can afford.
@functools.lru_cache(maxsize=4096)
def plan_for(dtype, batch, steps, input_size, hidden_size, gates, vector_bits=None, joint=True):
    """The :class:`Plan` of a recurrent kernel call.

    Parameters
    ----------
    dtype : numpy dtype
        The call's float dtype.
    batch, steps, input_size, hidden_size : int
        B, T, I and H.
    gates : int
        Gate blocks G in ``W_hh`` (G*H, H): 4 for the LSTM, 3 for the GRU, 1 for Elman.
    vector_bits : int or None
        The CPU's vector width in bits (None: :func:`host_vector_bits`). No rule
        reads it yet.
    joint : bool, default True
        Whether the kernel has a joint step; one without (the reset-before GRU,
        :mod:`numrnn.kernels.gru_reset_before`) gets the projection path where
        :func:`joint_step` would give the joint step.

    Returns
    -------
    Plan
    """
    if vector_bits is None:
        vector_bits = host_vector_bits()
    return _plan(dtype, batch, steps, input_size, hidden_size, gates, vector_bits, joint)
