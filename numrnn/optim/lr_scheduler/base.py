"""LRScheduler, the base of every epoch-indexed schedule, and the checks they share."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


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

    def __init__(self, optimizer: Optimizer) -> None:
        check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def _next_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
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

    def get_last_lr(self) -> list[float]:
        """The rates this scheduler last set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as plain Python values."""
        return {key: plain_copy(value) for key, value in self.__dict__.items()
                if key != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
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
        self.__dict__.update({key: plain_copy(value) for key, value in state_dict.items()})

def per_group(scheduler, option, value, optimizer):
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


def check_optimizer(name, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")


def plain_copy(value):
    return list(value) if isinstance(value, list) else value
