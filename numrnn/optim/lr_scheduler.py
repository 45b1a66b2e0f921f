"""Learning-rate schedules: they set ``group["lr"]`` on an optimizer's parameter groups.

Call ``scheduler.step()`` once per epoch, after ``optimizer.step()``, as in
PyTorch (``ReduceLROnPlateau.step(metric)`` takes the validation metric).
Creating a scheduler records each group's starting rate as ``initial_lr``.
``state_dict()`` holds plain numbers and lists; the optimizer's own
``state_dict`` already holds the current rates, so save both to resume.
"""

import math

from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.optim.optimizer import Optimizer


class LRScheduler:
    """Base class of the epoch-indexed schedules.

    Subclasses give :meth:`_next_lrs`, the rates for epoch ``self.last_epoch``.
    Construction counts as epoch 0 (the rates are left at their starting values).

    Attributes
    ----------
    optimizer : Optimizer
    base_lrs : list of float
        Each group's ``initial_lr``.
    last_epoch : int
        How many times :meth:`step` was called after construction.
    """

    def __init__(self, optimizer):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def _next_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self):
        """Advance one epoch and write the new rates into the optimizer's groups."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self._next_lrs()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The rates this scheduler last set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer, as plain Python values."""
        return {key: _plain_copy(value) for key, value in self.__dict__.items()
                if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (from a scheduler of the same kind)."""
        unknown = set(state_dict) - set(self.__dict__)
        if unknown:
            raise ShapeError(f"{type(self).__name__}.load_state_dict: unexpected keys "
                             f"{sorted(unknown)}")
        for key in ("base_lrs", "_last_lr", "min_lrs"):
            if key in state_dict and len(state_dict[key]) != len(self.optimizer.param_groups):
                raise ShapeError(f"{type(self).__name__}.load_state_dict: {key} has "
                                 f"{len(state_dict[key])} entries, the optimizer has "
                                 f"{len(self.optimizer.param_groups)} parameter groups")
        self.__dict__.update({key: _plain_copy(value) for key, value in state_dict.items()})


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    ``lr(epoch) = initial_lr * gamma ** (epoch // step_size)``, applied as a
    multiplication of the current rate, so a rate changed by hand carries on.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
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


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch: ``lr(epoch) = initial_lr * gamma**epoch``."""

    def __init__(self, optimizer, gamma):
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

    def __init__(self, optimizer, T_max, eta_min=0.0):
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

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ArgumentError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ArgumentError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                                f"got {threshold_mode!r}")
        if not factor < 1.0:
            raise ArgumentError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        _check_optimizer("ReduceLROnPlateau", optimizer)
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

    def step(self, metrics=None):
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


def _check_optimizer(name, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")


def _plain_copy(value):
    return list(value) if isinstance(value, list) else value
