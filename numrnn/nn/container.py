"""Sequential: modules applied one after another."""

from numrnn.errors import ArgumentTypeError, IndexOutOfRangeError, NumrnnError
from numrnn.nn.module import Module

__all__ = ["Sequential"]


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

    def __init__(self, *modules):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        """Add ``module`` at the end, under the next free index; returns self."""
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"Sequential: every child must be a Module, got "
                                    f"{type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        children = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(*children[index])
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise ArgumentTypeError(f"Sequential: index must be an int or a slice, "
                                    f"got {type(index).__name__}")
        position = index.__index__()
        if not -len(children) <= position < len(children):
            count = len(children)
            raise IndexOutOfRangeError(f"Sequential: index must be in {-count}..{count - 1} "
                                       f"({count} children), got {position}")
        return children[position]

    def forward(self, input):
        for module in self:
            input = module(input)
        return input

    def get_config(self):
        """``{"modules": [{"class_name": ..., "config": ...}, ...]}``, one entry per child.

        The form :mod:`numrnn.io` rebuilds: each child from its class name and
        config, then ``Sequential(*children)``. Every child must itself define
        ``get_config``.
        """
        entries = []
        for name, module in self._modules.items():
            if not callable(getattr(module, "get_config", None)):
                raise NumrnnError(f"Sequential: child '{name}' ({type(module).__name__}) has no "
                                 "get_config(), so this Sequential cannot be described")
            entries.append({"class_name": type(module).__name__, "config": module.get_config()})
        return {"modules": entries}
