"""The op contract: every differentiable operation is a :class:`Function`.

A Function subclass defines two static methods on plain ndarrays::

    class Tanh(Function):
        @staticmethod
        def forward(ctx, x):
            y = np.tanh(x)
            ctx.save(y)
            return y

        @staticmethod
        def backward(ctx, grad_y):
            (y,) = ctx.saved
            return grad_y * (1.0 - y * y)

``Function.apply(*inputs, **static)`` unwraps Tensor inputs, runs ``forward``
and, when any input needs a gradient and recording is on, records a
:class:`Node` so that :func:`numrnn.autograd.engine.backward` can call
``backward`` later. ``forward`` may return one array or a tuple of arrays;
``backward`` gets one gradient per output (zeros for outputs nobody used) and
returns one gradient per input, ``None`` where none is needed. The base class
checks what ``backward`` returns, so a wrong rule fails loudly, naming the op.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import is_grad_enabled
from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError, GradError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, ClassVar

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# Nodes are numbered in the order they are recorded; a node's inputs were always
# recorded before it, so decreasing numbers give a reverse topological order even
# for a graph built partly in one thread and continued in another. One counter for
# the process: next() on itertools.count is atomic under the GIL.
_sequence_numbers = itertools.count()


def _next_sequence_number():
    return next(_sequence_numbers)


class Context:
    """What ``forward`` leaves for ``backward``: saved residuals and flags."""

    __slots__ = ("needs_input_grad", "_saved", "freed")

    def __init__(self, needs_input_grad: Sequence[bool]) -> None:
        self.needs_input_grad = needs_input_grad
        self._saved: Any = ()
        self.freed = False

    def save(self, *arrays: Any) -> None:
        """Keep residuals (arrays or other values) for ``backward``."""
        self._saved = arrays

    @property
    def saved(self) -> tuple[Any, ...]:
        return self._saved

    def free(self) -> None:
        self._saved = None
        self.freed = True


class Node:
    """One recorded call: the op, its context, its inputs and its outputs' metadata."""

    __slots__ = ("function", "ctx", "inputs", "output_specs", "sequence_number")

    def __init__(self, function, ctx, inputs, output_specs):
        self.function = function
        self.ctx = ctx
        self.inputs = inputs
        self.output_specs = output_specs  # (shape, dtype) per output
        self.sequence_number = _next_sequence_number()

    @property
    def name(self):
        return self.function.__name__


def _common_float_dtype(name, arrays):
    dtype = None
    for array in arrays:
        if isinstance(array, np.ndarray) and array.dtype.kind == "f":
            if dtype is None:
                dtype = array.dtype
            elif array.dtype != dtype:
                raise DTypeError(f"{name}: all floating inputs must share one dtype, "
                                 f"got {' and '.join(sorted((str(dtype), str(array.dtype))))}")
    if dtype is not None and dtype not in _FLOAT_DTYPES:
        raise DTypeError(f"{name}: floating inputs must be float32 or float64, got {dtype}")


class Function:
    """Base class of every differentiable op; see the module docstring."""

    # apply() refuses floating inputs of mixed or unsupported dtypes. An op whose
    # every caller has already checked them (the recurrent stack, behind the
    # layers' validation) turns this off: at small sizes the check is a
    # noticeable part of a call.
    check_input_dtypes = True

    # Static methods of every subclass (__init_subclass__ checks that they are there).
    forward: ClassVar[Callable[..., Any]]
    backward: ClassVar[Callable[..., Any]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for method in ("forward", "backward"):
            if not callable(getattr(cls, method, None)):
                raise TypeError(f"{cls.__name__} must define a static {method}(ctx, ...)")

    @classmethod
    def apply(cls, *inputs: Any, **static: Any) -> Any:
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        if cls.check_input_dtypes:
            _common_float_dtype(cls.__name__, arrays)
        # Under no_grad nothing needs a gradient, so forward can skip residuals.
        if is_grad_enabled():
            needs_input_grad = tuple([isinstance(x, Tensor) and x._requires_grad
                                      for x in inputs])
            record = True in needs_input_grad
        else:
            needs_input_grad = (False,) * len(inputs)
            record = False
        ctx = Context(needs_input_grad)
        result = cls.forward(ctx, *arrays, **static)
        if not isinstance(result, tuple):
            node = Node(cls, ctx, inputs, ((result.shape, result.dtype),)) if record else None
            return Tensor._from_op(result, node, 0)
        node = None
        if record:
            node = Node(cls, ctx, inputs, tuple([(out.shape, out.dtype) for out in result]))
        return tuple([Tensor._from_op(out, node, index) for index, out in enumerate(result)])

    @classmethod
    def check_gradients(cls, node: Any, grads: Any) -> Any:
        """Refuse a backward result that does not match the op's inputs."""
        name = cls.__name__
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(node.inputs):
            raise GradError(
                f"{name}.backward must return {len(node.inputs)} gradient(s), "
                f"one per input, got {len(grads)}"
            )
        for index, (grad, x) in enumerate(zip(grads, node.inputs)):
            if grad is None or not (isinstance(x, Tensor) and x.requires_grad):
                continue
            grad = np.asarray(grad)
            if grad.shape != x.shape:
                raise GradError(
                    f"{name}.backward: gradient for input {index} must have shape "
                    f"{x.shape}, got {grad.shape}"
                )
            if grad.dtype != x.dtype:
                raise GradError(
                    f"{name}.backward: gradient for input {index} must have dtype "
                    f"{x.dtype}, got {grad.dtype}"
                )
        return grads
