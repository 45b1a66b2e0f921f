"""The fused LSTM as tape ops: ``lstm`` over a sequence, ``lstm_cell`` for one step.

Equations (gate order i, f, g, o, as PyTorch)::

    gates = x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh
    i, f, o = sigmoid(...), g = tanh(...)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

With ``weight_peephole`` (3H,) ``= [p_i, p_f, p_o]``, the peephole LSTM with
ONNX's semantics: ``i`` and ``f`` add ``p_i * c_{t-1}`` and ``p_f * c_{t-1}``
to their pre-activations, ``o`` adds ``p_o * c_t``.

Arguments are validated here, before any kernel runs; the op is
:class:`~numrnn.functional.recurrent.RecurrentSequence` (or ``RecurrentStep``)
on this kind's kernels (:mod:`numrnn.kernels.lstm`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn.functional.cell_kinds import LSTM
from numrnn.functional.recurrent import checked_sequence, checked_step

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import TensorLike, TensorOrArray

__all__ = ["lstm", "lstm_cell"]


def lstm(x: TensorLike, h0: TensorLike | None, c0: TensorLike | None, weight_ih: TensorLike,
         weight_hh: TensorLike, bias_ih: TensorLike | None = None,
         bias_hh: TensorLike | None = None, lengths: npt.ArrayLike | None = None,
         reverse: bool = False, weight_peephole: TensorLike | None = None, *,
         input_mask: TensorOrArray | None = None,
         recurrent_mask: TensorOrArray | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run a single-layer, single-direction LSTM over a time-major sequence.

    Parameters
    ----------
    x : Tensor or ndarray, shape (T, B, I), float32 or float64
    h0, c0 : Tensor, ndarray (B, H) or None
        Initial hidden and cell states; None means zeros.
    weight_ih : (4H, I); weight_hh : (4H, H)
        Gate blocks stacked in PyTorch's order i, f, g, o.
    bias_ih, bias_hh : (4H,) or None
        None means no bias.
    lengths : (B,) integers in 1..T, or None
        Valid steps of each row (any order), instead of packing: row ``b`` runs
        over positions ``0 .. lengths[b] - 1``; later positions output zeros and
        leave its state alone.
    reverse : bool
        Run each row backwards over its valid part (positions ``lengths[b] - 1``
        down to 0): the reverse direction of a bidirectional LSTM.
    weight_peephole : (3H,) or None
        Peephole weights ``p_i, p_f, p_o`` (see the module docstring); None for
        the plain LSTM.
    input_mask : ndarray (B, I) or None, keyword-only
        Variational input dropout with a fixed mask: every step reads ``x_t *
        input_mask`` (the mask is a constant: no gradient reaches it).
    recurrent_mask : ndarray (B, H) or None, keyword-only
        Variational recurrent dropout with a fixed mask: every step multiplies
        ``h_{t-1}`` by it before ``W_hh``, inside the kernel (with or without
        ``weight_peephole``; c is not masked).

    Returns
    -------
    output : Tensor (T, B, H)
        h at every valid position, zeros past each row's length.
    h_n, c_n : Tensor (B, H)
        Each row's states after its own last valid step.

    Gradients flow to ``x``, ``h0``, ``c0`` and every weight and bias.

    Example
    -------
    >>> out, h_n, c_n = lstm(x, None, None, w_ih, w_hh, b_ih, b_hh, lengths=[5, 3])
    """
    weights, options = _weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_peephole)
    return checked_sequence("lstm", LSTM, x, (("h0", h0), ("c0", c0)), weights, lengths,
                            reverse, options, input_mask, recurrent_mask)


def lstm_cell(x: TensorLike, h: TensorLike | None, c: TensorLike | None, weight_ih: TensorLike,
              weight_hh: TensorLike, bias_ih: TensorLike | None = None,
              bias_hh: TensorLike | None = None,
              weight_peephole: TensorLike | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step, for decoders that feed their outputs back in.

    ``x`` is (B, I); ``h``, ``c`` are (B, H) or None (zeros); weights, biases and
    ``weight_peephole`` as in :func:`lstm`. Returns ``(h_new, c_new)``, Tensors of
    shape (B, H).
    """
    weights, options = _weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_peephole)
    return checked_step("lstm_cell", LSTM, x, (("h", h), ("c", c)), weights, options)


def _weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_peephole):
    """The op's weights in kernel order and the options they imply."""
    weights = (weight_ih, weight_hh, bias_ih, bias_hh)
    if weight_peephole is None:
        return weights, {"peepholes": False}
    return weights + (weight_peephole,), {"peepholes": True}
