"""Parameter: the Tensor a Module owns and an optimizer updates; ``new_parameter`` makes one.

Every numrnn layer allocates its parameters through :func:`new_parameter`, so
that :func:`limit_parameters` can bound what a constructor allocates before it
allocates it. ``numrnn.load_model`` builds a module from a file's config under
a limit sized from the file's tensors: a config whose sizes ask for far more
than the file holds is refused at the first parameter past the limit, instead
of allocating (and initializing) gigabytes and only then comparing shapes.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError, FormatError

if TYPE_CHECKING:
    import numpy.typing as npt

# A ContextVar, not a global: each thread (and each asyncio task) sees its own
# limit, so one thread loading a file never constrains another building a model.
_LIMIT = contextvars.ContextVar("numrnn_parameter_limit", default=None)


class Parameter(Tensor):
    """A leaf Tensor that requires a gradient and registers itself on a Module.

    Assigning a Parameter to a Module attribute (``self.weight = Parameter(...)``)
    makes it appear in ``parameters()``, ``named_parameters()`` and
    ``state_dict()``. The array is kept as given (no copy), like
    ``torch.nn.Parameter``; only float32 and float64 are accepted.
    """

    __slots__ = ()

    def __init__(self, data: npt.ArrayLike, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if not isinstance(data, np.ndarray):
            data = np.asarray(data)
        if data.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise DTypeError(f"Parameter: data must be float32 or float64, got {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def new_parameter(owner: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> Parameter:
    """A new Parameter of ``shape`` and ``dtype`` whose values the caller then sets.

    Parameters
    ----------
    owner : str
        The layer asking (its class name), for the message when a limit refuses.
    shape : tuple of int
        Already validated by the layer.
    dtype : np.float32 or np.float64

    Notes
    -----
    Inside :func:`limit_parameters`, the parameter is counted against the limit
    first and refused with :class:`FormatError` if it would pass it, before
    anything is allocated. Layers of your own that ``numrnn.load_model`` rebuilds
    should create their parameters here too, so that the limit covers them.

    Examples
    --------
    >>> self.weight = new_parameter("Linear", (out_features, in_features), np.float32)
    """
    shape = tuple(shape)
    dtype = np.dtype(dtype)
    limit = _LIMIT.get()
    if limit is not None:
        limit.charge(owner, shape, dtype)
    return Parameter(np.empty(shape, dtype=dtype))


@contextlib.contextmanager
def limit_parameters(max_count, max_bytes, reason):
    """Within the block, :func:`new_parameter` creates at most ``max_count`` parameters
    of ``max_bytes`` bytes in all, in this thread; ``reason`` ends the refusal's message.

    >>> with limit_parameters(4, 576, "set from the file's 4 tensors of 576 bytes"):
    ...     module = LSTM(3, 4)
    """
    token = _LIMIT.set(_Allowance(max_count, max_bytes, reason))
    try:
        yield
    finally:
        _LIMIT.reset(token)


class _Allowance:
    """What :func:`limit_parameters` allows, and what has been created under it so far."""

    def __init__(self, max_count, max_bytes, reason):
        self.max_count, self.max_bytes, self.reason = max_count, max_bytes, reason
        self.count = self.bytes = 0

    def charge(self, owner, shape, dtype):
        count = self.count + 1
        total = self.bytes + math.prod(shape) * dtype.itemsize
        if count > self.max_count or total > self.max_bytes:
            raise FormatError(f"{owner}: a parameter of shape {shape} {dtype.name} would make "
                              f"{count} parameters of {total} bytes in all, past the limit of "
                              f"{self.max_count} parameters and {self.max_bytes} bytes "
                              f"{self.reason}")
        self.count, self.bytes = count, total
