"""Process-wide defaults: the generator behind ``rng=None``, and the float dtype of Python data.

``numrnn.manual_seed(seed)`` makes everything that is not given an ``rng``
reproducible: layers and initializers built with ``rng=None`` each take a
generator seeded by a draw from the default generator (so they are
independent of one another, and the same from run to run after the same
seed), and calls that draw at once with ``rng=None`` (``functional.dropout``,
``generate``) draw from it directly. Until a seed is set the default generator
starts from fresh entropy, as ``rng=None`` always did. Passing ``rng=``
bypasses all of this.

``numrnn.set_default_dtype`` chooses the float dtype ``numrnn.tensor`` gives
Python floats (float32 unless changed, the dtype the layers use by default).
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError, DTypeError

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# A 63-bit draw seeds each child generator: as independent as numpy's own seeding.
_CHILD_SEED_BOUND = 2**63

_default_generator: np.random.Generator | None = None
_default_dtype: np.dtype[Any] = np.dtype(np.float32)


def manual_seed(seed: int) -> np.random.Generator:
    """Seed numrnn's default generator; returns it.

    Parameters
    ----------
    seed : int >= 0

    Returns
    -------
    numpy.random.Generator
        The new default generator, ``numpy.random.default_rng(seed)``.
    """
    global _default_generator
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ArgumentError(f"manual_seed: seed must be an int >= 0, got {seed!r}")
    _default_generator = np.random.default_rng(int(seed))
    return _default_generator


def default_generator() -> np.random.Generator:
    """The generator ``rng=None`` draws from (fresh entropy until :func:`manual_seed`)."""
    global _default_generator
    if _default_generator is None:
        _default_generator = np.random.default_rng()
    return _default_generator


def child_generator() -> np.random.Generator:
    """A new Generator seeded by one draw from :func:`default_generator`."""
    return np.random.default_rng(int(default_generator().integers(_CHILD_SEED_BOUND)))


def set_default_dtype(dtype: npt.DTypeLike) -> None:
    """Make ``dtype`` (float32 or float64) the dtype ``numrnn.tensor`` gives Python floats."""
    global _default_dtype
    try:
        wanted = np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"set_default_dtype: expected float32 or float64, got {dtype!r}") from exc
    if wanted not in _FLOAT_DTYPES:
        raise DTypeError(f"set_default_dtype: expected float32 or float64, got {wanted}")
    _default_dtype = wanted


def get_default_dtype() -> type[np.floating[Any]]:
    """The dtype ``numrnn.tensor`` gives Python floats (``numpy.float32`` unless changed)."""
    return _default_dtype.type
