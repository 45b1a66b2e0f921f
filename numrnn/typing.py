"""The type aliases numrnn's annotations use, for code that annotates its own calls.

Most functions take a :class:`~numrnn.Tensor` or anything NumPy turns into an array
(``TensorLike``); those that read an argument's shape or dtype before converting it
take a Tensor or an ndarray (``TensorOrArray``).
"""

import os
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from numrnn.autograd.tensor import Tensor

__all__ = [
    "Axis", "FloatArray", "Generators", "IntArray", "PathLike", "Seed", "Size", "TensorLike",
    "TensorOrArray",
]

TensorLike: TypeAlias = Tensor | npt.ArrayLike
"""A Tensor, an ndarray, a nested sequence or a scalar."""

TensorOrArray: TypeAlias = Tensor | npt.NDArray[Any]
"""A Tensor or an ndarray (not a list or a scalar)."""

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
"""A floating-point ndarray (float32 or float64)."""

IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
"""An integer ndarray (token ids, lengths, indices)."""

Axis: TypeAlias = int | tuple[int, ...] | None
"""One axis, several, or None for all of them."""

Size: TypeAlias = int | tuple[int, ...]
"""A size given once for every spatial dimension, or once per dimension."""

Seed: TypeAlias = np.random.Generator | int | None
"""A NumPy Generator, an integer seed, or None for numrnn's default generator."""

Generators: TypeAlias = np.random.Generator | Mapping[str, np.random.Generator]
"""The generators a training run draws from outside its modules: one, or several by name."""

PathLike: TypeAlias = str | os.PathLike[str]
"""A file system path."""
