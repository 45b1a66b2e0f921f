"""Module: a container of Parameters, buffers and sub-Modules, with PyTorch's interface.

Attributes that are :class:`Parameter` or :class:`Module` instances register
themselves, in assignment order, so ``named_parameters()`` and ``state_dict()``
list them the way ``torch.nn.Module`` does: a module's own parameters first,
then each child's, recursively, with dotted names (``encoder.weight_ih_l0``).
Buffers (:meth:`Module.register_buffer`) are state that is saved and converted
with the module but never trained, such as running statistics.

A list, tuple or dict holding Modules or Parameters is refused as an attribute,
because a plain container would hide them from ``parameters()`` and nothing in
it would train or be saved: :class:`~numrnn.nn.ModuleList` and
:class:`~numrnn.nn.ModuleDict` register their members. A plain container that
comes to hold one later (``self.layers = []``, then ``self.layers.append(...)``)
is refused the same way when the module is walked (``parameters()``,
``state_dict()``, ``named_modules()``, ``train()``...), which every training
and saving path does first.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.nn.parameter import Parameter
from numrnn.nn.state import (
    checked_buffer,
    convert_dtype,
    dtype_of_to,
    load_checked_state,
    state_tensors,
)
from numrnn.nn.substitution import functional_call, substituted_parameters

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    import numpy.typing as npt
    from typing_extensions import Self

    from numrnn.autograd.tensor import Tensor

__all__ = ["IncompatibleKeys", "Module", "functional_call", "substituted_parameters"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
# The dicts that register members: they hold Modules and Parameters by design.
_REGISTRIES = frozenset({"_parameters", "_modules", "_buffers"})


class Module:
    """Base class of every layer; subclasses call ``super().__init__()`` first.

    A subclass assigns its Parameters and sub-Modules as attributes in
    ``__init__`` and defines ``forward``; calling the module calls ``forward``.
    ``extra_repr`` returns the constructor arguments to show in ``repr``.
    """

    def __init__(self) -> None:
        self._parameters: dict[str, Parameter | None] = {}
        # Any, not Module | None: the containers' slots always hold modules.
        self._modules: dict[str, Any] = {}
        self._buffers: dict[str, Tensor | None] = {}
        self._non_persistent_buffers: set[str] = set()
        self.training = True

    # -- registration ---------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        registries: tuple[Any, Any, Any] = (
            self.__dict__.get("_parameters"), self.__dict__.get("_modules"),
            self.__dict__.get("_buffers"))
        if isinstance(value, (Parameter, Module)):
            if registries[0] is None:
                raise AttributeError(
                    f"{type(self).__name__}: call super().__init__() before assigning "
                    f"the {type(value).__name__} '{name}'"
                )
            self.__dict__.pop(name, None)
            for registry in registries:
                registry.pop(name, None)
            self._non_persistent_buffers.discard(name)
            registry = registries[0] if isinstance(value, Parameter) else registries[1]
            registry[name] = value
            return
        if registries[2] is not None and name in registries[2]:
            persistent = name not in self._non_persistent_buffers
            registries[2][name] = checked_buffer(type(self).__name__, name, value, persistent)
            return
        for kind, registry in zip(("a Parameter", "a Module"), registries):
            if registry is not None and name in registry:
                raise ArgumentTypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} to "
                    f"'{name}', which holds {kind}; assign {kind} or delete it first"
                )
        _refuse_hidden_members(type(self).__name__, name, value)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: registered members live in the dicts.
        for key in ("_parameters", "_modules", "_buffers"):
            registry = self.__dict__.get(key, {})
            if name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._modules, self._buffers):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or None) as the child ``name``, as ``setattr`` would.

        For names that are not identifiers (``ModuleDict`` keys); a name that
        already belongs to another attribute, or holds a dot, is refused.
        """
        _check_member_name(self, "add_module", name)
        if module is not None and not isinstance(module, Module):
            raise ArgumentTypeError(f"{type(self).__name__}.add_module: expected a Module, "
                                    f"got {type(module).__name__}")
        self._modules[name] = module

    register_module = add_module

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: an array the module keeps and saves but does not train.

        Parameters
        ----------
        name : str
            Attribute name; ``self.<name>`` then returns the buffer as a Tensor.
        tensor : Tensor, ndarray or None
            Kept as given (an ndarray is wrapped without a copy). ``None``
            reserves the name; it is then left out of ``state_dict``.
            Assigning to ``self.<name>`` later replaces the buffer.
        persistent : bool, default True
            Whether ``state_dict`` (and so ``numrnn.save``) includes it. A
            persistent buffer must be float32 or float64, the dtypes weight
            files hold (a :class:`DTypeError` otherwise, here and when it is
            assigned later); keep integer or boolean state, such as a step
            count, with ``persistent=False``.

        Notes
        -----
        Buffers are listed by ``buffers()``/``named_buffers()``, not by
        ``parameters()``; ``to(dtype)`` converts the floating ones.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"registering the buffer '{name}'")
        _check_member_name(self, "register_buffer", name)
        self._buffers[name] = checked_buffer(f"{type(self).__name__}.register_buffer", name, tensor,
                                         bool(persistent))
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    # -- traversal -------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct sub-module, in registration order."""
        return ((name, module) for name, module in self._modules.items() if module is not None)

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module ('' by default) and every descendant.

        A module reachable twice is listed once, under its first name.
        """
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            _refuse_hidden_attributes(module)
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs in PyTorch's order; a shared Parameter once."""
        return _named_members(self, "_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer Tensor) pairs, persistent or not; None buffers are skipped."""
        return _named_members(self, "_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # -- modes, gradients, dtypes ------------------------------------------------
    def train(self, mode: bool = True) -> Self:
        """Set training mode (dropout active) on this module and its descendants."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Self:
        """Evaluation mode: same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Self:
        """Switch gradient recording on or off for every parameter; returns self.

        ``model.encoder.requires_grad_(False)`` freezes the encoder: its
        parameters get no ``.grad`` and an optimizer leaves them unchanged.
        """
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise ArgumentTypeError(f"{type(self).__name__}.requires_grad_: expected True or "
                                    f"False, got {requires_grad!r}")
        for param in self.parameters():
            param.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``.grad = None``, as PyTorch does by default)."""
        for param in self.parameters():
            param.grad = None

    def to(self, *args: Any, device: str | None = None, dtype: npt.DTypeLike | None = None) -> Self:
        """Convert every parameter and floating buffer to ``dtype``, in place; returns self.

        Called as PyTorch's ``Module.to``: ``to(dtype)``, ``to(device)``,
        ``to(device, dtype)`` or with the keywords.

        Parameters
        ----------
        device : str, optional
            ``"cpu"``, where numrnn always runs, so ``model.to("cpu")`` on a
            ported line changes nothing; any other device (``"cuda"``) is an
            :class:`ArgumentError`.
        dtype : np.float32, np.float64 or their names, optional
            The layers' ``dtype`` attribute follows, so a layer converted to
            float64 then takes float64 input. The Parameter objects stay the
            same (an optimizer made before still holds them), but an
            optimizer's running state keeps its old dtype: convert first,
            then make the optimizer, as in PyTorch.
        """
        wanted = dtype_of_to(f"{type(self).__name__}.to", args, device, dtype)
        if wanted is not None:
            convert_dtype(self, wanted)
        return self

    def float(self) -> Self:
        """``to(np.float32)``."""
        return self.to(np.float32)

    def double(self) -> Self:
        """``to(np.float64)``."""
        return self.to(np.float64)

    def apply(self, fn: Callable[..., Any]) -> Self:
        """Call ``fn(module)`` on every descendant, children before parents, then on self.

        Returns self, so ``model.apply(init_weights)`` chains like PyTorch's.
        """
        if not callable(fn):
            raise ArgumentTypeError(f"{type(self).__name__}.apply: expected a callable, "
                                    f"got {type(fn).__name__}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, npt.NDArray[Any]]:
        """Dotted name to a copy of each parameter's and persistent buffer's array.

        In PyTorch's order: each module's parameters, then its buffers, then
        its children's, recursively (``layers.0.weight`` for a ModuleList).
        """
        return {name: tensor.data.copy() for name, tensor in state_tensors(self).items()}

    def load_state_dict(self, state_dict: Mapping[str, Any],
                        strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) from ``state_dict`` into the parameters and buffers.

        Everything is checked before anything is loaded: keys missing from
        ``state_dict`` or unknown to the module (both only when ``strict``),
        wrong shapes and wrong dtypes. A value of the same kind and precision
        (e.g. big-endian float32 for float32) is converted; any other dtype is
        refused, so a float64 file never silently loses precision in a float32
        module, nor pretends to be float64. One error lists every offending key
        and the module is left unchanged: :class:`DTypeError` when all problems
        are dtypes, :class:`ShapeError` otherwise.

        Returns ``IncompatibleKeys(missing_keys, unexpected_keys)`` like PyTorch.
        """
        missing, unexpected = load_checked_state(self, state_dict, strict)
        return IncompatibleKeys(missing, unexpected)

    # -- calling and printing -----------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        """Constructor arguments to show inside ``Name(...)``; override in layers."""
        return ""

    def __repr__(self):
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        lines += [f"({name}): {_indent(repr(child))}" for name, child in self.named_children()]
        if not self._modules and len(lines) <= 1:
            return f"{type(self).__name__}({''.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _indent(text):
    return text.replace("\n", "\n  ")


def _named_members(module, registry_name, prefix, recurse):
    if not recurse:
        _refuse_hidden_attributes(module)
    owners = module.named_modules(prefix) if recurse else [(prefix, module)]
    seen = set()
    for owner_name, owner in owners:
        for name, member in getattr(owner, registry_name).items():
            if member is None or id(member) in seen:
                continue
            seen.add(id(member))
            yield (f"{owner_name}.{name}" if owner_name else name), member


def _check_member_name(module, op, name):
    where = f"{type(module).__name__}.{op}"
    if not isinstance(name, str):
        raise ArgumentTypeError(f"{where}: name must be a str, got {type(name).__name__}")
    if not name or "." in name:
        raise ArgumentError(f"{where}: name must be non-empty and hold no '.', got {name!r}")
    registered = any(name in getattr(module, key) for key in ("_modules", "_buffers"))
    if hasattr(module, name) and not registered:
        raise ArgumentError(f"{where}: '{name}' is already an attribute of "
                            f"{type(module).__name__}; choose another name")


def _refuse_hidden_members(owner, name, value):
    """Refuse a list, tuple or dict that holds Modules or Parameters, naming the fix."""
    if not isinstance(value, (list, tuple, dict)):
        return
    found = _first_hidden_member(value, set())
    if found is None:
        return
    kind = type(value).__name__
    if isinstance(found, Parameter):
        fix = "assign each Parameter to an attribute of its own"
    elif isinstance(value, dict):
        fix = f"wrap it: self.{name} = nn.ModuleDict({{...}})"
    else:
        fix = f"wrap it: self.{name} = nn.ModuleList([...])"
    raise ArgumentTypeError(
        f"{owner}: attribute '{name}' is a {kind} holding a {type(found).__name__}, which a "
        f"plain {kind} does not register, so its parameters would neither train nor be "
        f"saved; {fix}")


def _refuse_hidden_attributes(module):
    """Refuse a plain container attribute that has come to hold a Module or Parameter."""
    for name, value in module.__dict__.items():
        if name not in _REGISTRIES and isinstance(value, (list, tuple, dict)):
            _refuse_hidden_members(type(module).__name__, name, value)


def _first_hidden_member(container, seen):
    if id(container) in seen:
        return None
    seen.add(id(container))
    items = container.values() if isinstance(container, dict) else container
    for item in items:
        if isinstance(item, (Module, Parameter)):
            return item
        if isinstance(item, (list, tuple, dict)):
            found = _first_hidden_member(item, seen)
            if found is not None:
                return found
    return None
