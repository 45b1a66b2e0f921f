"""Containers of modules: Sequential (applied in turn), ModuleList and ModuleDict (held).

All three register their children, so the parameters inside are trained,
saved and converted with the parent. Children of Sequential and ModuleList
are named by position (``"0"``, ``"1"``, ...), ModuleDict's by key, giving the
state dict names PyTorch gives: ``layers.0.weight``, ``heads.sentiment.bias``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentTypeError, IndexOutOfRangeError, NumrnnError
from numrnn.nn.module import Module

if TYPE_CHECKING:
    from collections.abc import ItemsView, Iterator, KeysView, ValuesView
    from typing import Any

    from typing_extensions import Self

    from numrnn.typing import TensorLike

__all__ = ["ModuleDict", "ModuleList", "Sequential"]


class Sequential(Module):
    """``Sequential(a, b, c)(x) == c(b(a(x)))``, with PyTorch's naming and indexing.

    Children are registered under the names ``"0"``, ``"1"``, ..., so parameter
    names read ``0.weight``, ``2.bias`` as in ``torch.nn.Sequential`` and state
    dicts carry over. ``seq[i]`` is a child (negative ``i`` counts from the
    end), ``seq[i:j]`` a new Sequential sharing those children, ``len(seq)``
    the number of children, and iterating yields them in order.

    Each child gets exactly what the previous one returned, so a recurrent
    layer (which returns ``(output, h_n)``) belongs inside a custom Module,
    not directly in a Sequential, exactly as in PyTorch.

    >>> head = Sequential(Linear(256, 256), Dropout(0.1), Linear(256, vocab_size))
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> Self:
        """Add ``module`` at the end, under the next free index; returns self."""
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"Sequential: every child must be a Module, got "
                                    f"{type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        children = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(*children[index])
        return children[_position("Sequential", index, len(children))]

    def forward(self, input: TensorLike) -> Any:
        for module in self:
            input = module(input)
        return input

    def get_config(self) -> dict[str, Any]:
        """``{"modules": [{"class_name": ..., "config": ...}, ...]}``, one entry per child.

        The form :mod:`numrnn.io` rebuilds: each child from its class name and
        config, then ``Sequential(*children)``. Every child must itself define
        ``get_config``.
        """
        return {"modules": [_child_spec("Sequential", name, module)
                            for name, module in self._modules.items()]}


class ModuleList(Module):
    """A list of modules that registers them: PyTorch's ``nn.ModuleList``.

    Parameters
    ----------
    modules : iterable of Module, optional
        The initial children, registered as ``"0"``, ``"1"``, ...

    Notes
    -----
    It has no ``forward``: the parent module decides how to call its members.
    Indexing, slicing (a new ModuleList sharing the children), ``len``,
    iteration, ``append``, ``extend``, ``insert``, ``del`` and item
    assignment behave as on a list; after an insertion or deletion the
    children are renumbered, as PyTorch does, so state dict names stay
    ``0..n-1``.

    Examples
    --------
    >>> self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
    >>> list(self.state_dict())[:2]
    ['layers.0.weight', 'layers.0.bias']
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> Self:
        """Add ``module`` at the end; returns self."""
        self._modules[str(len(self._modules))] = _checked_module("ModuleList", module)
        return self

    def extend(self, modules: Iterable[Module]) -> Self:
        """Append every module of an iterable (all are checked before any is added)."""
        if isinstance(modules, Module) or not isinstance(modules, Iterable):
            raise ArgumentTypeError(f"ModuleList: expected an iterable of Modules, "
                                    f"got {type(modules).__name__}")
        checked = [_checked_module("ModuleList", module) for module in modules]
        for module in checked:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (list semantics)."""
        children = list(self._modules.values())
        children.insert(index, _checked_module("ModuleList", module))
        self._renumber(children)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __getitem__(self, index: int | slice) -> Any:
        children = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(children[index])
        return children[_position("ModuleList", index, len(children))]

    def __setitem__(self, index: int, module: Module) -> None:
        position = _position("ModuleList", index, len(self._modules))
        self._modules[str(position)] = _checked_module("ModuleList", module)

    def __delitem__(self, index: int | slice) -> None:
        children = list(self._modules.values())
        if isinstance(index, slice):
            del children[index]
        else:
            del children[_position("ModuleList", index, len(children))]
        self._renumber(children)

    def _renumber(self, children):
        self._modules.clear()
        for position, module in enumerate(children):
            self._modules[str(position)] = module

    def get_config(self) -> dict[str, Any]:
        """``{"modules": [{"class_name": ..., "config": ...}, ...]}``, as Sequential's."""
        return {"modules": [_child_spec("ModuleList", name, module)
                            for name, module in self._modules.items()]}


class ModuleDict(Module):
    """A dict of modules that registers them under their keys: PyTorch's ``nn.ModuleDict``.

    Parameters
    ----------
    modules : mapping or iterable of (str, Module) pairs, optional
        The initial children, in the mapping's order.

    Notes
    -----
    Keys are strings without dots that are not already attributes of the
    ModuleDict (``"train"`` is refused). Indexing, ``in``, ``len``, iteration
    over keys, ``keys``/``values``/``items``, ``update``, ``pop``, ``clear``
    and ``del`` behave as on a dict; insertion order is kept.

    Examples
    --------
    >>> self.heads = nn.ModuleDict({"sentiment": nn.Linear(64, 2), "topic": nn.Linear(64, 9)})
    """

    def __init__(
            self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None,
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module under {key!r} "
                           f"(keys: {', '.join(map(repr, self._modules)) or 'none'})")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _checked_module("ModuleDict", module))

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> KeysView[str]:
        return self._modules.keys()

    def values(self) -> ValuesView[Module]:
        return self._modules.values()

    def items(self) -> ItemsView[str, Module]:
        return self._modules.items()

    def pop(self, key: str) -> Module:
        """Remove the module under ``key`` and return it."""
        module = self[key]
        del self._modules[key]
        return module

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) the modules of a mapping or of (key, module) pairs.

        Every key and module is checked before any is added.
        """
        if isinstance(modules, Mapping):
            pairs: list[Any] = list(modules.items())
        elif isinstance(modules, Iterable) and not isinstance(modules, (str, Module)):
            pairs = [tuple(pair) if isinstance(pair, (tuple, list)) else pair
                     for pair in modules]
            bad = next((pair for pair in pairs
                        if not isinstance(pair, tuple) or len(pair) != 2), None)
            if bad is not None:
                raise ArgumentTypeError(f"ModuleDict: expected (key, Module) pairs, got {bad!r}")
        else:
            raise ArgumentTypeError(f"ModuleDict: expected a mapping or (key, Module) pairs, "
                                    f"got {type(modules).__name__}")
        staged = ModuleDict.__new__(ModuleDict)
        Module.__init__(staged)
        for key, module in pairs:
            staged.add_module(key, _checked_module("ModuleDict", module))
        for key, module in pairs:
            self.add_module(key, module)

    def get_config(self) -> dict[str, Any]:
        """``{"modules": {key: {"class_name": ..., "config": ...}, ...}}`` in key order."""
        return {"modules": {key: _child_spec("ModuleDict", key, module)
                            for key, module in self._modules.items()}}


def _position(owner, index, count):
    if isinstance(index, bool) or not hasattr(index, "__index__"):
        raise ArgumentTypeError(f"{owner}: index must be an int or a slice, "
                                f"got {type(index).__name__}")
    position = index.__index__()
    if not -count <= position < count:
        raise IndexOutOfRangeError(f"{owner}: index must be in {-count}..{count - 1} "
                                   f"({count} children), got {position}")
    return position % count


def _checked_module(owner, module):
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"{owner}: every child must be a Module, got "
                                f"{type(module).__name__}")
    return module


def _child_spec(owner, name, module):
    if not callable(getattr(module, "get_config", None)):
        raise NumrnnError(f"{owner}: child '{name}' ({type(module).__name__}) has no "
                          f"get_config(), so this {owner} cannot be described")
    return {"class_name": type(module).__name__, "config": module.get_config()}
