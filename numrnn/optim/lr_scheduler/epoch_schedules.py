"""Schedules whose rate is a function of the epoch alone: step, multi-step, exponential,
cosine, a user's lambda, and the linear warm-up."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.optim.lr_scheduler.base import LRScheduler, check_optimizer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from numrnn.optim.optimizer import Optimizer


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    ``lr(epoch) = initial_lr * gamma ** (epoch // step_size)``, applied as a
    multiplication of the current rate, so a rate changed by hand carries on.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ArgumentError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def _next_lrs(self):
        lrs = super()._next_lrs()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]

class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch listed in ``milestones``.

    ``lr(epoch) = initial_lr * gamma ** (number of milestones <= epoch)``; a
    milestone listed twice multiplies by ``gamma ** 2``. Applied as a
    multiplication of the current rate, as :class:`StepLR`.

    Parameters
    ----------
    optimizer : Optimizer
    milestones : list of int
        Epochs (each >= 1) at which the rate drops.
    gamma : float, default 0.1
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        if not (isinstance(milestones, (list, tuple, range)) and all(
                isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in milestones)):
            raise ArgumentError(f"MultiStepLR: milestones must be a list of positive integers "
                                f"(epochs), got {milestones!r}")
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer)

    def _next_lrs(self):
        lrs = super()._next_lrs()
        drops = self.milestones.count(self.last_epoch)
        return [lr * self.gamma ** drops for lr in lrs] if drops else lrs

class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch: ``lr(epoch) = initial_lr * gamma**epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def _next_lrs(self):
        lrs = super()._next_lrs()
        if self.last_epoch == 0:
            return lrs
        return [lr * self.gamma for lr in lrs]

class CosineAnnealingLR(LRScheduler):
    """Anneal the rate from ``initial_lr`` to ``eta_min`` along half a cosine over ``T_max`` epochs.

    ``lr(epoch) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.
    Past ``T_max`` the cosine carries on, rising back towards ``initial_lr``
    (SGDR-style restarts without the jump), as PyTorch's schedule does.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if not (isinstance(T_max, int) and T_max >= 1):
            raise ArgumentError(f"CosineAnnealingLR: T_max must be a positive integer, "
                                f"got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def _next_lrs(self):
        # The closed form: PyTorch's recursive form divides by a cosine that
        # reaches zero and accumulates rounding; this one is exact at every epoch.
        cosine = (1.0 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]

class LambdaLR(LRScheduler):
    """Set the rate to ``initial_lr * lr_lambda(epoch)``.

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        ``epoch -> factor``; one for every group, or one per group.

    Notes
    -----
    ``state_dict()`` leaves the functions out (they are code, not state): give
    the same ``lr_lambda`` to the scheduler you load into.

    Examples
    --------
    >>> warmup = LambdaLR(optimizer, lambda epoch: min(1.0, (epoch + 1) / 5))
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[..., Any]) -> None:
        check_optimizer("LambdaLR", optimizer)
        groups = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups:
            raise ArgumentError(f"LambdaLR: lr_lambda has {len(lambdas)} functions, the "
                                f"optimizer has {groups} parameter groups")
        for lmbda in lambdas:
            if not callable(lmbda):
                raise ArgumentTypeError(f"LambdaLR: lr_lambda must be callable (epoch -> factor), "
                                        f"got {type(lmbda).__name__}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def _next_lrs(self):
        lrs = []
        for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs):
            factor = lmbda(self.last_epoch)
            if isinstance(factor, bool) or not isinstance(factor, numbers.Real):
                raise ArgumentTypeError(f"LambdaLR: lr_lambda({self.last_epoch}) must return a "
                                        f"real number, got {type(factor).__name__}")
            lrs.append(base_lr * factor)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        del state["lr_lambdas"]
        return state

class LinearLR(LRScheduler):
    """Warm-up: scale the rate linearly from ``start_factor`` to ``end_factor`` in ``total_iters``.

    ``lr(epoch) = initial_lr * (start_factor + (end_factor - start_factor)
    * min(epoch, total_iters) / total_iters)``, then constant. Applied as a
    multiplication of the current rate, with PyTorch's factors.

    Parameters
    ----------
    optimizer : Optimizer
    start_factor : float in (0, 1], default 1/3
    end_factor : float in [0, 1], default 1
    total_iters : int >= 1, default 5
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        if not 0.0 < start_factor <= 1.0:
            raise ArgumentError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0.0 <= end_factor <= 1.0:
            raise ArgumentError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        if isinstance(total_iters, bool) or not (isinstance(total_iters, int)
                                                 and total_iters >= 1):
            raise ArgumentError(f"LinearLR: total_iters must be a positive integer, "
                                f"got {total_iters!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer)

    def _next_lrs(self):
        lrs = super()._next_lrs()
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in lrs]
        if self.last_epoch > self.total_iters:
            return lrs
        # The ratio of this epoch's factor to the previous one's.
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor
                                + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in lrs]
