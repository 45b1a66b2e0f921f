"""Gradient checks for whole modules: inputs *and* every parameter at once.

:func:`numrnn.testing.gradcheck` differentiates the arrays it is given, making
fresh leaf Tensors for each evaluation. A module owns its parameters, so
:func:`gradcheck_module` hands gradcheck the parameter arrays as extra inputs
and, on each evaluation, runs the module with gradcheck's tensors substituted
for its Parameters (:func:`numrnn.nn.module.substituted_parameters`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError
from numrnn.nn.module import substituted_parameters
from numrnn.testing.gradcheck import gradcheck

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from numrnn.nn.module import Module
    from numrnn.typing import TensorLike


def gradcheck_module(module: Module, inputs: Sequence[TensorLike],
                     call: Callable[..., Any] | None = None, **options: Any) -> bool:
    """Check d(outputs)/d(inputs) and d(outputs)/d(parameters) against central differences.

    Parameters
    ----------
    module : numrnn.nn.Module with float64 parameters
    inputs : sequence
        Passed to ``call`` as in :func:`gradcheck`: float64 arrays are
        differentiated, anything else (None, integer lengths) passes through.
    call : callable, optional
        ``call(module, *inputs)`` returns the outputs, possibly nested tuples
        like an LSTM's ``(output, (h_n, c_n))``; defaults to ``module(*inputs)``.
    options
        Forwarded to :func:`gradcheck` (eps, atol, rtol, directions, seed, ...).
    """
    named = list(module.named_parameters())
    for name, param in named:
        if param.dtype.name != "float64":
            raise DTypeError(f"gradcheck_module: parameter '{name}' must be float64, "
                             f"got {param.dtype}")
    names = [name for name, _ in named]
    call = call or (lambda m, *args: m(*args))
    n_inputs = len(inputs)

    def fn(*tensors):
        with substituted_parameters(module, dict(zip(names, tensors[n_inputs:]))):
            return tuple(_flatten(call(module, *tensors[:n_inputs])))

    return gradcheck(fn, list(inputs) + [param.data for _, param in named], **options)


def _flatten(outputs):
    if isinstance(outputs, Tensor):
        yield outputs
    else:
        for item in outputs:
            yield from _flatten(item)
