"""Learning-rate schedules: they set ``group["lr"]`` on an optimizer's parameter groups.

Call ``scheduler.step()`` once per epoch, after ``optimizer.step()``, as in
PyTorch (``ReduceLROnPlateau.step(metric)`` takes the validation metric).
Creating a scheduler records each group's starting rate as ``initial_lr``.
``state_dict()`` holds plain numbers and lists; the optimizer's own
``state_dict`` already holds the current rates, so save both to resume.
"""

import bisect
import math
import numbers

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

    def _restart(self):
        """Start over at epoch 0 from the base rates (how SequentialLR hands over)."""
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base_lr
        self.last_epoch = -1
        LRScheduler.step(self)

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

    def __init__(self, optimizer, milestones, gamma=0.1):
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


class LambdaLR(LRScheduler):
    """Set the rate to ``initial_lr * lr_lambda(epoch)``.

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        ``epoch -> factor``; one for every group, or one per group.

    ``state_dict()`` leaves the functions out (they are code, not state): give
    the same ``lr_lambda`` to the scheduler you load into.

    Examples
    --------
    >>> warmup = LambdaLR(optimizer, lambda epoch: min(1.0, (epoch + 1) / 5))
    """

    def __init__(self, optimizer, lr_lambda):
        _check_optimizer("LambdaLR", optimizer)
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

    def state_dict(self):
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

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
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


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018): warm up to ``max_lr``, then anneal far below.

    Stepped once per batch (not per epoch). The rate rises from
    ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps``, then falls to ``max_lr / (div_factor * final_div_factor)``;
    with ``three_phase`` it first comes back down to the starting rate, then
    falls. With ``cycle_momentum`` the momentum (SGD, RMSprop) or ``beta1``
    (Adam) moves the opposite way between ``max_momentum`` and ``base_momentum``.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float (one per group)
    total_steps : int, optional
        Or give ``epochs`` and ``steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
    pct_start : float in [0, 1], default 0.3
    anneal_strategy : {"cos", "linear"}, default "cos"
    cycle_momentum : bool, default True
    base_momentum, max_momentum : float or list of float, default 0.85 and 0.95
    div_factor : float, default 25
    final_div_factor : float, default 1e4
    three_phase : bool, default False

    Stepping more than ``total_steps`` times raises ArgumentError.
    Construction overwrites each group's ``initial_lr`` with ``max_lr / div_factor``.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
        name = "OneCycleLR"
        _check_optimizer(name, optimizer)
        self.total_steps = _one_cycle_total_steps(total_steps, epochs, steps_per_epoch)
        if isinstance(pct_start, bool) or not (isinstance(pct_start, numbers.Real)
                                               and 0.0 <= pct_start <= 1.0):
            raise ArgumentError(f"{name}: pct_start must be a number in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ArgumentError(f"{name}: anneal_strategy must be 'cos' or 'linear', "
                                f"got {anneal_strategy!r}")
        for option, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if not value > 0:
                raise ArgumentError(f"{name}: {option} must be > 0, got {value}")
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        spans = [end - start for start, end in zip([0.0] + self._phase_ends()[:-1],
                                                   self._phase_ends())]
        if 0.0 in spans:
            raise ArgumentError(f"{name}: pct_start={pct_start} with total_steps="
                                f"{self.total_steps} gives a phase of zero steps")
        self.max_lrs = _per_group(name, "max_lr", max_lr, optimizer)
        self.min_lrs = [lr / div_factor / final_div_factor for lr in self.max_lrs]
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not (self.use_beta1 or "momentum" in optimizer.defaults):
            raise ArgumentError(f"{name}: cycle_momentum needs an optimizer with momentum or "
                                f"betas, got {type(optimizer).__name__}; pass "
                                "cycle_momentum=False")
        self.max_momentums = _per_group(name, "max_momentum", max_momentum, optimizer)
        self.base_momentums = _per_group(name, "base_momentum", base_momentum, optimizer)
        for group, max_lr_of_group in zip(optimizer.param_groups, self.max_lrs):
            group["initial_lr"] = max_lr_of_group / div_factor
        super().__init__(optimizer)

    def _phase_ends(self):
        up = self.pct_start * self.total_steps - 1
        if self.three_phase:
            return [up, 2 * self.pct_start * self.total_steps - 2, self.total_steps - 1]
        return [up, self.total_steps - 1]

    def _anneal(self, start, end, fraction):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def step(self):
        """Advance one batch; refused past ``total_steps`` steps, leaving the rates as they are."""
        if self.last_epoch + 1 > self.total_steps:
            raise ArgumentError(f"OneCycleLR: stepped {self.last_epoch + 1} times, but "
                                f"total_steps is {self.total_steps}")
        super().step()

    def _next_lrs(self):
        ends = self._phase_ends()
        lrs = []
        for index, group in enumerate(self.optimizer.param_groups):
            initial, peak, floor = self.base_lrs[index], self.max_lrs[index], self.min_lrs[index]
            low_m, high_m = self.base_momentums[index], self.max_momentums[index]
            if self.three_phase:
                phases = [(initial, peak, high_m, low_m), (peak, initial, low_m, high_m),
                          (initial, floor, high_m, high_m)]
            else:
                phases = [(initial, peak, high_m, low_m), (peak, floor, low_m, high_m)]
            start_step = 0.0
            for number, (end_step, phase) in enumerate(zip(ends, phases)):
                if self.last_epoch <= end_step or number == len(phases) - 1:
                    fraction = (self.last_epoch - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(phase[0], phase[1], fraction))
                    momentum = self._anneal(phase[2], phase[3], fraction)
                    break
                start_step = end_step
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (momentum,) + tuple(group["betas"][1:])
                else:
                    group["momentum"] = momentum
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``.

    At each milestone the next scheduler starts over from its own epoch 0
    and base rates. Typical use: a :class:`LinearLR` warm-up, then a decay.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer every one of ``schedulers`` drives.
    schedulers : list of LRScheduler
        Not ReduceLROnPlateau (it needs a metric at every step) nor SequentialLR.
    milestones : list of int
        ``len(schedulers) - 1`` increasing epochs, each >= 1.

    Examples
    --------
    >>> warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
    >>> decay = CosineAnnealingLR(optimizer, T_max=95)
    >>> schedule = SequentialLR(optimizer, [warmup, decay], milestones=[5])
    """

    def __init__(self, optimizer, schedulers, milestones):
        name = "SequentialLR"
        _check_optimizer(name, optimizer)
        for option, value in (("schedulers", schedulers), ("milestones", milestones)):
            if not isinstance(value, (list, tuple)):
                raise ArgumentTypeError(f"{name}: {option} must be a list, "
                                        f"got {type(value).__name__}")
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ArgumentError(f"{name}: needs at least one scheduler, got none")
        for index, scheduler in enumerate(schedulers):
            # ReduceLROnPlateau needs a metric to step; a nested SequentialLR cannot restart.
            if not isinstance(scheduler, LRScheduler) or isinstance(
                    scheduler, (ReduceLROnPlateau, SequentialLR)):
                raise ArgumentTypeError(f"{name}: scheduler {index} must be an LRScheduler other "
                                        f"than ReduceLROnPlateau and SequentialLR, got "
                                        f"{type(scheduler).__name__}")
            if scheduler.optimizer is not optimizer:
                raise ArgumentError(f"{name}: scheduler {index} ({type(scheduler).__name__}) "
                                    "drives a different optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ArgumentError(f"{name}: needs {len(schedulers) - 1} milestones for "
                                f"{len(schedulers)} schedulers, got {len(milestones)}")
        if not all(isinstance(m, int) and not isinstance(m, bool) for m in milestones) or any(
                m < 1 for m in milestones) or milestones != sorted(set(milestones)):
            raise ArgumentError(f"{name}: milestones must be increasing positive integers, "
                                f"got {milestones!r}")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        # Each scheduler took its epoch-0 step when it was made; only the first one's counts.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        first = schedulers[0]
        first.last_epoch = -1
        first.step()
        self._last_lr = first.get_last_lr()

    def step(self):
        """Advance one epoch: the current scheduler steps, or the next one starts."""
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        """Own counters plus each scheduler's ``state_dict()``, in order."""
        state = {key: _plain_copy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        saved = list(state_dict.get("_schedulers", ()))
        if len(saved) != len(self._schedulers):
            raise ShapeError(f"SequentialLR.load_state_dict: the state dict holds {len(saved)} "
                             f"schedulers, this SequentialLR has {len(self._schedulers)}")
        own = {key: value for key, value in state_dict.items() if key != "_schedulers"}
        super().load_state_dict(own)
        for scheduler, scheduler_state in zip(self._schedulers, saved):
            scheduler.load_state_dict(scheduler_state)


def _one_cycle_total_steps(total_steps, epochs, steps_per_epoch):
    def positive_int(value):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if total_steps is not None:
        if not positive_int(total_steps):
            raise ArgumentError(f"OneCycleLR: total_steps must be a positive integer, "
                                f"got {total_steps!r}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ArgumentError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
    for option, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if not positive_int(value):
            raise ArgumentError(f"OneCycleLR: {option} must be a positive integer, got {value!r}")
    return epochs * steps_per_epoch


def _per_group(scheduler, option, value, optimizer):
    """One value per parameter group, from a single value or a list of them."""
    groups = len(optimizer.param_groups)
    values = list(value) if isinstance(value, (list, tuple)) else [value] * groups
    if len(values) != groups:
        raise ArgumentError(f"{scheduler}: {option} has {len(values)} entries, the optimizer "
                            f"has {groups} parameter groups")
    for entry in values:
        if isinstance(entry, bool) or not isinstance(entry, numbers.Real):
            raise ArgumentTypeError(f"{scheduler}: {option} must be a number or a list of "
                                    f"numbers, got {type(entry).__name__}")
    return [float(entry) for entry in values]


def _check_optimizer(name, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")


def _plain_copy(value):
    return list(value) if isinstance(value, list) else value
