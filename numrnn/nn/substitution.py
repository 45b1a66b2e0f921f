"""Calling a module with some of its parameters replaced: ``functional_call``.

The module is modified in place for the duration of the call and restored
afterwards, which is what :func:`numrnn.testing.gradcheck_module` needs to feed
fresh leaf tensors through a layer's own ``forward``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ShapeError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from numrnn.nn.module import Module


def functional_call(module: Module, parameters: Mapping[str, Tensor], args: tuple[Any, ...] = (),
                    kwargs: Mapping[str, Any] | None = None) -> Any:
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
