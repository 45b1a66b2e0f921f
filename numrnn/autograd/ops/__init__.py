"""Primitive differentiable ops, grouped by kind; each file holds forward and backward together."""

from numrnn.autograd.ops.arithmetic import add, div, matmul, mul, neg, pow, sub
from numrnn.autograd.ops.binary_losses import binary_cross_entropy_with_logits
from numrnn.autograd.ops.dropout import dropout
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
from numrnn.autograd.ops.embedding import embedding
from numrnn.autograd.ops.indexing import getitem, where
from numrnn.autograd.ops.losses import (
    cross_entropy,
    l1_loss,
    l1_penalty,
    l2_penalty,
    mse_loss,
    nll_loss,
)
from numrnn.autograd.ops.reduce import max, mean, min, sum
from numrnn.autograd.ops.selection import (
    ValuesIndices,
    argmax,
    argmin,
    max_with_indices,
    min_with_indices,
)
from numrnn.autograd.ops.shape import (
    concatenate,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
from numrnn.autograd.ops.softmax import log_softmax, softmax

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
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "embedding",
    "l1_loss",
    "l1_penalty",
    "l2_penalty",
    "mse_loss",
    "nll_loss",
    "concatenate",
    "getitem",
    "log_softmax",
    "max",
    "mean",
    "permute",
    "reshape",
    "softmax",
    "split",
    "stack",
    "sum",
    "transpose",
    "where",
]
__all__ += ["ValuesIndices", "argmax", "argmin", "max_with_indices", "min", "min_with_indices",
            "squeeze", "unsqueeze"]
