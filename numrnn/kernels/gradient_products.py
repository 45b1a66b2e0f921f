"""The products after a backward loop (``dx``, ``dW_ih``, ``dW_hh``) in one parallel region.

Once the recurrence has stored the pre-activation gradients ``dG`` (T·B, G·H),
the rest of an LSTM's backward pass has nothing sequential::

    dx = dG W_ih,   dW_ih = dGᵀ x,   dW_hh = dGᵀ h_prev

(the layer-normalised LSTM's ``dW_hh`` reads the recurrent side's own gradients,
``dRᵀ h_prev``: ``recurrent_grads``).

:func:`gradient_products` runs them as one table of tasks in one parallel call:
``dx`` in the row chunks :func:`numrnn.kernels.gemm.matmul` would cut
(:func:`~numrnn.kernels.plan.chunk_size`), each weight gradient in the row
ranges of :func:`~numrnn.kernels.plan.weight_gradient_ranges` (float32: grouped
where its chunks are large; float64 and small ones: ``matmul``'s chunks). Each
task is one single-threaded GEMM over ranges made from the shapes and dtype
alone, so every element has the same bits whatever the thread count.

Against one ``matmul`` per product (the plain LSTM's backward before), one
region saves a fork and join per product, and the larger ranges save each
128-row chunk's repacking of its T·B-deep right operand: the weight gradients
at B = 64, T = 100, I = H = 256 took 72 ms instead of 81 on one thread (CPU
time). Given ``bias``, the bias gradient ``Σ dG`` is one more task, summed row by
row in NumPy's order (the same bits as ``sum(axis=0)``), so it no longer runs on
one core after the region. A first version of that task (session 12) took 4.7
ms at B = 64, T = 100, H = 256 against NumPy's 1.0: its loop indexed columns
``first .. stop`` directly, and numba wrapped every possibly negative index, which
kept it from vectorising; through views of the columns, indexed from 0, it takes
0.14 ms against NumPy's 0.24 at the adding problem's (6400, 256) (one thread).

numba splits a ``prange`` evenly by count, one contiguous share a thread, so
the table is laid out for the thread count of the call
(:func:`~numrnn.kernels.plan.thread_shares`): the tasks, largest first, dealt
out as a snake into one share a thread, so that each thread gets about the
same work. In the order the products were listed, one of two threads would get
the input side's gradient and the other the wider recurrent one. Which thread
runs a task never changes its bits. (Session 12 also made the ranges
themselves per thread count; float64 bits then depended on it at some shapes,
so the ranges now follow the shapes only.) (Letting threads
take tasks one at a time, ``numba.parallel_chunksize(1)``, cost 16 µs a call
to set and put back, 1% of a training step at B = 8.) Each GEMM is called from
a ``kernel`` of its own (:func:`_task`): in the body of the
``parallel_driver``, lowered without optimisation, the call cost 5% of a
training step at B = 8 (docs/performance.md).
"""

import functools

import numba
import numpy as np
from numba import prange

from numrnn.kernels.blas import gemm
from numrnn.kernels.blas_threads import single_threaded_kernel_blas
from numrnn.kernels.gemm import readable_by_blas
from numrnn.kernels.jit import linked_kernel, parallel_driver
from numrnn.kernels.plan import chunk_size, thread_shares, weight_gradient_ranges

__all__ = ["gradient_products"]

# What a task computes: the first column of the task table (_NOTHING pads a share).
_INPUT, _INPUT_WEIGHT, _STATE_WEIGHT, _NOTHING, _BIAS = 0, 1, 2, 3, 4


@linked_kernel
def _task(what, first, stop, grads, weight_ih, grad_x, grads_t, inputs, recurrent_t, states,
          grad_w_ih, grad_w_hh, grad_bias):
    """Rows ``first:stop`` of the product ``what`` names: one single-threaded GEMM; or,
    for ``_BIAS``, columns ``first:stop`` of the bias gradient."""
    # grads[first:stop:1], not grads[first:stop]: numba types a stepped row range
    # as layout "A", as it types the rows of grads_t (a transposed view), so the
    # three products share one compilation of gemm, not one for each layout
    # (about 0.6 s of a first backward, docs/performance.md "Cold start").
    if what == _INPUT:
        gemm(grads[first:stop:1], weight_ih, grad_x[first:stop])
    elif what == _INPUT_WEIGHT:
        gemm(grads_t[first:stop], inputs, grad_w_ih[first:stop])
    elif what == _STATE_WEIGHT:
        gemm(recurrent_t[first:stop], states, grad_w_hh[first:stop])
    elif what == _BIAS:
        # NumPy's sum(axis=0) of a C-contiguous array, to the bit: from +0.0 (so a
        # column of -0.0 sums to +0.0, as NumPy's does), every row added in order,
        # each column on its own (vectorised across the columns). Views indexed
        # from 0: indexing the columns from `first` made numba wrap every index
        # that might be negative, and the loop did not vectorise (7x slower).
        sums = grad_bias[first:stop]
        for j in range(stop - first):
            sums[j] = 0
        for p in range(grads.shape[0]):
            row = grads[p, first:stop]
            for j in range(stop - first):
                sums[j] += row[j]


@parallel_driver
def _run_tasks(tasks, grads, weight_ih, grad_x, grads_t, inputs, recurrent_t, states, grad_w_ih,
               grad_w_hh, grad_bias):
    for task in prange(tasks.shape[0]):
        _task(tasks[task, 0], tasks[task, 1], tasks[task, 2], grads, weight_ih, grad_x, grads_t,
              inputs, recurrent_t, states, grad_w_ih, grad_w_hh, grad_bias)


@functools.lru_cache(maxsize=256)
def _task_table(positions, n_in, gate_rows, hidden, want_x, want_w_ih, want_w_hh, dtype,
                threads, want_bias=False):
    """The (n, 3) int64 table of ``(what, first, stop)`` tasks: ``threads`` shares of
    equal length and about equal work, one after the other."""
    tasks = []  # (cost in multiply-adds, what, first, stop)
    if want_x:
        size = chunk_size(positions)
        tasks += [((min(first + size, positions) - first) * gate_rows * n_in, _INPUT, first,
                   min(first + size, positions)) for first in range(0, positions, size)]
    for wanted, what, width in ((want_w_ih, _INPUT_WEIGHT, n_in),
                                (want_w_hh, _STATE_WEIGHT, hidden)):
        if wanted:
            # Each gradient's ranges by its own width: by the narrower of the two,
            # a narrow input (the adding problem's I = 2) kept dW_hh in 64-row
            # chunks, each repacking its whole T·B-deep right operand.
            tasks += [((stop - first) * positions * width, what, first, stop)
                      for first, stop in weight_gradient_ranges(gate_rows, positions, width,
                                                                dtype)]
    if want_bias and positions > 0:
        # One task: at the adding problem's shape it costs about a twentieth of
        # dW_hh's. Its cost in the same unit, one add per element.
        tasks.append((positions * gate_rows, _BIAS, 0, gate_rows))
    return thread_shares(tasks, threads, (_NOTHING, 0, 0))


def gradient_products(grads, weight_ih, inputs, states, wants, recurrent_grads=None, bias=None):
    """``(dx, dW_ih, dW_hh)`` of stored pre-activation gradients, None for each not wanted.

    Parameters
    ----------
    grads : (P, G·H) C-contiguous
        The pre-activation gradients of all P = T·B positions.
    recurrent_grads : (P, G·H) C-contiguous, optional
        The gradients of the recurrent products ``h_prev W_hhᵀ`` where they differ
        from ``grads`` (the layer-normalised LSTM normalises the input and the
        recurrent products apart, so each has its own): ``dW_hh`` is then
        ``recurrent_gradsᵀ states``. By default ``grads``.
    weight_ih : (G·H, I)
    inputs : (P, I) and states : (P, H), C-contiguous
        The layer's input and the (masked) state each position's step started from.
    wants : (bool, bool, bool)
        Whether ``dx`` (P, I), ``dW_ih`` (G·H, I) and ``dW_hh`` (G·H, H) are wanted.
    bias : (G·H,) array of ``grads``' dtype, optional
        Filled with ``grads.sum(axis=0)``, the same bits as NumPy's, as one more task
        of the same parallel call: NumPy's sum ran on one core after it, the other
        one idle (0.25 ms of the adding problem's step, about 4% of it on two cores).
    """
    positions, gate_rows = grads.shape
    n_in, hidden = inputs.shape[1], states.shape[1]
    want_x, want_w_ih, want_w_hh = wants
    # What is not wanted gets no rows; the task table has nothing for it.
    grad_x = np.empty((positions if want_x else 0, n_in), dtype=grads.dtype)
    grad_w_ih = np.empty((gate_rows if want_w_ih else 0, n_in), dtype=grads.dtype)
    grad_w_hh = np.empty((gate_rows if want_w_hh else 0, hidden), dtype=grads.dtype)
    want_bias = bias is not None
    grad_bias = bias if want_bias else np.empty(0, dtype=grads.dtype)
    if want_bias and positions == 0:
        grad_bias.fill(0)
    tasks = _task_table(positions, n_in, gate_rows, hidden, want_x, want_w_ih, want_w_hh,
                        grads.dtype, numba.get_num_threads(), want_bias)
    if tasks.shape[0] > 0:
        with single_threaded_kernel_blas():
            _run_tasks(tasks, grads, readable_by_blas(weight_ih), grad_x, grads.T, inputs,
                       (grads if recurrent_grads is None else recurrent_grads).T, states,
                       grad_w_ih, grad_w_hh, grad_bias)
    return (grad_x if want_x else None, grad_w_ih if want_w_ih else None,
            grad_w_hh if want_w_hh else None)
