"""Products of a few rows with a weight matrix, as loops instead of BLAS calls.

At one to four rows, ``rows @ W`` is a few matrix-vector products, and an
OpenBLAS ``sgemm`` call spends most of its time packing ``W``. These loops
stream ``W`` once per four of its rows and keep the output rows in L1. Single
thread, float32, ``rows @ W`` with W (K, N), µs per product on the 2-core AMD
EPYC machine (``accumulate`` against :func:`numrnn.kernels.blas.gemm`)::

    (K, N)          1 row        2 rows       4 rows       8 rows
    (64, 256)     1.1 / 3.2    1.5 / 3.4    2.9 / 3.2    5.7 / 4.8
    (128, 512)    3.4 / 18.9   4.8 / 19.6  11.0 / 17.0  18.9 / 22.4
    (512, 2048)  87 / 360    141 / 354    252 / 313    470 / 468

so the recurrent kernels use them for batch blocks of up to ``MAX_ROWS`` rows
(:func:`product`), and the streaming step for every product.

The kernels hold ``W_hhᵀ`` (H, G*H) row-major for the loops above, but making
that copy from PyTorch's (G*H, H) layout costs more than a whole step when
there is only one step (82 µs at H = 128, against 2.9 µs for the product),
as in every call of a cell. :func:`recurrent_weight` therefore hands short
runs, and runs of a single row, the transposed *view*, and :func:`product`
takes it too: then each output is a dot product along a contiguous weight row
(about 1.3x the loops' time at one row and 1.5x at four when timed alone, but
as fast as the loops inside a one-row recurrence, see ``COPY_FROM_STEPS``), or
a GEMM told to read ``W`` transposed.
"""

import numpy as np
from numba.core.errors import TypingError
from numba.extending import overload

from numrnn.kernels import packed
from numrnn.kernels.activations import typed
from numrnn.kernels.blas import gemm
from numrnn.kernels.jit import jit, kernel, product_kernel

# Largest block that takes the loops instead of a GEMM (see the table above).
MAX_ROWS = 4

# Smallest weight (in elements) packed: the smallest size measured. The tiles
# beat OpenBLAS by 20-30% on one core at every size. Whole layers on 2 cores,
# packed against OpenBLAS on the row-major copy, interleaved (medians of up to
# 400 rounds, float32), forward and training step: at "small" (B = 32, H = 128,
# W_hh 16k-64k elements) 0.84-0.85 (RNN), 0.90-0.93 (GRU), 0.93-1.02 (LSTM); at
# "medium" (H = 256) 0.92-0.96 for the GRU and RNN, whose W_hh is under 256k
# elements; LSTM at H = 256 and 512, packed since the first measurement, 0.92-0.95.
PACK_FROM_SIZE = 16 * 1024

# Sequences at least this long get a row-major copy of W_hhᵀ; shorter ones
# read PyTorch's layout through a transposed view (see the module docstring).
# So does a batch of one row at any length: its dot products along W_hh's rows
# stream W_hh once per step just as the loops do, and skip the copy. Whole
# forward kernels at B = 1, I = 32, view against copy (median of 7 x 200 calls):
# 0.72-0.96 at T = 50 (H = 64, 128, 256; RNN, GRU, LSTM), 0.80-0.85 at T = 200,
# 0.77-1.08 at T = 1000; at B = 4 the view re-reads W_hh per row and lost
# (up to 1.5x at H = 256).
COPY_FROM_STEPS = 8


def recurrent_weight(weight_hh, steps, batch):
    """``W_hhᵀ`` for :func:`product` in the forward recurrence.

    One row, or a short run, reads PyTorch's layout through a transposed view;
    longer runs of several rows get a row-major copy, or in float32 with batch
    blocks past ``MAX_ROWS`` rows the packed panels of :mod:`numrnn.kernels.packed`.
    """
    if steps < COPY_FROM_STEPS or batch == 1:
        return weight_hh.T
    return product_weight(weight_hh.T, batch)


def packs(dtype, batch, size):
    """Whether a product by a weight of ``size`` elements over batch blocks of a
    ``batch``-row batch runs on packed panels (float32 past ``MAX_ROWS`` rows)."""
    return dtype == np.float32 and batch > MAX_ROWS and size >= PACK_FROM_SIZE


def product_weight(weight, batch):
    """``weight`` (K, N) for :func:`product`: packed panels where they pay, else row-major."""
    if packs(weight.dtype, batch, weight.size):
        return packed.pack(weight)
    return np.ascontiguousarray(weight)


@product_kernel
def accumulate(gates, first, source, weights, offset, columns):
    """``gates[:, first:first + columns] += source · W``, W (K, columns) at ``weights[offset:]``.

    Four weight rows at a time, applied to every batch row before moving on:
    each pass loads and stores a gate row once for four products, and the four
    weight rows (4 * columns values) stay in L1 across the batch instead of
    streaming from L2 once per row. Only 1-D views indexed by a range variable
    appear in the inner loops: Numba's negative-index wrap-around on a computed
    index such as ``offset + k * columns + j`` blocks LLVM's vectoriser
    (measured 8x slower), while a range index is known to be non-negative.
    """
    batch, size = source.shape
    k = 0
    while k + 4 <= size:
        start = offset + k * columns
        w0 = weights[start:start + columns]
        w1 = weights[start + columns:start + 2 * columns]
        w2 = weights[start + 2 * columns:start + 3 * columns]
        w3 = weights[start + 3 * columns:start + 4 * columns]
        for b in range(batch):
            row = gates[b, first:first + columns]
            x0, x1, x2, x3 = source[b, k], source[b, k + 1], source[b, k + 2], source[b, k + 3]
            for j in range(columns):
                row[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
        k += 4
    while k < size:
        start = offset + k * columns
        w0 = weights[start:start + columns]
        for b in range(batch):
            row = gates[b, first:first + columns]
            x0 = source[b, k]
            for j in range(columns):
                row[j] += x0 * w0[j]
        k += 1


# Dot products along weight rows need reassociation to vectorise; the order is
# still fixed by the code, so results do not vary from call to call.
@jit(fastmath={"contract", "reassoc"})
def dot_rows(rows, weight, out):
    """``out[...] = rows @ weight.T`` for row-major ``weight`` (N, K): four rows at a time.

    With K = 0 every output is zero, as for ``np.dot``.
    """
    count = weight.shape[0]
    for b in range(rows.shape[0]):
        source, target = rows[b], out[b]
        n = 0
        while n < count:
            w0 = weight[n]
            w1 = weight[min(n + 1, count - 1)]
            w2 = weight[min(n + 2, count - 1)]
            w3 = weight[min(n + 3, count - 1)]
            # Typed by the array, not by source[0]: with K = 0 there is no element
            # to read, and nothing checks bounds here.
            a0 = a1 = a2 = a3 = typed(0.0, source)
            for k in range(source.shape[0]):
                x = source[k]
                a0 += x * w0[k]
                a1 += x * w1[k]
                a2 += x * w2[k]
                a3 += x * w3[k]
            target[n] = a0
            if n + 1 < count:
                target[n + 1] = a1
            if n + 2 < count:
                target[n + 2] = a2
            if n + 3 < count:
                target[n + 3] = a3
            n += 4


def product(rows, weight, out):
    """``out[...] = rows @ weight``: loops up to ``MAX_ROWS`` rows, a GEMM beyond.

    ``rows`` and ``out`` are C-contiguous; ``weight`` (K, N) is C-contiguous, the
    transposed view of a C-contiguous (N, K) matrix, or float32 panels packed by
    :func:`numrnn.kernels.packed.pack` (register tiles for any row count).
    The choice depends on the row count and layout only, so a batch block gets
    the same arithmetic whatever the thread count. Kernels compile it inline;
    called from Python, it runs the same compiled code.
    """
    _product_from_python(rows, weight, out)


@overload(product, jit_options={"nogil": True})
def _product_impl(rows, weight, out):
    if weight.ndim == 3:
        def impl(rows, weight, out):
            packed.product(rows, weight, out, np.empty(packed.PANEL, dtype=np.float32))
    elif weight.layout == "F":
        def impl(rows, weight, out):
            if rows.shape[0] > MAX_ROWS:
                gemm(rows, weight, out)
            else:
                dot_rows(rows, weight.T, out)
    elif weight.layout == "C":
        def impl(rows, weight, out):
            if rows.shape[0] > MAX_ROWS:
                gemm(rows, weight, out)
            else:
                out[...] = 0
                accumulate(out, 0, rows, weight.reshape(-1), 0, weight.shape[1])
    else:
        raise TypingError(f"product needs a C- or F-contiguous weight, got layout {weight.layout}")
    return impl


@kernel
def _product_from_python(rows, weight, out):
    product(rows, weight, out)
