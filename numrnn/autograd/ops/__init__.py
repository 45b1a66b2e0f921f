"""Primitive differentiable ops, grouped by kind; each file holds forward and backward together."""

from numrnn.autograd.ops.arithmetic import add, div, matmul, mul, neg, pow, sub
from numrnn.autograd.ops.elementwise import (
    abs,
    clip,
    exp,
    leaky_relu,
    log,
    relu,
    sigmoid,
    sqrt,
    tanh,
)

__all__ = [
    "abs",
    "add",
    "clip",
    "div",
    "exp",
    "leaky_relu",
    "log",
    "matmul",
    "mul",
    "neg",
    "pow",
    "relu",
    "sigmoid",
    "sqrt",
    "sub",
    "tanh",
]
