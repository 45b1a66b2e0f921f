"""Learning-rate schedules: they set ``group["lr"]`` on an optimizer's parameter groups.

Call ``scheduler.step()`` once per epoch, after ``optimizer.step()``, as in
PyTorch (``ReduceLROnPlateau.step(metric)`` takes the validation metric).
Creating a scheduler records each group's starting rate as ``initial_lr``.
``state_dict()`` holds plain numbers and lists; the optimizer's own
``state_dict`` already holds the current rates, so save both to resume.

The schedules live in modules by concern: :mod:`.base` (``LRScheduler``),
:mod:`.epoch_schedules` (step, multi-step, exponential, cosine, lambda, linear
warm-up), :mod:`.cycles` (one-cycle, sequential) and :mod:`.plateau`; import
them from here.
"""

from numrnn.optim.lr_scheduler.base import LRScheduler
from numrnn.optim.lr_scheduler.cycles import OneCycleLR, SequentialLR
from numrnn.optim.lr_scheduler.epoch_schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    StepLR,
)
from numrnn.optim.lr_scheduler.plateau import ReduceLROnPlateau

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]
