"""Schedules made of phases: the one-cycle policy, and schedulers run in sequence."""

from __future__ import annotations

import bisect
import math
import numbers
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.optim.lr_scheduler.base import LRScheduler, check_optimizer, per_group, plain_copy
from numrnn.optim.lr_scheduler.plateau import ReduceLROnPlateau

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from numrnn.optim.optimizer import Optimizer


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

    Notes
    -----
    Stepping more than ``total_steps`` times raises ArgumentError.
    Construction overwrites each group's ``initial_lr`` with ``max_lr / div_factor``.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float = 0.85, max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        name = "OneCycleLR"
        check_optimizer(name, optimizer)
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
        self.max_lrs = per_group(name, "max_lr", max_lr, optimizer)
        self.min_lrs = [lr / div_factor / final_div_factor for lr in self.max_lrs]
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not (self.use_beta1 or "momentum" in optimizer.defaults):
            raise ArgumentError(f"{name}: cycle_momentum needs an optimizer with momentum or "
                                f"betas, got {type(optimizer).__name__}; pass "
                                "cycle_momentum=False")
        self.max_momentums = per_group(name, "max_momentum", max_momentum, optimizer)
        self.base_momentums = per_group(name, "base_momentum", base_momentum, optimizer)
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

    def step(self) -> None:
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

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int]) -> None:
        name = "SequentialLR"
        check_optimizer(name, optimizer)
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

    def step(self) -> None:
        """Advance one epoch: the current scheduler steps, or the next one starts."""
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """Own counters plus each scheduler's ``state_dict()``, in order."""
        state = {key: plain_copy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
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
