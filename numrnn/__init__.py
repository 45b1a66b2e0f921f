"""numrnn: recurrent neural networks on CPUs, with Numba kernels and proven gradients."""

from numrnn import functional, nn
from numrnn.autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from numrnn.errors import DTypeError, FormatError, GradError, NumrnnError, ShapeError
from numrnn.io import load, load_model, save

__version__ = "0.1.0"

__all__ = [
    "DTypeError",
    "FormatError",
    "Function",
    "GradError",
    "NumrnnError",
    "ShapeError",
    "Tensor",
    "enable_grad",
    "functional",
    "is_grad_enabled",
    "load",
    "load_model",
    "nn",
    "no_grad",
    "save",
    "tensor",
    "__version__",
]
