"""The callback protocol of :func:`numrnn.training.fit`, and the per-epoch log line.

A callback is any object with one or both of these methods (subclassing
:class:`Callback`, whose methods do nothing, is optional)::

    on_step_end(step, loss)        # after each training step
    on_epoch_end(epoch, history)   # after each epoch's record is in history

``step`` counts the steps of the whole run from 1 (a skipped step too),
``loss`` is that step's loss as a float; ``epoch`` is 1-based and ``history``
the :class:`~numrnn.training.History` so far. Either method may raise
:class:`StopTraining` to end the run: from ``on_step_end``, the rest of the
epoch's batches are left out, and the epoch is finished as usual (validation,
checkpoint, schedule, its record, the other callbacks) before ``fit`` returns;
from ``on_epoch_end``, ``fit`` returns after that epoch. Either way
``history.stopped_early`` is True. Anything else a callback raises propagates.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentTypeError

if TYPE_CHECKING:
    from numrnn.training.fit import History

__all__ = ["Callback", "StopTraining"]

_HOOKS = ("on_step_end", "on_epoch_end")


class StopTraining(Exception):
    """Raised by a callback to make :func:`~numrnn.training.fit` stop; fit catches it."""


class Callback:
    """A base class for callbacks; override the hooks you need."""

    def on_step_end(self, step: int, loss: float) -> None:
        """After each training step: the run's 1-based step count and the loss as a float."""

    def on_epoch_end(self, epoch: int, history: History) -> None:
        """After each epoch, once its record has been appended to ``history``."""


def check_callbacks(callbacks):
    """``callbacks`` (None, one callback or a sequence) as a list, each with a hook."""
    if callbacks is None:
        return []
    if any(callable(getattr(callbacks, hook, None)) for hook in _HOOKS):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise ArgumentTypeError(f"fit: callbacks must be a list of objects with "
                                f"on_step_end/on_epoch_end methods, got "
                                f"{type(callbacks).__name__}")
    for index, callback in enumerate(callbacks):
        if not any(callable(getattr(callback, hook, None)) for hook in _HOOKS):
            raise ArgumentTypeError(f"fit: callbacks[{index}] ({type(callback).__name__}) has "
                                    "neither on_step_end(step, loss) nor "
                                    "on_epoch_end(epoch, history)")
    return list(callbacks)


def call_hooks(callbacks, hook, *args):
    """Call ``hook`` on every callback that has it; the first StopTraining, or None."""
    stop = None
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is None:
            continue
        try:
            method(*args)
        except StopTraining as request:
            stop = stop or request
    return stop


def write_epoch_line(history, epochs, desc, stream=None):
    """One plain line for the epoch just recorded, for logs that are not a terminal.

    ``epoch 3/10: loss 0.1234, val 0.5678, lr 0.001, 120 steps, 4.2 s``
    """
    stream = sys.stderr if stream is None else stream
    parts = [f"loss {history.train_loss[-1]:.4f}"]
    if history.val_metric[-1] is not None:
        parts.append(f"val {history.val_metric[-1]:.4f}")
    parts.append(f"lr {history.lr[-1]:.4g}")
    parts.append(f"{history.steps[-1]} steps")
    if history.skipped_steps[-1]:
        parts.append(f"{history.skipped_steps[-1]} skipped")
    parts.append(f"{history.time[-1]:.1f} s")
    stream.write(f"{desc} {history.epoch[-1]}/{epochs}: {', '.join(parts)}\n")
    stream.flush()
