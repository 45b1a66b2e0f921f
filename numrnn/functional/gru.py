"""The fused GRU as tape ops: ``gru`` over a sequence, ``gru_cell`` for one step.

Equations (gate order r, z, n, as PyTorch)::

    r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}

With ``reset_after=False`` the reset gate is applied before the recurrent
product instead (Cho et al. 2014; Keras ``reset_after=False``, ONNX
``linear_before_reset=0``), with the same weights::

    n = tanh(W_in x_t + b_in + W_hn (r * h_{t-1}) + b_hn)

Arguments are validated here, before any kernel runs; the op is
:class:`~numrnn.functional.recurrent.RecurrentSequence` (or ``RecurrentStep``)
on this kind's kernels (:mod:`numrnn.kernels.gru`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn.functional.cell_kinds import GRU
from numrnn.functional.checks import check_flag
from numrnn.functional.recurrent import checked_sequence, checked_step

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import TensorLike, TensorOrArray

__all__ = ["gru", "gru_cell"]


def gru(x: TensorLike, h0: TensorLike | None, weight_ih: TensorLike, weight_hh: TensorLike,
        bias_ih: TensorLike | None = None, bias_hh: TensorLike | None = None,
        lengths: npt.ArrayLike | None = None, reverse: bool = False,
        reset_after: bool = True, *, input_mask: TensorOrArray | None = None,
        recurrent_mask: TensorOrArray | None = None) -> tuple[Tensor, Tensor]:
    """Run a single-layer, single-direction GRU over a time-major sequence.

    Parameters
    ----------
    x : Tensor or ndarray, shape (T, B, I), float32 or float64
    h0 : Tensor, ndarray (B, H) or None
        Initial hidden state; None means zeros.
    weight_ih : (3H, I); weight_hh : (3H, H)
        Gate blocks stacked in PyTorch's order r, z, n.
    bias_ih, bias_hh : (3H,) or None
        None means no bias.
    lengths : (B,) integers in 1..T, or None
        Valid steps of each row (any order), instead of packing: row ``b`` runs
        over positions ``0 .. lengths[b] - 1``; later positions output zeros and
        leave its state alone.
    reverse : bool
        Run each row backwards over its valid part (positions ``lengths[b] - 1``
        down to 0): the reverse direction of a bidirectional GRU.
    reset_after : bool, default True
        PyTorch's variant, ``r * (W_hn h + b_hn)``; False applies r before the
        product, ``W_hn (r * h) + b_hn``.
    input_mask : ndarray (B, I) or None, keyword-only
        Variational input dropout with a fixed mask: every step reads ``x_t *
        input_mask`` (the mask is a constant: no gradient reaches it).
    recurrent_mask : ndarray (B, H) or None, keyword-only
        Variational recurrent dropout with a fixed mask: every step multiplies
        ``h_{t-1}`` by it where it enters a product with ``W_hh``, inside the
        kernel (with ``reset_after=False``, ``W_hn (r * (m * h_{t-1}))``); ``z *
        h_{t-1}`` keeps h unmasked.

    Returns
    -------
    output : Tensor (T, B, H)
        h at every valid position, zeros past each row's length.
    h_n : Tensor (B, H)
        Each row's state after its own last valid step.

    Gradients flow to ``x``, ``h0`` and every weight and bias.

    Example
    -------
    >>> out, h_n = gru(x, None, w_ih, w_hh, b_ih, b_hh, lengths=[5, 3])
    """
    options = {"reset_after": check_flag("gru", "reset_after", reset_after)}
    return checked_sequence("gru", GRU, x, (("h0", h0),),
                            (weight_ih, weight_hh, bias_ih, bias_hh), lengths, reverse, options,
                            input_mask, recurrent_mask)


def gru_cell(x: TensorLike, h: TensorLike | None, weight_ih: TensorLike, weight_hh: TensorLike,
             bias_ih: TensorLike | None = None, bias_hh: TensorLike | None = None,
             reset_after: bool = True) -> Tensor:
    """One GRU step, for decoders that feed their outputs back in.

    ``x`` is (B, I); ``h`` is (B, H) or None (zeros); weights, biases and
    ``reset_after`` as in :func:`gru`. Returns ``h_new``, a Tensor of shape (B, H).
    """
    options = {"reset_after": check_flag("gru_cell", "reset_after", reset_after)}
    return checked_step("gru_cell", GRU, x, (("h", h),),
                        (weight_ih, weight_hh, bias_ih, bias_hh), options)
