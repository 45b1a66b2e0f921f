"""Tape-based reverse-mode automatic differentiation on NumPy arrays."""

from numrnn.autograd.tensor import Tensor, tensor
from numrnn.autograd.function import Context, Function
from numrnn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad

__all__ = ["Context", "Function", "Tensor", "enable_grad", "is_grad_enabled", "no_grad", "tensor"]
