"""Module: a container of Parameters and sub-Modules, with PyTorch's interface.

Attributes that are :class:`Parameter` or :class:`Module` instances register
themselves, in assignment order, so ``named_parameters()`` and ``state_dict()``
list them the way ``torch.nn.Module`` does: a module's own parameters first,
then each child's, recursively, with dotted names (``encoder.weight_ih_l0``).
"""

import contextlib
from collections import namedtuple

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentTypeError, DTypeError, ShapeError
from numrnn.nn.parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer; subclasses call ``super().__init__()`` first.

    A subclass assigns its Parameters and sub-Modules as attributes in
    ``__init__`` and defines ``forward``; calling the module calls ``forward``.
    ``extra_repr`` returns the constructor arguments to show in ``repr``.
    """

    def __init__(self):
        self._parameters = {}
        self._modules = {}
        self.training = True

    # -- registration ---------------------------------------------------------
    def __setattr__(self, name, value):
        registries = self.__dict__.get("_parameters"), self.__dict__.get("_modules")
        if isinstance(value, (Parameter, Module)):
            if registries[0] is None:
                raise AttributeError(
                    f"{type(self).__name__}: call super().__init__() before assigning "
                    f"the {type(value).__name__} '{name}'"
                )
            self.__dict__.pop(name, None)
            for registry in registries:
                registry.pop(name, None)
            registry = registries[0] if isinstance(value, Parameter) else registries[1]
            registry[name] = value
            return
        for kind, registry in zip(("a Parameter", "a Module"), registries):
            if registry is not None and name in registry:
                raise ArgumentTypeError(
                    f"{type(self).__name__}: cannot assign {type(value).__name__} to "
                    f"'{name}', which holds {kind}; assign {kind} or delete it first"
                )
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: registered members live in the dicts.
        for registry in (self.__dict__.get("_parameters", {}), self.__dict__.get("_modules", {})):
            if name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    # -- traversal -------------------------------------------------------------
    def named_children(self):
        """(name, module) for each direct sub-module, in registration order."""
        return iter(self._modules.items())

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix=""):
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
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs in PyTorch's order; a shared Parameter once."""
        owners = self.named_modules(prefix) if recurse else [(prefix, self)]
        seen = set()
        for owner_name, owner in owners:
            for name, param in owner._parameters.items():
                if id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{owner_name}.{name}" if owner_name else name), param

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    # -- modes and gradients -----------------------------------------------------
    def train(self, mode=True):
        """Set training mode (dropout active) on this module and its descendants."""
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode: same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self):
        """Forget every parameter's gradient (``.grad = None``, as PyTorch does by default)."""
        for param in self.parameters():
            param.grad = None

    # -- state -------------------------------------------------------------------
    def state_dict(self):
        """A dict from dotted parameter name to a copy of its array, in PyTorch's order."""
        return {name: param.data.copy() for name, param in self.named_parameters()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (or Tensors) from ``state_dict`` into the parameters.

        Everything is checked before anything is loaded: keys missing from
        ``state_dict`` or unknown to the module (both only when ``strict``),
        wrong shapes and wrong dtypes. A float value of the parameter's
        precision (e.g. big-endian float32) is converted; any other dtype is
        refused, so a float64 file never silently loses precision in a float32
        module, nor pretends to be float64. One error lists every offending key
        and the module is left unchanged: :class:`DTypeError` when all problems
        are dtypes, :class:`ShapeError` otherwise.

        Returns ``IncompatibleKeys(missing_keys, unexpected_keys)`` like PyTorch.
        """
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        problems, dtype_only = [], True
        if strict:
            problems += [f"missing key '{name}' (expected shape {own[name].shape}, "
                         f"{own[name].dtype})" for name in missing]
            problems += [f"unexpected key '{name}'" for name in unexpected]
            dtype_only = not problems
        arrays = {}
        for name, param in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != param.shape:
                problems.append(f"'{name}': expected shape {param.shape}, got {array.shape}")
                dtype_only = False
            elif array.dtype.kind != "f" or array.dtype.itemsize != param.dtype.itemsize:
                problems.append(f"'{name}': expected dtype {param.dtype}, got {array.dtype}")
            else:
                arrays[name] = array
        if problems:
            error = DTypeError if dtype_only else ShapeError
            raise error(
                f"{type(self).__name__}.load_state_dict: {len(problems)} problem(s), "
                "nothing was loaded:\n  " + "\n  ".join(problems)
            )
        for name, array in arrays.items():
            # A fresh contiguous copy: the caller's array is never aliased.
            own[name].data = np.array(array, dtype=own[name].dtype)
        return IncompatibleKeys(missing, unexpected)

    # -- calling and printing -----------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        """Constructor arguments to show inside ``Name(...)``; override in layers."""
        return ""

    def __repr__(self):
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        lines += [f"({name}): {_indent(repr(child))}" for name, child in self._modules.items()]
        if not self._modules and len(lines) <= 1:
            return f"{type(self).__name__}({''.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _indent(text):
    return text.replace("\n", "\n  ")


def functional_call(module, parameters, args=(), kwargs=None):
    """Call ``module(*args, **kwargs)`` with some parameters replaced by given Tensors.

    Like ``torch.func.functional_call``: gradients flow to the given tensors,
    which the module does not own, e.g. the fresh inputs that
    :func:`numrnn.testing.gradcheck` makes. See :func:`substituted_parameters`.
    """
    with substituted_parameters(module, parameters):
        return module(*args, **(kwargs or {}))


@contextlib.contextmanager
def substituted_parameters(module, parameters):
    """Within the block, ``module`` uses the given Tensors instead of its Parameters.

    ``parameters`` maps dotted names (as in ``named_parameters()``) to Tensors of
    the same shape and dtype; everything is checked before anything is
    replaced, and the module's own Parameters are put back on leaving the
    block, even on error. Not thread-safe: the module itself is modified.
    """
    own = dict(module.named_parameters())
    problems = []
    for name, value in parameters.items():
        if name not in own:
            problems.append(f"unknown parameter '{name}'")
        elif not isinstance(value, Tensor):
            problems.append(f"'{name}': expected a Tensor, got {type(value).__name__}")
        elif value.shape != own[name].shape or value.dtype != own[name].dtype:
            problems.append(f"'{name}': expected shape {own[name].shape} {own[name].dtype}, "
                            f"got {value.shape} {value.dtype}")
    if problems:
        raise ShapeError(f"{type(module).__name__}: cannot substitute parameters: "
                         + "; ".join(problems))
    # A Parameter shared by several sub-modules is replaced in every one of them.
    slots = [(owner, local_name) for owner in module.modules() for local_name in owner._parameters]
    swapped = []
    try:
        for name, value in parameters.items():
            for owner, local_name in slots:
                if owner._parameters[local_name] is own[name]:
                    swapped.append((owner, local_name, own[name]))
                    owner._parameters[local_name] = value
        yield module
    finally:
        for owner, local_name, original in swapped:
            owner._parameters[local_name] = original
