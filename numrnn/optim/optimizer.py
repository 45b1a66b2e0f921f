"""The Optimizer base: parameter groups, per-parameter state, save and resume.

A subclass supplies its default options, checks them, and writes the update of
one parameter in :meth:`Optimizer._update`; everything else lives here. Names
and the ``state_dict`` layout follow ``torch.optim`` so that training scripts
and habits carry over:

``state_dict()`` returns ``{"state": {index: {name: value}}, "param_groups":
[{option: value, ..., "params": [index, ...]}]}``, where ``index`` numbers the
parameters across all groups in order. Values are plain Python numbers and
NumPy arrays, so ``numrnn.save(optimizer.state_dict(), path)`` writes it to a
safetensors file without pickle and ``numrnn.load(path)`` gives it back.
"""

from __future__ import annotations

import abc
import copy
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import enable_grad
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any


class Optimizer(abc.ABC):
    """Base class of every optimizer: holds ``param_groups`` and ``state``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        The tensors to optimize, or dicts each with a ``"params"`` entry (a
        Tensor or an iterable of them) and any options that should differ from
        ``defaults`` for that group (``{"params": decoder, "lr": 1e-4}``).
    defaults : dict
        Option values used wherever a group does not set its own.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: its options and ``"params"``, a list of Tensors.
        Change ``group["lr"]`` to change the learning rate (schedulers do).
    state : dict
        Per-parameter state (moment estimates, step counts), keyed by the
        parameter Tensor and created on the parameter's first update.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        # dtype -> one flat array that :meth:`_work_arrays` carves work arrays from, and
        # the arrays carved from it so far, by (shape, dtype, count).
        self._work: dict[np.dtype, np.ndarray] = {}
        self._work_views: dict[tuple[Any, ...], list[np.ndarray]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise ArgumentTypeError(
                f"{self._name}: params must be an iterable of Tensors or of dicts, got a single "
                "Tensor; wrap it in a list"
            )
        groups = list(params)
        if not groups:
            raise ArgumentError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self):
        return type(self).__name__

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a new layer to fine-tune)."""
        if not isinstance(group, dict):
            raise ArgumentTypeError(f"{self._name}: a parameter group must be a dict, "
                                    f"got {type(group).__name__}")
        if "params" not in group:
            raise ArgumentError(f"{self._name}: a parameter group needs a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for position, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise ArgumentTypeError(f"{self._name}: parameter {position} of group "
                                        f"{len(self.param_groups)} must be a Tensor, "
                                        f"got {type(param).__name__}")
            if not param.is_leaf:
                raise ArgumentError(f"{self._name}: can only optimize leaf tensors; parameter "
                                    f"{position} of group {len(self.param_groups)} was made by "
                                    "an op")
            if param.dtype.kind != "f":
                raise DTypeError(f"{self._name}: parameters must be float32 or float64, "
                                 f"parameter {position} is {param.dtype}")
        # A parameter updated by two groups would take two steps per call.
        seen = {id(p) for existing in self.param_groups for p in existing["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ArgumentError(f"{self._name}: a parameter appears more than once across the "
                                "parameter groups")
        new_group = {key: value for key, value in group.items() if key != "params"}
        for key, value in self.defaults.items():
            new_group.setdefault(key, value)
        self._check_options(new_group)
        new_group["params"] = params
        self.param_groups.append(new_group)

    def _check_options(self, group):
        """Refuse option values the update rule cannot use; subclasses extend this."""
        lr = group.get("lr")
        if lr is not None and not lr >= 0.0:
            raise ArgumentError(f"{self._name}: lr must be >= 0, got {lr}")
        weight_decay = group.get("weight_decay", 0.0)
        if not weight_decay >= 0.0:
            raise ArgumentError(f"{self._name}: weight_decay must be >= 0, got {weight_decay}")

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (the next backward starts afresh)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.grad = None

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; those whose ``.grad`` is None are skipped.

        ``closure``, when given, is called first (with gradient recording on)
        to recompute the loss, which is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = np.asarray(param.grad)
                if grad.shape != param.data.shape:
                    raise ShapeError(f"{self._name}: gradient has shape {grad.shape}, its "
                                     f"parameter has shape {param.data.shape}")
                # Work in the parameter's dtype so float32 state stays float32.
                grad = grad.astype(param.data.dtype, copy=False)
                self._update(param.data, grad, self.state.setdefault(param, {}), group)
        return loss

    def _work_arrays(self, data, count):
        """``count`` arrays shaped and typed like ``data``, contents arbitrary, for one update.

        Carved from memory the optimizer keeps: an update that works in place through
        them allocates nothing, where each temporary of a formula written with
        operators (``beta * m + (1 - beta) * g``) is a fresh array the size of the
        parameter, every parameter and every step. The memory grows to ``count`` times
        the largest parameter and is shared by all of them, so the arrays are only
        valid until the next call; they are not part of the state (nor of
        :meth:`state_dict`).
        """
        key = (data.shape, data.dtype, count)
        arrays = self._work_views.get(key)
        if arrays is None:
            size = data.size
            work = self._work.get(data.dtype)
            if work is None or work.size < count * size:
                work = self._work[data.dtype] = np.empty(count * size, dtype=data.dtype)
                # Carved from the smaller array this one replaces, which they keep alive.
                for stale in [other for other in self._work_views if other[1] == data.dtype]:
                    del self._work_views[stale]
            arrays = [work[i * size:(i + 1) * size].reshape(data.shape) for i in range(count)]
            self._work_views[key] = arrays
        return arrays

    @abc.abstractmethod
    def _update(self, data, grad, state, group):
        """Update ``data`` (the parameter's ndarray) in place from ``grad``.

        ``state`` is this parameter's dict (empty on its first update), ``group``
        its options. ``grad`` must not be modified: it may be ``param.grad`` itself.
        """

    # -- save and resume ------------------------------------------------------
    def _indexed_params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """A copy of the optimizer's state and options, parameters named by index."""
        index_of = {id(p): i for i, p in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            saved = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            saved["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {
            index_of[id(param)]: {key: _copy_value(value) for key, value in entries.items()}
            for param, entries in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore options and state saved by :meth:`state_dict`.

        The saved optimizer must have had as many groups, as many parameters in
        each, and state arrays of the parameters' shapes; otherwise
        :class:`~numrnn.errors.ShapeError` names what differs and nothing is changed.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ShapeError(f"{self._name}.load_state_dict: expected a dict with keys 'state' "
                             "and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ShapeError(f"{self._name}.load_state_dict: the optimizer has "
                             f"{len(self.param_groups)} parameter groups, the state dict has "
                             f"{len(saved_groups)}")
        by_index: dict[int, Tensor] = {}
        for number, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ShapeError(f"{self._name}.load_state_dict: parameter group {number} has "
                                 f"{len(group['params'])} parameters, the state dict's has "
                                 f"{len(saved['params'])}")
            by_index.update(zip(saved["params"], group["params"]))
        new_state = {}
        for index, entries in state_dict["state"].items():
            if index not in by_index:
                raise ShapeError(f"{self._name}.load_state_dict: state for parameter {index}, "
                                 "which no parameter group lists")
            param = by_index[index]
            restored = {}
            for key, value in entries.items():
                if isinstance(value, np.ndarray):
                    if value.shape != param.data.shape:
                        raise ShapeError(f"{self._name}.load_state_dict: state {key!r} of "
                                         f"parameter {index} has shape {value.shape}, the "
                                         f"parameter has shape {param.data.shape}")
                    value = value.astype(param.data.dtype, copy=True)
                restored[key] = copy.deepcopy(value)
            new_state[param] = restored
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            options = {key: copy.deepcopy(value) for key, value in saved.items() if key != "params"}
            options["params"] = group["params"]
            new_groups.append(options)
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [f"{self._name} ("]
        for number, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {number}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines) + "\n)"


def _copy_value(value):
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)
