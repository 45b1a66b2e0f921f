"""numrnn: recurrent neural networks on CPUs, with Numba kernels and proven gradients."""

from numrnn import functional, nn
from numrnn.autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from numrnn.errors import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    FormatError,
    GradError,
    IndexOutOfRangeError,
    NumrnnError,
    ShapeError,
)
from numrnn.io import load, load_model, save

# Imported here so that numrnn.load_model can rebuild it in a fresh process.
from numrnn.language_model import CharLanguageModel
from numrnn.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "CharLanguageModel",
    "DTypeError",
    "FormatError",
    "Function",
    "GradError",
    "IndexOutOfRangeError",
    "NumrnnError",
    "ShapeError",
    "Tensor",
    "enable_grad",
    "functional",
    "get_num_threads",
    "is_grad_enabled",
    "load",
    "load_model",
    "nn",
    "no_grad",
    "save",
    "set_num_threads",
    "tensor",
    "__version__",
]
