"""numrnn: recurrent neural networks on CPUs, with Numba kernels and proven gradients.

``numrnn.optim``, ``numrnn.training``, ``numrnn.generate`` and
``numrnn.distributed`` are imported on first use, so ``import numrnn`` stays as
fast as it was.
"""

import importlib

# First: importing it refuses a numba release numrnn does not work with, before any
# module imports numba's internals.
from numrnn import _numba_release  # noqa: F401

# isort: split
from numrnn import functional, nn
from numrnn.autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from numrnn.defaults import (
    default_generator,
    get_default_dtype,
    manual_seed,
    set_default_dtype,
)
from numrnn.errors import (
    ArgumentError,
    ArgumentTypeError,
    DistributedError,
    DTypeError,
    FormatError,
    GradError,
    IndexOutOfRangeError,
    MissingExtraError,
    NumrnnError,
    ShapeError,
    UnsupportedDependencyError,
)
from numrnn.inference import predict
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
    "DistributedError",
    "FormatError",
    "Function",
    "GradError",
    "IndexOutOfRangeError",
    "MissingExtraError",
    "NumrnnError",
    "ShapeError",
    "Tensor",
    "UnsupportedDependencyError",
    "default_generator",
    "distributed",
    "enable_grad",
    "functional",
    "generate",
    "get_default_dtype",
    "get_num_threads",
    "is_grad_enabled",
    "load",
    "load_model",
    "manual_seed",
    "nn",
    "no_grad",
    "optim",
    "predict",
    "save",
    "set_default_dtype",
    "set_num_threads",
    "tensor",
    "training",
    "__version__",
]

# Loaded on first attribute access (PEP 562): tqdm and the optimizers stay out of
# the import of a model server that only loads weights.
_LAZY_SUBMODULES = ("distributed", "generate", "optim", "training")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"numrnn.{name}")
    raise AttributeError(f"module 'numrnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
