"""Weight initializers; each fills a Parameter in place and returns it.

Randomness always comes from an explicit ``rng`` (a ``numpy.random.Generator``,
an int seed, or None for a generator seeded from numrnn's default one, see
:func:`numrnn.manual_seed`), so an initialization is reproducible from its seed.
Values are drawn in float64 and then cast to the parameter's
dtype, so a float32 and a float64 layer built from one seed hold the same
numbers up to rounding.

Recurrent weights stack their gates along the rows: ``weight_hh`` of an LSTM is
``(4*H, H)`` with blocks ``i, f, g, o``. The ``gate_blocks`` argument of
:func:`orthogonal_` and :func:`identity_` treats each block as its own matrix.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.defaults import child_generator
from numrnn.errors import ArgumentTypeError, ShapeError

if TYPE_CHECKING:
    from numrnn.typing import Seed


def as_generator(rng: Seed) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator, an int seed or None.

    None gives a new generator seeded by a draw from numrnn's default
    generator: fresh entropy, or reproducible after :func:`numrnn.manual_seed`.
    """
    if rng is None:
        return child_generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ArgumentTypeError(f"rng must be a numpy Generator, an int seed or None, "
                            f"got {type(rng).__name__}")


def _fill(param, values):
    param.data[...] = values
    return param


def uniform_(param, low, high, rng=None):
    """Fill with independent draws from U(low, high)."""
    return _fill(param, as_generator(rng).uniform(low, high, size=param.shape))


def zeros_(param):
    return _fill(param, 0.0)


def _gate_blocks(name, param, gate_blocks, square):
    rows, cols = _matrix_shape(name, param)
    if gate_blocks < 1 or rows % gate_blocks:
        raise ShapeError(f"{name}: {rows} rows cannot be split into {gate_blocks} gate blocks")
    block_rows = rows // gate_blocks
    if square and block_rows != cols:
        raise ShapeError(f"{name}: each of the {gate_blocks} gate block(s) must be square, "
                         f"got blocks of ({block_rows}, {cols}) from shape {param.shape}")
    return [slice(k * block_rows, (k + 1) * block_rows) for k in range(gate_blocks)]


def _matrix_shape(name, param):
    if not isinstance(param, Tensor) or param.ndim != 2:
        shape = getattr(param, "shape", None)
        raise ShapeError(f"{name}: expected a 2-D Parameter, got shape {shape}")
    return param.shape


def orthogonal_(param, gain=1.0, gate_blocks=1, rng=None):
    """Fill each gate block with a (semi-)orthogonal matrix times ``gain``.

    A square block ``W`` satisfies ``W @ W.T == gain**2 * I``; a non-square one
    has orthonormal rows or columns, whichever are fewer (Saxe et al., 2014).
    Use ``gate_blocks=4`` for an LSTM's ``weight_hh``, 3 for a GRU's.
    """
    generator = as_generator(rng)
    for rows in _gate_blocks("orthogonal_", param, gate_blocks, square=False):
        block_shape = param.data[rows].shape
        gaussian = generator.standard_normal((max(block_shape), min(block_shape)))
        q, r = np.linalg.qr(gaussian)
        # NOTE: the sign fix makes Q Haar-distributed rather than biased by QR's convention.
        q *= np.sign(np.diag(r))
        param.data[rows] = gain * (q if block_shape[0] >= block_shape[1] else q.T)
    return param


def identity_(param, gain=1.0, gate_blocks=1):
    """Set each (square) gate block to ``gain * I``.

    With ``nonlinearity='relu'`` this is the IRNN of Le, Jaitly & Hinton (2015):
    at initialization the hidden state is carried over unchanged, so gradients
    neither vanish nor explode through time.
    """
    for rows in _gate_blocks("identity_", param, gate_blocks, square=True):
        param.data[rows] = gain * np.eye(param.shape[1])
    return param


def forget_bias_(bias_ih, bias_hh=None, value=1.0):
    """Make an LSTM's total forget-gate bias ``value`` (Jozefowicz et al., 2015).

    The forget gate is the second of the four blocks ``i, f, g, o``. Its slice of
    ``bias_ih`` is set to ``value`` and, when given, its slice of ``bias_hh`` to
    zero, because the cell adds the two biases.
    """
    for name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if bias is not None and (bias.ndim != 1 or bias.shape[0] % 4):
            raise ShapeError(f"forget_bias_: {name} must be 1-D with 4*hidden_size entries "
                             f"(gates i, f, g, o), got shape {bias.shape}")
    hidden = bias_ih.shape[0] // 4
    bias_ih.data[hidden:2 * hidden] = value
    if bias_hh is not None:
        bias_hh.data[hidden:2 * hidden] = 0.0
    return bias_ih
