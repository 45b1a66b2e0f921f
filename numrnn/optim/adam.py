"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError
from numrnn.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with PyTorch's update rule.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        g = g + weight_decay * p                      (L2 penalty; AdamW differs here)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                         (amsgrad only; then used for v)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters or parameter groups, see :class:`~numrnn.optim.Optimizer`.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (after bias correction) for stability.
    weight_decay : float, default 0
        L2 penalty coefficient, added to the gradient.
    amsgrad : bool, default False
        Use the running maximum of ``v`` (Reddi et al., 2018).

    Notes
    -----
    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq`` and, with
    amsgrad, ``max_exp_avg_sq`` (arrays like the parameter).
    """

    # AdamW sets this: decay shrinks the parameter directly instead of entering the moments.
    _decoupled_weight_decay = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": amsgrad}
        super().__init__(params, defaults)

    def _check_options(self, group):
        super()._check_options(group)
        betas = group["betas"]
        if len(betas) != 2 or not all(0.0 <= beta < 1.0 for beta in betas):
            raise ArgumentError(f"{self._name}: betas must be two numbers in [0, 1), got {betas}")
        if not group["eps"] >= 0.0:
            raise ArgumentError(f"{self._name}: eps must be >= 0, got {group['eps']}")

    def _update(self, data, grad, state, group):
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(data)
            state["exp_avg_sq"] = np.zeros_like(data)
        state["step"] += 1
        step = state["step"]

        # The update runs in place through work arrays the optimizer keeps, with the
        # operations and operands of the textbook formula in its order, so the bits are
        # those of ``m = beta1 * m + (1 - beta1) * g`` and so on; no array is allocated.
        coupled_decay = weight_decay != 0 and not self._decoupled_weight_decay
        work, *decayed = self._work_arrays(data, 2 if coupled_decay else 1)
        if weight_decay != 0:
            if self._decoupled_weight_decay:
                data *= 1.0 - lr * weight_decay
            else:
                # grad + weight_decay * data (addition commutes, bit for bit).
                np.multiply(data, weight_decay, decayed[0])
                decayed[0] += grad
                grad = decayed[0]

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg *= beta1
        np.multiply(grad, 1.0 - beta1, work)
        exp_avg += work
        exp_avg_sq *= beta2
        np.multiply(grad, 1.0 - beta2, work)
        work *= grad
        exp_avg_sq += work
        if group["amsgrad"]:
            # Started from the current v (the maximum of zeros and v on the first step),
            # which also serves a group switched to amsgrad after some steps.
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = exp_avg_sq.copy()
            max_exp_avg_sq = state["max_exp_avg_sq"]
            np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            second_moment = max_exp_avg_sq
        else:
            second_moment = exp_avg_sq

        # Bias corrections are folded into a scalar step size and a scaled denominator,
        # so no corrected copies of m and v are materialized.
        step_size = lr / (1.0 - beta1**step)
        denominator = np.sqrt(second_moment, work)
        denominator /= math.sqrt(1.0 - beta2**step)
        denominator += group["eps"]
        # data -= step_size * (m / denominator)
        np.divide(exp_avg, denominator, work)
        work *= step_size
        data -= work


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), PyTorch's rule.

    Identical to :class:`Adam` except that weight decay does not enter the
    gradient: each step first shrinks the parameter, ``p = p * (1 - lr *
    weight_decay)``, then applies the Adam update computed from the raw gradient.

    Parameters
    ----------
    params, lr, betas, eps, amsgrad
        As for :class:`Adam`.
    weight_decay : float, default 1e-2
        Decoupled decay coefficient.
    """

    _decoupled_weight_decay = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)
