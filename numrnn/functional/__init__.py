"""The user-facing functional API: ``from numrnn import functional as F``."""

from numrnn.autograd.ops import *  # noqa: F403
from numrnn.autograd.ops import __all__ as _ops_all

__all__ = list(_ops_all)
