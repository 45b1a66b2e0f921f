"""Optimizers, learning-rate schedules and gradient clipping, with PyTorch's names and rules."""

from numrnn.optim import lr_scheduler
from numrnn.optim.adagrad import Adagrad
from numrnn.optim.adam import Adam, AdamW
from numrnn.optim.clip import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from numrnn.optim.optimizer import Optimizer
from numrnn.optim.rmsprop import RMSprop
from numrnn.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "lr_scheduler",
]
