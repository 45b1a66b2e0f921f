"""Row gather and its adjoint, row scatter-add: the kernels behind ``embedding``.

Numba does no bounds checking: every index must already be known to lie in
``0 .. num_rows - 1`` (the op in :mod:`numrnn.autograd.ops.embedding` checks it)
or these kernels read and write out of bounds.
"""

import numpy as np

from numrnn.kernels.jit import kernel


@kernel
def gather_rows(weight, indices):
    """Copy the rows of ``weight`` named by ``indices``.

    ``out[n, :] = weight[indices[n], :]``

    Parameters
    ----------
    weight : ndarray, shape (V, D), float32 or float64
        The table of V rows of D features.
    indices : ndarray, shape (N,), int64
        Row numbers, each in ``0 .. V - 1``.

    Returns
    -------
    out : ndarray, shape (N, D), same dtype as ``weight``
    """
    n_rows = indices.shape[0]
    n_features = weight.shape[1]
    out = np.empty((n_rows, n_features), dtype=weight.dtype)
    for n in range(n_rows):
        row = indices[n]
        for d in range(n_features):
            out[n, d] = weight[row, d]
    return out


@kernel
def scatter_add_rows(grad_out, indices, num_rows):
    """Sum rows of ``grad_out`` into the rows of a fresh table that ``indices`` name.

    ``grad_weight[v, :] = sum over n with indices[n] == v of grad_out[n, :]``:
    the adjoint of :func:`gather_rows`, so a row gathered twice gets both
    contributions. Rows are added in index order, so the result does not
    depend on anything but the inputs.

    Parameters
    ----------
    grad_out : ndarray, shape (N, D), float32 or float64
        Gradient with respect to the gathered rows.
    indices : ndarray, shape (N,), int64
        Row numbers, each in ``0 .. num_rows - 1``.
    num_rows : int
        V, the number of rows of the table.

    Returns
    -------
    grad_weight : ndarray, shape (V, D), same dtype as ``grad_out``
    """
    n_features = grad_out.shape[1]
    grad_weight = np.zeros((num_rows, n_features), dtype=grad_out.dtype)
    for n in range(indices.shape[0]):
        row = indices[n]
        for d in range(n_features):
            grad_weight[row, d] += grad_out[n, d]
    return grad_weight
