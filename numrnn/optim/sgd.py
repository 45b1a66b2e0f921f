"""Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 decay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError
from numrnn.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's update rule).

    For each parameter ``p`` with gradient ``g``, at every step::

        g = g + weight_decay * p
        b = g                                   (first step)
        b = momentum * b + (1 - dampening) * g  (later steps)
        g = g + momentum * b   if nesterov else   b       (when momentum != 0)
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters or parameter groups, see :class:`~numrnn.optim.Optimizer`.
    lr : float
        Learning rate (required, as in PyTorch: there is no sensible default).
    momentum : float, default 0
    dampening : float, default 0
        Scales down the gradient's contribution to the momentum buffer.
    nesterov : bool, default False
        Needs ``momentum > 0`` and ``dampening == 0``.
    weight_decay : float, default 0
        L2 penalty coefficient, added to the gradient.

    Notes
    -----
    State per parameter: ``momentum_buffer`` (array like the parameter) when
    ``momentum != 0``.
    """

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "nesterov": nesterov, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _check_options(self, group):
        super()._check_options(group)
        if not group["momentum"] >= 0.0:
            raise ArgumentError(f"SGD: momentum must be >= 0, got {group['momentum']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ArgumentError("SGD: nesterov momentum needs momentum > 0 and dampening == 0, got "
                                f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, data, grad, state, group):
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        if weight_decay != 0:
            grad = grad + weight_decay * data
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                # The first step seeds the buffer with the raw gradient, undamped.
                buffer = grad.copy()
                state["momentum_buffer"] = buffer
            else:
                buffer *= momentum
                buffer += (1.0 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        data -= group["lr"] * grad
