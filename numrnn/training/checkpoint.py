"""Checkpoints that resume training exactly: weights plus optimizer, schedule, epoch and generators.

The generators are every module's ``rng``, those given to ``fit``, and
``numrnn.default_generator()`` (what ``rng=None`` draws from, as
``F.dropout`` in a forward without ``rng`` does).

A checkpoint is the model's weight file (``numrnn.load_model`` and
``numrnn.load(path, model)`` read it as any other) with the training state
in its ``numrnn.training`` metadata, arrays in tensors of that prefix (see
:mod:`numrnn.io.state_tree`). Loading checks the whole state against the
objects it goes into before it changes any of them, and puts everything back
should a load still fail halfway: a refused checkpoint leaves model,
optimizer, scheduler and generators as they were.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from numrnn.defaults import default_generator
from numrnn.errors import FormatError, NumrnnError
from numrnn.io.config import module_spec
from numrnn.io.load import check_into, read_training_state
from numrnn.io.save import TRAINING_KEY, write_file
from numrnn.io.untrusted_json import brief
from numrnn.optim.lr_scheduler import LRScheduler

if TYPE_CHECKING:
    from numrnn.nn.module import Module
    from numrnn.optim.optimizer import Optimizer
    from numrnn.typing import Generators, PathLike

CHECKPOINT_VERSION = 1
_KEYS = {"version", "epoch", "optimizer", "scheduler", "generators", "fit"}
_FIT_KEYS = {"best_epoch", "best_metric", "epochs_without_improvement", "batches_epoch"}
DEFAULT_GENERATOR_NAME = "numrnn.default_generator"


@dataclass
class Resumed:
    """Where a checkpoint left off (what :func:`load_checkpoint` returns).

    Attributes
    ----------
    epoch : int
        The last completed epoch (1-based); training goes on with ``epoch + 1``.
    best_epoch, best_metric : int or None, float or None
        The best validation metric so far and its epoch.
    epochs_without_improvement : int
        Epochs since the best one, for ``patience``.
    batches_epoch : int or None
        The ``epoch`` attribute of ``fit``'s batches (a ``BucketIterator``'s
        next shuffle) when they had one.
    """

    epoch: int
    best_epoch: int | None = None
    best_metric: float | None = None
    epochs_without_improvement: int = 0
    batches_epoch: int | None = None


def module_generators(model, generators=None):
    """``{name: numpy Generator}``: every module's ``rng``, ``generators`` by their names,
    and numrnn's default generator (named ``"numrnn.default_generator"``).

    ``generators`` is a Generator (named ``"generator"``) or a dict of them.
    """
    found = {f"model.{name}.rng" if name else "model.rng": module.rng
             for name, module in model.named_modules()
             if isinstance(getattr(module, "rng", None), np.random.Generator)}
    if isinstance(generators, np.random.Generator):
        generators = {"generator": generators}
    for name, generator in (generators or {}).items():
        if not isinstance(name, str) or not isinstance(generator, np.random.Generator):
            raise FormatError(f"checkpoint: generators must map str names to numpy Generators, "
                              f"got {name!r}: {type(generator).__name__}")
        if name == DEFAULT_GENERATOR_NAME:
            raise FormatError(f"checkpoint: the name {name!r} is kept for "
                              "numrnn.default_generator(), which is always saved")
        found[name] = generator
    # Looked up at each save and load, not kept: manual_seed replaces the generator.
    found[DEFAULT_GENERATOR_NAME] = default_generator()
    return found


def save_checkpoint(path: PathLike, model: Module, optimizer: Optimizer, *, epoch: int,
                    scheduler: LRScheduler | None = None,
                    generators: Generators | None = None,
                    best_epoch: int | None = None, best_metric: float | None = None,
                    epochs_without_improvement: int = 0, batches_epoch: int | None = None) -> None:
    """Write the weights of ``model`` and everything needed to resume after ``epoch``.

    Parameters
    ----------
    path : str or os.PathLike
        Written atomically, as by :func:`numrnn.save`.
    model : Module
    optimizer : Optimizer
    epoch : int
        The last completed epoch.
    scheduler : LRScheduler, optional
    generators : numpy Generator or dict of str to Generator, optional
        Generators beyond the modules' own ``rng`` and numrnn's default
        generator (those are always saved): the one the batches are shuffled
        with, one a ``step`` draws noise from.
    best_epoch, best_metric, epochs_without_improvement, batches_epoch
        ``fit``'s own progress (early stopping, a ``BucketIterator``'s epoch).
    """
    state = {
        "version": CHECKPOINT_VERSION,
        "epoch": epoch,
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "generators": {name: _plain(generator.bit_generator.state)
                       for name, generator in module_generators(model, generators).items()},
        "fit": {"best_epoch": best_epoch, "best_metric": best_metric,
                "epochs_without_improvement": epochs_without_improvement,
                "batches_epoch": batches_epoch},
    }
    write_file(path, model.state_dict(), spec=module_spec(model), state=(TRAINING_KEY, state))


def load_checkpoint(path: PathLike, model: Module, optimizer: Optimizer, *,
                    scheduler: LRScheduler | None = None,
                    generators: Generators | None = None) -> Resumed:
    """Restore a checkpoint written by :func:`save_checkpoint` or ``fit``; return :class:`Resumed`.

    ``model``, ``optimizer``, ``scheduler`` and ``generators`` must be built as
    for the run that wrote it. Raises :class:`FormatError` naming the file and
    what differs (a missing scheduler, another optimizer's options, a shape, a
    generator of another kind) before anything is changed.
    """
    where = os.fspath(path)
    weights, state = read_training_state(path)
    named_generators = module_generators(model, generators)
    check_into(model, weights, where)
    _check_state(state, optimizer, scheduler, named_generators, where)

    saved = (model.state_dict(), optimizer.state_dict(),
             None if scheduler is None else scheduler.state_dict(),
             {name: generator.bit_generator.state for name, generator in named_generators.items()})
    try:
        _apply(model, optimizer, scheduler, named_generators,
               (weights, state["optimizer"], state["scheduler"], state["generators"]))
    except (NumrnnError, ValueError, TypeError, KeyError) as exc:
        _apply(model, optimizer, scheduler, named_generators, saved)
        raise FormatError(f"{where}: the training state could not be restored ({exc}); "
                          "nothing was changed") from exc
    progress = state["fit"]
    return Resumed(state["epoch"], **progress)


def _apply(model, optimizer, scheduler, generators, states):
    weights, optimizer_state, scheduler_state, generator_states = states
    model.load_state_dict(weights)
    optimizer.load_state_dict(optimizer_state)
    if scheduler is not None:
        scheduler.load_state_dict(scheduler_state)
    for name, generator in generators.items():
        generator.bit_generator.state = generator_states[name]


def _check_state(state, optimizer, scheduler, generators, where):
    def refuse(message):
        raise FormatError(f"{where}: {message}")

    if not isinstance(state, dict) or set(state) != _KEYS:
        refuse(f"the training state must hold {sorted(_KEYS)}, got {brief(state)}")
    if state["version"] != CHECKPOINT_VERSION:
        refuse(f"checkpoint version {brief(state['version'])}, this numrnn reads "
               f"{CHECKPOINT_VERSION}")
    if not _is_count(state["epoch"]) or state["epoch"] < 1:
        refuse(f"epoch must be an int >= 1, got {brief(state['epoch'])}")
    progress = state["fit"]
    if not isinstance(progress, dict) or set(progress) != _FIT_KEYS:
        refuse(f"'fit' must hold {sorted(_FIT_KEYS)}, got {brief(progress)}")
    for key in ("best_epoch", "batches_epoch"):
        if progress[key] is not None and not _is_count(progress[key]):
            refuse(f"'fit' {key} must be an int >= 0 or None, got {brief(progress[key])}")
    if not _is_count(progress["epochs_without_improvement"]):
        refuse(f"'fit' epochs_without_improvement must be an int >= 0, "
               f"got {brief(progress['epochs_without_improvement'])}")
    if progress["best_metric"] is not None and not _is_number(progress["best_metric"]):
        refuse(f"'fit' best_metric must be a number or None, got {brief(progress['best_metric'])}")

    _check_optimizer_state(state["optimizer"], optimizer, refuse)
    if (scheduler is None) != (state["scheduler"] is None):
        refuse("the checkpoint was written " + ("with" if scheduler is None else "without")
               + " a learning-rate scheduler; resume with the same schedule")
    if scheduler is not None:
        if not isinstance(scheduler, LRScheduler):
            refuse(f"scheduler must be an LRScheduler, got {type(scheduler).__name__}")
        _check_like(state["scheduler"], scheduler.state_dict(), "scheduler", refuse)

    saved = state["generators"]
    if not isinstance(saved, dict) or set(saved) != set(generators):
        shown = sorted(saved) if isinstance(saved, dict) else brief(saved)
        refuse(f"the checkpoint holds generators {shown}, the model and generators given "
               f"have {sorted(generators)}")
    for name, generator in generators.items():
        # A probe of the same kind takes the state first: numpy checks it there, and
        # the real generator is changed only once everything has been checked.
        probe = type(generator.bit_generator)()
        try:
            probe.state = saved[name]
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            refuse(f"generator {name!r}: not a {type(probe).__name__} state "
                   f"({type(exc).__name__}: {exc})")


def _check_optimizer_state(saved, optimizer, refuse):
    current = optimizer.state_dict()
    name = type(optimizer).__name__
    if not isinstance(saved, dict) or set(saved) != {"state", "param_groups"}:
        refuse(f"the {name} state must hold 'state' and 'param_groups', got {brief(saved)}")
    groups = saved["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(current["param_groups"]):
        refuse(f"{name} has {len(current['param_groups'])} parameter groups, the checkpoint "
               f"{brief(groups)}")
    shapes = {}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for number, (group, template) in enumerate(zip(groups, current["param_groups"])):
        where = f"{name} parameter group {number}"
        if not isinstance(group, dict) or set(group) != set(template):
            refuse(f"{where} holds {sorted(template)}, the checkpoint's "
                   f"{sorted(group) if isinstance(group, dict) else brief(group)}: "
                   "another optimizer or other options")
        indices = group["params"]
        if not isinstance(indices, list) or len(indices) != len(template["params"]) \
                or not all(_is_count(index) and index < len(params) for index in indices) \
                or len(set(indices)) != len(indices):
            refuse(f"{where}: params must be {len(template['params'])} distinct parameter "
                   f"indices below {len(params)}, got {brief(indices)}")
        shapes.update((index, param.shape) for index, param in zip(indices, params))
        options = {key: value for key, value in group.items() if key != "params"}
        _check_like(options, {k: v for k, v in template.items() if k != "params"}, where, refuse)
    entries = saved["state"]
    if not isinstance(entries, dict):
        refuse(f"{name} 'state' must be a dict, got {brief(entries)}")
    for index, values in entries.items():
        if index not in shapes or not isinstance(values, dict):
            refuse(f"{name} state for parameter {brief(index)}, which no group lists")
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                if value.shape != shapes[index]:
                    refuse(f"{name} state {key!r} of parameter {index} has shape {value.shape}, "
                           f"the parameter {shapes[index]}")
            elif not isinstance(key, str) or not _is_number(value):
                refuse(f"{name} state {brief(key)} of parameter {index} must be a number or an "
                       f"array, got {brief(value)}")


def _check_like(saved, template, where, refuse):
    """``saved`` has the keys, lengths and kinds of values of ``template``."""
    if isinstance(template, dict):
        if not isinstance(saved, dict) or set(saved) != set(template):
            refuse(f"{where} holds {sorted(template)}, the checkpoint "
                   f"{sorted(saved) if isinstance(saved, dict) else brief(saved)}")
        for key, value in template.items():
            _check_like(saved[key], value, f"{where} {key!r}", refuse)
    elif isinstance(template, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(template):
            refuse(f"{where} must hold {len(template)} entries, got {brief(saved)}")
        for index, (item, value) in enumerate(zip(saved, template)):
            _check_like(item, value, f"{where}[{index}]", refuse)
    elif _is_number(template):
        if not _is_number(saved):
            refuse(f"{where} must be a number, got {brief(saved)}")
    elif type(saved) is not type(template):
        refuse(f"{where} must be {brief(template)}-like ({type(template).__name__}), "
               f"got {brief(saved)}")


def _is_number(value):
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_))


def _is_count(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def _plain(state):
    """A bit generator's state as numbers: arrays (MT19937's key) become lists of ints."""
    if isinstance(state, dict):
        return {key: _plain(value) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    if isinstance(state, np.integer):
        return int(state)
    return state
