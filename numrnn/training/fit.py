"""``fit``: the training loop every numrnn model needs, written once.

One call runs epochs of ``zero_grad → step → backward → clip → optimizer.step``
(skipping, or refusing, an update whose gradient is not finite), validates after
each epoch, steps a learning-rate schedule, stops early when the validation
metric stops improving, keeps the best weights and writes a checkpoint. What a
batch is and how it becomes a loss is the caller's ``step(model, batch)``, so
the loop serves classifiers, sequence-to-sequence models and language models
trained by truncated BPTT alike.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeGuard

import numpy as np
from tqdm import tqdm

from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, NumrnnError, ShapeError
from numrnn.optim.clip import clip_grads_with_norm_, get_total_norm
from numrnn.optim.lr_scheduler import ReduceLROnPlateau
from numrnn.training.callbacks import call_hooks, check_callbacks, write_epoch_line
from numrnn.training.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from numrnn.nn.module import Module
    from numrnn.optim.lr_scheduler.base import LRScheduler
    from numrnn.optim.optimizer import Optimizer
    from numrnn.typing import Generators, PathLike

_NONFINITE_GRAD_CHOICES = ("skip", "raise")


class NonFiniteLossError(NumrnnError, FloatingPointError):
    """A training step produced a NaN or infinite loss; the update was not applied."""


class NonFiniteGradError(NumrnnError, FloatingPointError):
    """A step's loss was finite but its gradient norm was not; the update was not applied.

    Raised by :func:`fit` with ``nonfinite_grad="raise"``.
    """


class NonFiniteGradWarning(RuntimeWarning):
    """:func:`fit` skipped steps whose gradient norm was not finite (once per epoch)."""


@dataclass
class History:
    """What :func:`fit` did, one list entry per completed epoch.

    Attributes
    ----------
    epoch : list of int
        1-based epoch numbers.
    train_loss : list of float
        Mean of the step losses over the epoch's batches.
    val_metric : list of float or None
        ``validate(model)`` after the epoch; None without ``validate``.
    lr : list of float
        Learning rate of the first parameter group during the epoch.
    time : list of float
        Seconds the epoch took, validation included.
    steps : list of int
        Optimizer steps taken in the epoch.
    skipped_steps : list of int
        Steps of the epoch whose update was skipped because their gradient norm
        was NaN or infinite (``nonfinite_grad="skip"``); ``steps`` does not count them.
    best_epoch, best_metric : int or None, float or None
        The epoch with the best validation metric, and that metric.
    stopped_early : bool
        True when ``patience`` ran out before ``epochs``, or a callback raised
        :class:`~numrnn.training.StopTraining`.
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_metric: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    time: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    skipped_steps: list = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False

    def __len__(self) -> int:
        return len(self.epoch)


def fit(model: Module, batches: Iterable[Any] | Callable[[int], Iterable[Any]],
        step: Callable[..., Any], optimizer: Optimizer, *, epochs: int = 1,
        scheduler: LRScheduler | None = None, clip_grad_norm: float | None = None,
        validate: Callable[[Module], float] | None = None, mode: str = "min",
        patience: int | None = None, min_delta: float = 0.0, restore_best: bool = False,
        checkpoint: PathLike | None = None, resume: PathLike | None = None,
        generators: Generators | None = None,
        on_epoch_end: Callable[..., Any] | None = None, callbacks: Any = None,
        progress: bool | None = None, desc: str = "epoch", nonfinite_grad: str = "skip") -> History:
    """Train ``model`` for up to ``epochs`` passes over ``batches``; return a :class:`History`.

    Parameters
    ----------
    model : Module
        Put in training mode for the steps and in eval mode (under ``no_grad``)
        for ``validate``.
    batches : iterable, or callable ``batches(epoch) -> iterable``
        The batches of one epoch. An iterable is iterated afresh every epoch (a
        list, a :class:`~numrnn.data.BucketIterator`, a
        :class:`~numrnn.training.StreamChunks`); a callable gets the 0-based
        epoch index, for data made per epoch. ``len()`` sizes the progress bar.
    step : callable ``step(model, batch) -> Tensor``
        The scalar loss of one batch, with its graph: ``fit`` calls
        ``backward()`` on it.
    optimizer : numrnn.optim.Optimizer
        One with a ``synchronize(loss=...)`` method, such as
        :class:`numrnn.distributed.DistributedOptimizer`, has it called after
        each backward: the gradients and the loss become those of the global
        batch of a data-parallel run before they are checked, clipped and used.
    epochs : int, default 1
    scheduler : LRScheduler, optional
        Stepped once after each epoch; a ``ReduceLROnPlateau`` gets the
        validation metric (so it needs ``validate``).
    clip_grad_norm : float, optional
        Rescale the gradients to at most this joint 2-norm before each update.
    nonfinite_grad : {"skip", "raise"}, default "skip"
        What to do with a step whose loss is finite but whose gradient is not
        (a NaN, or an overflow to inf in a float32 backward). Every step's
        joint 2-norm of the model's gradients (the one ``clip_grad_norm``
        scales by, computed once per step either way; in float64, so float32
        gradients give a non-finite norm only through a NaN or inf element) is
        checked before any update. "skip" leaves the weights and the
        optimizer's state as they were, drops the gradients, counts the step
        in ``History.skipped_steps`` and warns once per epoch with a
        :class:`NonFiniteGradWarning`; "raise" raises
        :class:`NonFiniteGradError` naming the parameters, weights untouched.
    validate : callable ``validate(model) -> float``, optional
        The metric computed after every epoch: lower is better with
        ``mode="min"`` (a loss), higher with ``mode="max"`` (an accuracy).
    patience : int, optional
        Stop after this many epochs in a row without improving the best
        validation metric by more than ``min_delta``. Needs ``validate``.
    restore_best : bool, default False
        At the end, load the weights of the best epoch back into ``model``
        (kept in memory; needs ``validate``).
    checkpoint : str or os.PathLike, optional
        A file written atomically after each epoch that improves the validation
        metric, or after every epoch without ``validate``: the model's weights
        (``numrnn.load_model`` and ``numrnn.load`` read them as from
        :func:`numrnn.save`) and what ``resume`` needs: the optimizer's and the
        scheduler's state, the epoch, the early-stopping counters, the state of
        every module's ``rng``, of ``generators`` and of
        ``numrnn.default_generator()``, and the ``epoch`` of ``batches`` when it
        has one (a ``BucketIterator``).
    resume : str or os.PathLike, optional
        A ``checkpoint`` to go on from: it is loaded into ``model``,
        ``optimizer``, ``scheduler`` and ``generators`` (built as for the run
        that wrote it; anything else is a :class:`~numrnn.FormatError` before
        any of them changes) and training continues with the epoch after the
        saved one, up to ``epochs`` in all. The result is bit-identical to a
        run that was never interrupted. The History holds the new epochs only.
    generators : numpy Generator or dict of str to Generator, optional
        Generators outside the model that the run draws from (shuffling in
        ``batches``, noise in ``step``): saved in ``checkpoint`` and restored
        by ``resume``. The modules' own ``rng`` and numrnn's default generator
        (what ``rng=None`` draws from) are always included.
    on_epoch_end : callable ``on_epoch_end(history)``, optional
        Called after each epoch's record is appended (to print, log, plot).
    callbacks : object or list of objects, optional
        Each with ``on_step_end(step, loss)`` and/or ``on_epoch_end(epoch,
        history)``, called in order; raising
        :class:`~numrnn.training.StopTraining` from either ends the run (see
        :mod:`numrnn.training.callbacks`).
    progress : bool or None, default None
        True shows a tqdm bar per epoch with the running loss and steps per
        second. None shows the bar when stderr is a terminal and otherwise
        writes one plain line per epoch to stderr (``epoch 3/10: loss 0.1234,
        val 0.5678, lr 0.001, 120 steps, 4.2 s``), so a job whose output goes
        to a file (``nohup ... > log``) logs its progress without bar
        redraws. False prints nothing at all.
    desc : str, default "epoch"
        Label of the progress bar and of the epoch lines.

    Raises
    ------
    NonFiniteLossError
        When a step's loss is NaN or infinite (before that update is applied).
    NonFiniteGradError
        With ``nonfinite_grad="raise"``, when a step's gradient norm is NaN or
        infinite (before that update is applied).
    """
    _check_arguments(epochs, mode, patience, min_delta, restore_best, validate, scheduler,
                     nonfinite_grad)
    callbacks = check_callbacks(callbacks)
    epoch_lines = False
    if progress is None:
        progress = _stderr_is_terminal()
        epoch_lines = not progress and sys.stderr is not None
    better = _improvement_test(mode, min_delta)
    history = History()
    best_state = None
    epochs_without_improvement = 0
    steps_so_far = 0
    first_epoch = 1
    if resume is not None:
        resumed = load_checkpoint(resume, model, optimizer, scheduler=scheduler,
                                  generators=generators)
        first_epoch = resumed.epoch + 1
        history.best_epoch, history.best_metric = resumed.best_epoch, resumed.best_metric
        epochs_without_improvement = resumed.epochs_without_improvement
        if resumed.batches_epoch is not None and _has_epoch(batches):
            batches.epoch = resumed.batches_epoch
        if restore_best and resumed.best_epoch is not None:
            # A checkpoint with validation is written at the best epoch, so its
            # weights are the best ones.
            best_state = model.state_dict()
    for epoch in range(first_epoch, epochs + 1):
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        epoch_batches = batches(epoch - 1) if callable(batches) else batches
        # Updated by hand rather than wrapping the iterable: tqdm closes a wrapping bar
        # when the iteration ends, before the validation metric could join it.
        bar = tqdm(total=_length(epoch_batches), desc=f"{desc} {epoch}/{epochs}", unit="step",
                   disable=not progress, dynamic_ncols=True)
        model.train()
        total, count, skipped = 0.0, 0, 0
        stop = None
        for batch in epoch_batches:
            value, updated = _train_step(model, batch, step, optimizer, clip_grad_norm,
                                         nonfinite_grad, epoch, count)
            total += value
            count += 1
            skipped += not updated
            bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
            bar.update()
            steps_so_far += 1
            stop = call_hooks(callbacks, "on_step_end", steps_so_far, value)
            if stop is not None:
                break
        train_loss = total / count if count else math.nan

        metric = None
        if validate is not None:
            model.eval()
            with no_grad():
                metric = float(validate(model))
            model.train()
            bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{metric:.4f}")
        bar.close()
        if skipped:
            warnings.warn(f"fit: epoch {epoch}: skipped {skipped} of {count} steps because their "
                          "gradient norm was NaN or infinite (their loss was finite); the "
                          "weights and the optimizer's state were left as they were on those "
                          "steps. Lower the learning rate or the loss scale, or pass "
                          "nonfinite_grad='raise' to stop at the first one",
                          NonFiniteGradWarning, stacklevel=2)

        improved = metric is not None and (history.best_metric is None
                                           or better(metric, history.best_metric))
        if improved:
            history.best_epoch, history.best_metric = epoch, metric
            epochs_without_improvement = 0
            if restore_best:
                best_state = model.state_dict()
        elif metric is not None:
            epochs_without_improvement += 1
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(metric)
        elif scheduler is not None:
            scheduler.step()
        if checkpoint is not None and (validate is None or improved):
            # After the schedule's step: a resumed run starts from the next epoch's rate.
            save_checkpoint(checkpoint, model, optimizer, epoch=epoch, scheduler=scheduler,
                            generators=generators, best_epoch=history.best_epoch,
                            best_metric=history.best_metric,
                            epochs_without_improvement=epochs_without_improvement,
                            batches_epoch=batches.epoch if _has_epoch(batches) else None)

        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.val_metric.append(metric)
        history.lr.append(lr)
        history.time.append(time.perf_counter() - started)
        history.steps.append(count - skipped)
        history.skipped_steps.append(skipped)
        if epoch_lines:
            write_epoch_line(history, epochs, desc)
        if on_epoch_end is not None:
            on_epoch_end(history)
        stop = call_hooks(callbacks, "on_epoch_end", epoch, history) or stop
        if stop is not None:
            history.stopped_early = True
            break
        if patience is not None and epochs_without_improvement >= patience:
            history.stopped_early = epoch < epochs
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _train_step(model, batch, step, optimizer, clip_grad_norm, nonfinite_grad, epoch, index):
    """One step; returns the loss and whether the optimizer updated the weights."""
    optimizer.zero_grad()
    loss = step(model, batch)
    if not isinstance(loss, Tensor) or loss.size != 1:
        got = f"shape {loss.shape}" if isinstance(loss, Tensor) else type(loss).__name__
        raise ShapeError(f"fit: step(model, batch) must return a one-element loss Tensor, "
                         f"got {got}")
    value = loss.item()
    exchange = getattr(optimizer, "synchronize", None)
    if callable(exchange):
        # A data-parallel optimizer (numrnn.distributed.DistributedOptimizer) turns each
        # rank's gradient and loss into the global batch's here. Every rank must reach
        # that exchange, so a non-finite loss is raised by it on all ranks at once; raised
        # here on one rank, it would leave the others waiting forever.
        if math.isfinite(value):
            loss.backward()
        value = exchange(loss=value)
    elif not math.isfinite(value):
        raise NonFiniteLossError(f"fit: the loss of epoch {epoch}, step {index + 1} is {value}; "
                                 "lower the learning rate or set clip_grad_norm")
    else:
        loss.backward()
    parameters = list(model.parameters())
    # The norm clipping needs, computed once: it is also the finiteness check.
    norm = get_total_norm([param.grad for param in parameters if param.grad is not None])
    if not math.isfinite(norm):
        if nonfinite_grad == "raise":
            culprits = [name for name, param in model.named_parameters()
                        if param.grad is not None and not np.isfinite(param.grad).all()]
            raise NonFiniteGradError(
                f"fit: the gradient of epoch {epoch}, step {index + 1} has a 2-norm of {norm} "
                f"(loss {value}), non-finite in {', '.join(culprits) or 'no model parameter'}; "
                "the update was not applied. Lower the learning rate or the loss scale, or "
                "pass nonfinite_grad='skip' to skip such steps")
        optimizer.zero_grad()
        for param in parameters:
            param.grad = None
        return value, False
    if clip_grad_norm is not None:
        clip_grads_with_norm_(parameters, clip_grad_norm, norm)
    optimizer.step()
    return value, True


def _stderr_is_terminal():
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


class _ReshuffledBatches(Protocol):
    epoch: int


def _has_epoch(batches: object) -> TypeGuard[_ReshuffledBatches]:
    epoch = getattr(batches, "epoch", None)
    return not callable(batches) and isinstance(epoch, int) and not isinstance(epoch, bool)


def _length(iterable):
    try:
        return len(iterable)
    except TypeError:
        return None


def _improvement_test(mode, min_delta):
    if mode == "min":
        return lambda metric, best: metric < best - min_delta
    return lambda metric, best: metric > best + min_delta


def _check_arguments(epochs, mode, patience, min_delta, restore_best, validate, scheduler,
                     nonfinite_grad):
    if nonfinite_grad not in _NONFINITE_GRAD_CHOICES:
        raise ArgumentError(f"fit: nonfinite_grad must be one of {_NONFINITE_GRAD_CHOICES}, "
                            f"got {nonfinite_grad!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ArgumentError(f"fit: epochs must be a positive int, got {epochs!r}")
    if mode not in ("min", "max"):
        raise ArgumentError(f"fit: mode must be 'min' or 'max', got {mode!r}")
    if patience is not None and (isinstance(patience, bool)
                                 or not isinstance(patience, numbers.Integral) or patience < 1):
        raise ArgumentError(f"fit: patience must be a positive int or None, got {patience!r}")
    if not isinstance(min_delta, numbers.Real) or min_delta < 0:
        raise ArgumentError(f"fit: min_delta must be a number >= 0, got {min_delta!r}")
    needs_metric = [name for name, wanted in (("patience", patience is not None),
                                              ("restore_best", restore_best),
                                              ("ReduceLROnPlateau",
                                               isinstance(scheduler, ReduceLROnPlateau)))
                    if wanted]
    if needs_metric and validate is None:
        raise ArgumentError(f"fit: {', '.join(needs_metric)} needs a validation metric; "
                            "pass validate=callable(model) -> float")
