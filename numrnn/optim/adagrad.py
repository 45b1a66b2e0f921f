"""Adagrad: scale each coordinate's step by its accumulated squared gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError
from numrnn.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer, 2011) with PyTorch's update rule.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (1, 2, ...)::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2
        p = p - clr * g / (sqrt(s) + eps)

    Coordinates that have seen large gradients take small steps and rarely
    updated ones (embedding rows of rare tokens) keep large steps.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters or parameter groups, see :class:`~numrnn.optim.Optimizer`.
    lr : float, default 1e-2
    lr_decay : float, default 0
        The rate at step ``t`` is ``lr / (1 + (t - 1) * lr_decay)``.
    weight_decay : float, default 0
        L2 penalty coefficient, added to the gradient.
    initial_accumulator_value : float, default 0
        Starting value of every entry of the sum of squares ``s``.
    eps : float, default 1e-10
        Added to ``sqrt(s)`` (outside the square root).

    Notes
    -----
    State per parameter: ``step`` (int) and ``sum`` (array like the parameter).

    Examples
    --------
    >>> optimizer = Adagrad(model.parameters(), lr=0.05)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> None:
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps}
        super().__init__(params, defaults)

    def _check_options(self, group):
        super()._check_options(group)
        for name in ("lr_decay", "initial_accumulator_value", "eps"):
            if not group[name] >= 0.0:
                raise ArgumentError(f"Adagrad: {name} must be >= 0, got {group[name]}")

    def _update(self, data, grad, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(data, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * data
        step_lr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        square_sum = state["sum"]
        square_sum += grad * grad
        denominator = np.sqrt(square_sum)
        denominator += group["eps"]
        data -= step_lr * (grad / denominator)
