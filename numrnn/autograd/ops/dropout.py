"""Inverted dropout with an explicit random generator.

The random source is an argument rather than hidden global state, so a run is
reproducible from its seed and threads never share a generator by accident.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.function import Function
from numrnn.autograd.ops.operands import coerce
from numrnn.autograd.tensor import Tensor
from numrnn.defaults import default_generator
from numrnn.errors import ArgumentError, ArgumentTypeError

if TYPE_CHECKING:
    from numrnn.typing import Seed, TensorLike


def scaled_dropout_mask(shape, dtype, p, rng):
    """A mask of ``shape`` keeping each element with probability ``1 - p``, scaled by
    ``1 / (1 - p)``, drawn from ``rng``: one array in ``dtype``, so float32 stays
    float32 and the backward is a single multiply. The recurrent stack draws its
    masks between layers here too, so a seed gives the same masks either way."""
    keep = np.asarray(rng.random(shape) >= p)
    return keep.astype(dtype) * np.dtype(dtype).type(1.0 / (1.0 - p))


class Dropout(Function):
    """``x * mask / (1 - p)`` with a fixed 0/1 ``mask``; the backward reuses the same mask."""

    @staticmethod
    def forward(ctx, x, *, p, rng):
        scaled_mask = scaled_dropout_mask(x.shape, x.dtype, p, rng)
        ctx.save(scaled_mask)
        return np.asarray(x * scaled_mask)

    @staticmethod
    def backward(ctx, grad):
        (scaled_mask,) = ctx.saved
        return np.asarray(grad * scaled_mask)


def _generator(rng: Seed) -> np.random.Generator:
    if rng is None:
        return default_generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ArgumentTypeError(
        f"dropout: rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}"
    )


def dropout(x: TensorLike, p: float = 0.5, training: bool = True, rng: Seed = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The scaling keeps the expected value of every element unchanged, so nothing
    needs rescaling at evaluation time.

    Parameters
    ----------
    x : Tensor or float ndarray
    p : float in [0, 1)
        Probability of dropping an element.
    training : bool
        When False (or when ``p == 0``) ``x`` itself is returned and nothing is
        recorded.
    rng : numpy.random.Generator, int or None
        Where the mask comes from: a Generator (advanced by the call), a seed,
        or None for numrnn's default generator (see :func:`numrnn.manual_seed`).

    Returns
    -------
    Tensor of the shape and dtype of ``x``.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise ArgumentTypeError(f"dropout: p must be a real number, got {type(p).__name__}")
    if not 0.0 <= p < 1.0:
        raise ArgumentError(f"dropout: p must be in [0, 1), got {p}")
    (x,) = coerce("dropout", x)
    if not training or p == 0:
        return x if isinstance(x, Tensor) else Tensor(x)
    return Dropout.apply(x, p=float(p), rng=_generator(rng))
