"""numrnn: recurrent neural networks on CPUs, with Numba kernels and proven gradients."""

# First: it decides where Numba caches compiled kernels, which must happen before
# any kernel module is imported (Numba fixes a function's cache directory when
# its decorator runs).
from numrnn import _cache  # noqa: F401, I001
# Before any parallel kernel runs: idle OpenMP workers must sleep, not spin.
from numrnn import _openmp  # noqa: F401
from numrnn import functional, nn
from numrnn.autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from numrnn.errors import DTypeError, FormatError, GradError, NumrnnError, ShapeError
from numrnn.io import load, load_model, save
from numrnn.threads import get_num_threads, set_num_threads
# Imported here so that numrnn.load_model can rebuild it in a fresh process.
from numrnn.language_model import CharLanguageModel

__version__ = "0.1.0"

__all__ = [
    "CharLanguageModel",
    "DTypeError",
    "FormatError",
    "Function",
    "GradError",
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
