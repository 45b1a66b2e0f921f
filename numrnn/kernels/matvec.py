"""Products of a few rows with a weight matrix, as loops instead of BLAS calls.

At one to four rows, ``rows @ W`` is a few matrix-vector products, and an
OpenBLAS ``sgemm`` call spends most of its time packing ``W``. These loops
stream ``W`` once per four of its rows and keep the output rows in L1: the
recurrent kernels use them for batch blocks of up to
:data:`~numrnn.kernels.plan.MAX_ROWS` rows (:func:`product`; the measurements
that set that threshold are in :mod:`numrnn.kernels.plan`), and the streaming
step for every product.

:func:`product` also takes ``W_hhᵀ`` as a transposed *view* of PyTorch's
(G*H, H) layout, which short runs and single rows read instead of a row-major
copy (:func:`numrnn.kernels.plan.recurrent_weight_form`): each output is then a
dot product along a contiguous weight row (:func:`dot_rows`), or a GEMM told
to read ``W`` transposed.
"""

from typing import NamedTuple

import numpy as np
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload

from numrnn.kernels import packed
from numrnn.kernels.activations import typed
from numrnn.kernels.blas import gemm
from numrnn.kernels.jit import OVERLOAD_OPTIONS, jit, kernel, product_kernel
from numrnn.kernels.plan import GEMM, LOOPS, PACKED, ROW_MAJOR, takes_loops


class ThroughGemm(NamedTuple):
    """An unpacked weight whose every :func:`product` is a GEMM (:func:`product_weight`)."""

    weight: np.ndarray


class ThroughLoops(NamedTuple):
    """An unpacked weight whose every :func:`product` runs as loops (:func:`product_weight`)."""

    weight: np.ndarray


def product_weight(weight, form, paths=()):
    """``weight`` (K, N) for :func:`product`, held as the plan's ``form`` says:
    packed panels (``PACKED``), a row-major copy where it is not one already
    (``ROW_MAJOR``), or as given (``VIEW``).

    ``paths`` are the per-step product paths of the blocks that will use it (the
    plan's ``product`` and ``last_product``). Where they are all ``GEMM`` or all
    ``LOOPS``, the weight goes in as :class:`ThroughGemm` or :class:`ThroughLoops`,
    and :func:`product` compiles only that branch: a kernel typed for the plain
    array compiles both, and a first call compiles code it never runs (the loops
    beside the GEMM of 8-row blocks, about a second; docs/performance.md, "Cold
    start"). The branch taken and its arithmetic are the same either way.
    """
    if form == PACKED:
        return packed.pack(weight)
    if form == ROW_MAJOR:
        weight = np.ascontiguousarray(weight)
    if paths and all(path == GEMM for path in paths):
        return ThroughGemm(weight)
    if paths and all(path == LOOPS for path in paths):
        return ThroughLoops(weight)
    return weight


@product_kernel
def accumulate(gates, first, source, weights, offset, columns, stride):
    """``gates[:, first:first + columns] += source · W``, W (K, columns) at ``weights[offset:]``,
    its rows ``stride`` apart (``columns`` for a whole matrix, more for a column range of one).

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
        start = offset + k * stride
        w0 = weights[start:start + columns]
        w1 = weights[start + stride:start + stride + columns]
        w2 = weights[start + 2 * stride:start + 2 * stride + columns]
        w3 = weights[start + 3 * stride:start + 3 * stride + columns]
        for b in range(batch):
            row = gates[b, first:first + columns]
            x0, x1, x2, x3 = source[b, k], source[b, k + 1], source[b, k + 2], source[b, k + 3]
            for j in range(columns):
                row[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
        k += 4
    while k < size:
        start = offset + k * stride
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
    """``out[...] = rows @ weight``: loops up to ``plan.MAX_ROWS`` rows, a GEMM beyond.

    ``rows`` and ``out`` are C-contiguous; ``weight`` (K, N) is C-contiguous, the
    transposed view of a C-contiguous (N, K) matrix, or float32 panels packed by
    :func:`numrnn.kernels.packed.pack` (register tiles for any row count).
    The choice depends on the row count and layout only, so a batch block gets
    the same arithmetic whatever the thread count. Kernels compile it inline;
    called from Python, it runs the same compiled code.
    """
    _product_from_python(rows, weight, out)


def _marked(weight, marker):
    return isinstance(weight, types.BaseNamedTuple) and weight.instance_class is marker


# Each branch written out, not called through a shared helper: a helper would be
# one more compilation of every first call.
@overload(product, jit_options=OVERLOAD_OPTIONS)
def _product_impl(rows, weight, out):
    through_gemm, through_loops = _marked(weight, ThroughGemm), _marked(weight, ThroughLoops)
    matrix = weight.types[0] if through_gemm or through_loops else weight
    if not isinstance(matrix, types.Array) or (matrix.ndim != 3 and (
            matrix.ndim != 2 or matrix.layout not in "CF")):
        raise TypingError("product needs packed panels or a C- or F-contiguous matrix, "
                          f"got {weight}")
    if (through_gemm or through_loops) and matrix.ndim != 2:
        raise TypingError(f"product: a weight marked for GEMM or loops is a matrix, got {weight}")
    if through_gemm:
        def impl(rows, weight, out):
            gemm(rows, weight.weight, out)
    elif through_loops and matrix.layout == "F":
        def impl(rows, weight, out):
            dot_rows(rows, weight.weight.T, out)
    elif through_loops:
        def impl(rows, weight, out):
            matrix = weight.weight
            out[...] = 0
            accumulate(out, 0, rows, matrix.reshape(-1), 0, matrix.shape[1], matrix.shape[1])
    elif matrix.ndim == 3:
        def impl(rows, weight, out):
            packed.product(rows, weight, out)
    elif matrix.layout == "F":
        def impl(rows, weight, out):
            if not takes_loops(rows.shape[0]):
                gemm(rows, weight, out)
            else:
                dot_rows(rows, weight.T, out)
    else:
        def impl(rows, weight, out):
            if not takes_loops(rows.shape[0]):
                gemm(rows, weight, out)
            else:
                out[...] = 0
                accumulate(out, 0, rows, weight.reshape(-1), 0, weight.shape[1], weight.shape[1])
    return impl


@kernel
def _product_from_python(rows, weight, out):
    product(rows, weight, out)
