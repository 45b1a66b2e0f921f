"""Tape-based reverse-mode automatic differentiation on NumPy arrays."""

# Tensor before Function: tensor.py imports the ops at its end, and the ops need
# Function, so this order is the one that resolves the cycle (not alphabetical).
from numrnn.autograd.tensor import Tensor, tensor  # noqa: I001
from numrnn.autograd.function import Context, Function
from numrnn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad

__all__ = ["Context", "Function", "Tensor", "enable_grad", "is_grad_enabled", "no_grad", "tensor"]
