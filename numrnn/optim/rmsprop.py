"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError
from numrnn.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012) with PyTorch's update rule.

    For each parameter ``p`` with gradient ``g``, at every step::

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g**2
        a = alpha * a + (1 - alpha) * g           (centered only)
        d = sqrt(s - a**2) + eps   if centered   else   sqrt(s) + eps
        b = momentum * b + g / d;  p = p - lr * b      (momentum > 0)
        p = p - lr * g / d                             (momentum == 0)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters or parameter groups, see :class:`~numrnn.optim.Optimizer`.
    lr : float, default 1e-2
    alpha : float, default 0.99
        Smoothing constant of the running averages.
    eps : float, default 1e-8
        Added to the root-mean-square (outside the square root).
    weight_decay : float, default 0
        L2 penalty coefficient, added to the gradient.
    momentum : float, default 0
    centered : bool, default False
        Normalize by an estimate of the gradient's variance instead of its raw
        second moment.

    Notes
    -----
    State per parameter: ``step`` (int), ``square_avg``, and ``momentum_buffer``
    (momentum > 0) and ``grad_avg`` (centered), arrays like the parameter.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": centered}
        super().__init__(params, defaults)

    def _check_options(self, group):
        super()._check_options(group)
        for name in ("alpha", "eps", "momentum"):
            if not group[name] >= 0.0:
                raise ArgumentError(f"RMSprop: {name} must be >= 0, got {group[name]}")

    def _update(self, data, grad, state, group):
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(data)
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * data

        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1.0 - alpha) * grad * grad
        if group["centered"]:
            if "grad_avg" not in state:
                state["grad_avg"] = np.zeros_like(data)
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1.0 - alpha) * grad
            denominator = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            denominator = np.sqrt(square_avg)
        denominator += group["eps"]

        if momentum > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(data)
            buffer = state["momentum_buffer"]
            buffer *= momentum
            buffer += grad / denominator
            data -= group["lr"] * buffer
        else:
            data -= group["lr"] * (grad / denominator)
