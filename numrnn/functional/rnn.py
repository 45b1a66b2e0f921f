"""The fused Elman RNN as tape ops: ``rnn`` over a sequence, ``rnn_cell`` for one step.

Equation::

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

Arguments are validated here, before any kernel runs; the op is
:class:`~numrnn.functional.recurrent.RecurrentSequence` (or ``RecurrentStep``)
on this kind's kernels (:mod:`numrnn.kernels.elman`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn.functional.cell_kinds import RNN
from numrnn.functional.checks import check_choice
from numrnn.functional.recurrent import checked_sequence, checked_step
from numrnn.kernels.elman import NONLINEARITIES

if TYPE_CHECKING:
    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.typing import TensorLike, TensorOrArray

__all__ = ["rnn", "rnn_cell"]


def rnn(x: TensorLike, h0: TensorLike | None, weight_ih: TensorLike, weight_hh: TensorLike,
        bias_ih: TensorLike | None = None, bias_hh: TensorLike | None = None,
        lengths: npt.ArrayLike | None = None, reverse: bool = False,
        nonlinearity: str = "tanh", *, input_mask: TensorOrArray | None = None,
        recurrent_mask: TensorOrArray | None = None) -> tuple[Tensor, Tensor]:
    """Run a single-layer, single-direction Elman RNN over a time-major sequence.

    Parameters
    ----------
    x : Tensor or ndarray, shape (T, B, I), float32 or float64
    h0 : Tensor, ndarray (B, H) or None
        Initial hidden state; None means zeros.
    weight_ih : (H, I); weight_hh : (H, H)
    bias_ih, bias_hh : (H,) or None
        None means no bias.
    lengths : (B,) integers in 1..T, or None
        Valid steps of each row (any order), instead of packing: row ``b`` runs
        over positions ``0 .. lengths[b] - 1``; later positions output zeros and
        leave its state alone.
    reverse : bool
        Run each row backwards over its valid part (positions ``lengths[b] - 1``
        down to 0): the reverse direction of a bidirectional RNN.
    nonlinearity : 'tanh' or 'relu'
        The activation; ReLU's derivative at 0 is taken as 0, as in PyTorch.
    input_mask : ndarray (B, I) or None, keyword-only
        Variational input dropout with a fixed mask: every step reads ``x_t *
        input_mask`` (the mask is a constant: no gradient reaches it).
    recurrent_mask : ndarray (B, H) or None, keyword-only
        Variational recurrent dropout with a fixed mask: every step multiplies
        ``h_{t-1}`` by it before ``W_hh``, inside the kernel.

    Returns
    -------
    output : Tensor (T, B, H)
        h at every valid position, zeros past each row's length.
    h_n : Tensor (B, H)
        Each row's state after its own last valid step.

    Gradients flow to ``x``, ``h0`` and every weight and bias.

    Example
    -------
    >>> out, h_n = rnn(x, None, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")
    """
    check_choice("rnn", "nonlinearity", nonlinearity, NONLINEARITIES)
    return checked_sequence("rnn", RNN, x, (("h0", h0),),
                            (weight_ih, weight_hh, bias_ih, bias_hh), lengths, reverse,
                            {"nonlinearity": nonlinearity}, input_mask, recurrent_mask)


def rnn_cell(x: TensorLike, h: TensorLike | None, weight_ih: TensorLike, weight_hh: TensorLike,
             bias_ih: TensorLike | None = None, bias_hh: TensorLike | None = None,
             nonlinearity: str = "tanh") -> Tensor:
    """One Elman RNN step, for decoders that feed their outputs back in.

    ``x`` is (B, I); ``h`` is (B, H) or None (zeros); weights, biases and
    ``nonlinearity`` as in :func:`rnn`. Returns ``h_new``, a Tensor of shape (B, H).
    """
    check_choice("rnn_cell", "nonlinearity", nonlinearity, NONLINEARITIES)
    return checked_step("rnn_cell", RNN, x, (("h", h),),
                        (weight_ih, weight_hh, bias_ih, bias_hh), {"nonlinearity": nonlinearity})
