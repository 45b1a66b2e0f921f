"""The one contract every recurrent cell kernel keeps, and the driver that keeps it.

Each cell kind's kernels (:mod:`numrnn.kernels.lstm`, :mod:`~numrnn.kernels.gru`,
:mod:`~numrnn.kernels.elman`, and their ``*_backward`` modules) offer the same
three entry points, with the same arguments in the same order::

    forward_train(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None)
        -> (output, finals, saved)
    forward_infer(x, states, weights, lengths=None, reverse=False, options=None,
                  recurrent_mask=None)
        -> (output, finals)
    backward(grad_output, grad_finals, x, states, weights, saved, lengths=None,
             reverse=False, options=None, needs=None, recurrent_mask=None)
        -> (grad_x, *grad_states, *grad_weights)

- ``x`` (T, B, I); ``states`` the initial states as a tuple of (B, H) arrays in
  the kind's order (``(h0,)``, or ``(h0, c0)`` for an LSTM); ``weights`` the
  tuple ``(weight_ih, weight_hh, bias_ih, bias_hh)``, a missing bias None;
- ``lengths`` (B,) int64 in 1..T or None for all T; ``reverse`` runs each row
  backwards over its valid part; ``options`` the kind's options as a dict
  (the Elman RNN's ``{"nonlinearity": "relu"}``), None for the defaults;
- ``output`` (T, B, H) with zeros past each row's length; ``finals`` the tuple
  of each state after each row's last valid step; ``saved`` the residuals
  ``backward`` needs, opaque to callers;
- ``needs`` one bool per gradient returned (``x``, each state, each weight),
  None for all; a gradient not needed comes back as None;
- ``recurrent_mask`` (B, size of h) or None: variational recurrent dropout (Gal &
  Ghahramani 2016), the scaled 0/1 mask each row's ``h_{t-1}`` is multiplied by
  before the recurrent product, the same at every step (an LSTM with
  ``proj_size`` P masks its projected h, so P features); ``backward`` takes the
  one ``forward_train`` ran with. Every cell's kernels take one.

The cell's file holds what is particular to it: its arrays of residuals, its
row step and its backward row. What every cell needs done the same way is done
here, once: C-contiguous arrays (the kernels index raw memory, and Numba checks
no bounds), the default lengths (shared between calls: kernels never write
``lengths``), and the default options and needs. Shapes,
dtypes and lengths are validated above the kernels (:mod:`numrnn.functional`,
:mod:`numrnn.nn`), before any of this runs.
"""

import numpy as np

from numrnn.errors import ShapeError

__all__ = ["backward", "forward", "masked"]

# What the kernels take for "no recurrent mask": empty, so the plain path only
# tests a flag per step and runs exactly the products it ran before.
_NO_MASK = {np.dtype(dtype): np.zeros((0, 0), dtype) for dtype in (np.float32, np.float64)}


def _ready(arrays):
    """The arrays as C-contiguous ndarrays (None stays None): a contiguous one is
    returned as it is, anything else copied."""
    return tuple([None if array is None else np.ascontiguousarray(array) for array in arrays])


# Default lengths ("all T steps") of small batches, kept per (T, B) and shared by
# every call and thread: no kernel writes its lengths (they are read-only input to
# every cell's loops), and making them, np.empty + fill, cost ~0.4 µs of each small
# call. Bounded: batches above CACHED_LENGTH_ROWS rows get fresh ones, and past
# CACHED_LENGTH_SHAPES shapes the cache starts again.
CACHED_LENGTH_ROWS = 16
CACHED_LENGTH_SHAPES = 256
_DEFAULT_LENGTHS: dict[tuple[int, int], np.ndarray] = {}


def _lengths(lengths, steps, batch):
    if lengths is not None:
        return lengths
    key = (steps, batch)
    lengths = _DEFAULT_LENGTHS.get(key)
    if lengths is None:
        # empty + fill: half the time of np.full.
        lengths = np.empty(batch, dtype=np.int64)
        lengths.fill(steps)
        if batch <= CACHED_LENGTH_ROWS:
            if len(_DEFAULT_LENGTHS) >= CACHED_LENGTH_SHAPES:
                _DEFAULT_LENGTHS.clear()
            _DEFAULT_LENGTHS[key] = lengths
    return lengths


def _mask(recurrent_mask, x, weights):
    if recurrent_mask is None:
        return _NO_MASK[x.dtype]
    # The kernels index it by batch row and by feature of h without bounds
    # checks: one row per sequence, one column per input of W_hh (P with proj_size).
    expected = (x.shape[1], weights[1].shape[1])
    if np.shape(recurrent_mask) != expected:
        raise ShapeError(f"recurrent_mask must have shape {expected} (batch, size of h), "
                         f"got {np.shape(recurrent_mask)}")
    return np.ascontiguousarray(recurrent_mask, dtype=x.dtype)


def masked(recurrent_mask):
    """Whether the kernels' ``recurrent_mask`` argument holds a mask (not the empty one)."""
    return recurrent_mask.shape[0] > 0


def forward(run, x, states, weights, lengths, reverse, options, keep, recurrent_mask=None):
    """Call a cell's ``run(x, states, weights, lengths, reverse, options, keep,
    recurrent_mask)`` on ready arrays (the mask (B, H), or an empty one for none); it
    returns ``(output, finals, saved)``, ``saved`` empty unless ``keep``."""
    x = np.ascontiguousarray(x)
    lengths = _lengths(lengths, x.shape[0], x.shape[1])
    return run(x, _ready(states), _ready(weights), lengths, bool(reverse), options or {}, keep,
               _mask(recurrent_mask, x, weights))


def backward(run_backward, grad_output, grad_finals, x, states, weights, saved, lengths,
             reverse, options, needs, recurrent_mask=None):
    """Call a cell's ``run_backward`` with the same arguments, made ready as in
    :func:`forward`; returns its ``(grad_x, *grad_states, *grad_weights)``."""
    x = np.ascontiguousarray(x)
    lengths = _lengths(lengths, x.shape[0], x.shape[1])
    if needs is None:
        needs = (True,) * (1 + len(states) + len(weights))
    return run_backward(np.ascontiguousarray(grad_output), _ready(grad_finals), x,
                        _ready(states), _ready(weights), saved, lengths, bool(reverse),
                        options or {}, tuple(needs), _mask(recurrent_mask, x, weights))
