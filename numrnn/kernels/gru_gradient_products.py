"""The GRU's products after its backward loop (``dx``, ``dW_ih``, ``dW_hh``) in one parallel region.

Once the recurrence has stored the gradients of the input pre-activations
``dG`` (T·B, 3H) and of the n part of the recurrent ones ``dN`` (T·B, H) (for
the reset-before variant, ``dG``'s own n columns), the rest of a GRU's backward
pass has nothing sequential::

    dx = dG W_ih,   dW_ih = dGᵀ x,
    dW_hh = [dG[:, :2H]ᵀ h_prev ; dNᵀ u]      (u: what W_hn multiplied)

:func:`gru_gradient_products` runs them as one table of tasks in one parallel
call, as :mod:`numrnn.kernels.gradient_products` does the LSTM's: ``dx`` in
the row chunks :func:`numrnn.kernels.gemm.matmul` would cut, each weight
gradient (and each of ``dW_hh``'s two row blocks) in the row ranges of
:func:`numrnn.kernels.plan.weight_gradient_ranges` (float32: grouped where the
chunks are large; float64: ``matmul``'s chunks). Each task is one
single-threaded GEMM written straight into its rows of the result (``dW_hh``
needs no concatenation), so every element has the same bits whatever the
thread count, and (at every shape checked) the bits one ``matmul`` per product
gave it.
The table is dealt out per thread count by :func:`numrnn.kernels.plan.thread_shares`.
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

__all__ = ["gru_gradient_products"]

# What a task computes: the first column of the task table (_NOTHING pads a share).
_INPUT, _INPUT_WEIGHT, _RZ_WEIGHT, _N_WEIGHT, _NOTHING = 0, 1, 2, 3, 4


@linked_kernel
def _task(what, first, stop, grads, weight_ih, grad_x, grads_t, inputs, states, n_grads_t,
          n_shift, n_inputs, grad_w_ih, grad_w_hh):
    """Rows ``first:stop`` of the product ``what`` names: one single-threaded GEMM.

    For ``_RZ_WEIGHT`` and ``_N_WEIGHT`` the rows are ``dW_hh``'s; the n block
    reads rows ``first - n_shift:stop - n_shift`` of ``n_grads_t``.
    """
    # grads[first:stop:1], not grads[first:stop]: numba types a stepped row range
    # as layout "A", as it types the rows of a transposed view, so all products
    # share one compilation of gemm (gradient_products.py says why).
    if what == _INPUT:
        gemm(grads[first:stop:1], weight_ih, grad_x[first:stop])
    elif what == _INPUT_WEIGHT:
        gemm(grads_t[first:stop], inputs, grad_w_ih[first:stop])
    elif what == _RZ_WEIGHT:
        gemm(grads_t[first:stop], states, grad_w_hh[first:stop])
    elif what == _N_WEIGHT:
        gemm(n_grads_t[first - n_shift:stop - n_shift], n_inputs, grad_w_hh[first:stop])


@parallel_driver
def _run_tasks(tasks, grads, weight_ih, grad_x, grads_t, inputs, states, n_grads_t, n_shift,
               n_inputs, grad_w_ih, grad_w_hh):
    for task in prange(tasks.shape[0]):
        _task(tasks[task, 0], tasks[task, 1], tasks[task, 2], grads, weight_ih, grad_x, grads_t,
              inputs, states, n_grads_t, n_shift, n_inputs, grad_w_ih, grad_w_hh)


@functools.lru_cache(maxsize=256)
def _task_table(positions, n_in, hidden, want_x, want_w_ih, want_w_hh, dtype, threads):
    """The (n, 3) int64 table of ``(what, first, stop)`` tasks: ``threads`` shares of
    equal length and about equal work, one after the other."""
    gate_rows, width = 3 * hidden, min(n_in, hidden)
    tasks = []  # (cost in multiply-adds, what, first, stop)
    if want_x:
        size = chunk_size(positions)
        tasks += [((min(first + size, positions) - first) * gate_rows * n_in, _INPUT, first,
                   min(first + size, positions)) for first in range(0, positions, size)]
    if want_w_ih:
        tasks += [((stop - first) * positions * n_in, _INPUT_WEIGHT, first, stop)
                  for first, stop in weight_gradient_ranges(gate_rows, positions, width, dtype)]
    if want_w_hh:
        # Two products, as gemm.matmul ran them: rows 0:2H and 2H:3H, each in its
        # own ranges (the n block's shifted to dW_hh's rows).
        tasks += [((stop - first) * positions * hidden, _RZ_WEIGHT, first, stop)
                  for first, stop in weight_gradient_ranges(2 * hidden, positions, width,
                                                            dtype)]
        tasks += [((stop - first) * positions * hidden, _N_WEIGHT, 2 * hidden + first,
                   2 * hidden + stop)
                  for first, stop in weight_gradient_ranges(hidden, positions, width, dtype)]
    return thread_shares(tasks, threads, (_NOTHING, 0, 0))


def gru_gradient_products(grads, grad_hidden_n, weight_ih, inputs, states, n_inputs, wants):
    """``(dx, dW_ih, dW_hh)`` of a GRU's stored gradients, None for each not wanted.

    Parameters
    ----------
    grads : (P, 3H) C-contiguous
        The gradients of the input pre-activations ``x W_ihᵀ + b_ih`` at all P = T·B
        positions (their r and z columns are also the recurrent ones').
    grad_hidden_n : (P, H) C-contiguous, or None
        The gradients of the n part of the recurrent pre-activations; None where they
        are ``grads``' n columns (the reset-before variant).
    weight_ih : (3H, I)
    inputs : (P, I), states : (P, H), n_inputs : (P, H)
        The layer's input, the (masked) state each step started from, and what
        ``W_hn`` multiplied.
    wants : (bool, bool, bool)
        Whether ``dx`` (P, I), ``dW_ih`` (3H, I) and ``dW_hh`` (3H, H) are wanted.
    """
    positions, gate_rows = grads.shape
    hidden = gate_rows // 3
    n_in = inputs.shape[1]
    want_x, want_w_ih, want_w_hh = wants
    # What is not wanted gets no rows; the task table has nothing for it.
    grad_x = np.empty((positions if want_x else 0, n_in), dtype=grads.dtype)
    grad_w_ih = np.empty((gate_rows if want_w_ih else 0, n_in), dtype=grads.dtype)
    grad_w_hh = np.empty((gate_rows if want_w_hh else 0, hidden), dtype=grads.dtype)
    # The n block's rows of dW_hh are rows 2H:3H of grads.T, or rows 0:H of
    # grad_hidden_n.T; both are F-ordered, so the driver compiles once for both.
    if grad_hidden_n is None:
        n_grads_t, n_shift = grads.T, 0
    else:
        n_grads_t, n_shift = grad_hidden_n.T, 2 * hidden
    tasks = _task_table(positions, n_in, hidden, want_x, want_w_ih, want_w_hh, grads.dtype,
                        numba.get_num_threads())
    if tasks.shape[0] > 0:
        with single_threaded_kernel_blas():
            _run_tasks(tasks, grads, readable_by_blas(weight_ih), grad_x, grads.T,
                       np.ascontiguousarray(inputs), np.ascontiguousarray(states), n_grads_t,
                       n_shift, np.ascontiguousarray(n_inputs), grad_w_ih, grad_w_hh)
    return (grad_x if want_x else None, grad_w_ih if want_w_ih else None,
            grad_w_hh if want_w_hh else None)
