"""ReduceLROnPlateau: lower the rate when a validation metric stops improving."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError
from numrnn.optim.lr_scheduler.base import LRScheduler, check_optimizer

if TYPE_CHECKING:
    from numrnn.optim.optimizer import Optimizer


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` once a metric has stopped improving for ``patience`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}, default "min"
        Whether the metric should go down (a loss) or up (an accuracy).
    factor : float, default 0.1
        Must be < 1.
    patience : int, default 10
        Epochs without improvement tolerated; the rate drops on the next one.
    threshold : float, default 1e-4
        How much better counts as better (see ``threshold_mode``).
    threshold_mode : {"rel", "abs"}, default "rel"
        ``rel``: better means below ``best * (1 - threshold)`` (mode min) or above
        ``best * (1 + threshold)`` (mode max); ``abs``: ``best -/+ threshold``.
    cooldown : int, default 0
        Epochs after a reduction during which bad epochs are not counted.
    min_lr : float or list of float, default 0
        Floor of the rate, one for all groups or one per group.
    eps : float, default 1e-8
        Reductions smaller than this are skipped.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float = 0.0, eps: float = 1e-8) -> None:
        if mode not in ("min", "max"):
            raise ArgumentError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ArgumentError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                                f"got {threshold_mode!r}")
        if not factor < 1.0:
            raise ArgumentError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        check_optimizer("ReduceLROnPlateau", optimizer)
        groups = optimizer.param_groups
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(groups):
                raise ArgumentError(f"ReduceLROnPlateau: min_lr has {len(min_lr)} entries, the "
                                    f"optimizer has {len(groups)} parameter groups")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * len(groups)
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.eps = eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        super().__init__(optimizer)

    def _is_better(self, value):
        if self.mode == "min":
            bound = (self.best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                     else self.best - self.threshold)
            return value < bound
        bound = (self.best * (1.0 + self.threshold) if self.threshold_mode == "rel"
                 else self.best + self.threshold)
        return value > bound

    def step(self, metrics: float | None = None) -> None:
        """Record one epoch's ``metrics`` (a number) and reduce the rates if it is time.

        Called without a metric (only by the constructor) it just starts epoch 0.
        """
        if metrics is None:
            if self.last_epoch == -1:
                super().step()
                return
            raise ArgumentError("ReduceLROnPlateau.step: needs the epoch's metric, got None")
        value = float(metrics)
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old_lr = float(group["lr"])
                new_lr = max(old_lr * self.factor, min_lr)
                if old_lr - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
