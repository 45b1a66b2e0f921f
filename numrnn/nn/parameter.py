"""Parameter: the Tensor a Module owns and an optimizer updates."""

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError


class Parameter(Tensor):
    """A leaf Tensor that requires a gradient and registers itself on a Module.

    Assigning a Parameter to a Module attribute (``self.weight = Parameter(...)``)
    makes it appear in ``parameters()``, ``named_parameters()`` and
    ``state_dict()``. The array is kept as given (no copy), like
    ``torch.nn.Parameter``; only float32 and float64 are accepted.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        if not isinstance(data, np.ndarray):
            data = np.asarray(data)
        if data.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise DTypeError(f"Parameter: data must be float32 or float64, got {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
