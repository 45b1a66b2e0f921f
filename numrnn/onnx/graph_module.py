"""OnnxGraph: the numrnn module ``numrnn.onnx.load`` returns, running a loaded graph.

Its children are numrnn layers (one per recurrent node, ``Linear`` per
``Gemm``/``MatMul``, ``Embedding`` per ``Gather`` from a weight table), named
``"{op}_{index}"`` after the node; its forward pass runs the graph's nodes in
their (topological) order on numrnn Tensors, so the model trains, saves
(``state_dict``) and converts like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.nn.module import Module
from numrnn.onnx.recurrent_node import run_recurrent
from numrnn.onnx.simple_ops import SIMPLE_OPS, constant_of_shape

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    import numpy.typing as npt

# ConstantOfShape may fill at most this many times the elements of a call's inputs
# and the model's parameters: the states an exporter builds from the batch size.
FILL_ALLOWANCE = 16


def run_module(module, inputs, settings):
    return [module(inputs[0])]


MODULE_RUNNERS = {"recurrent": run_recurrent, "module": run_module}


class OnnxGraph(Module):
    """A loaded ONNX graph: ``outputs = model(*inputs)``, in the graph's input order.

    Attributes
    ----------
    input_names, output_names : list of str
        The graph's inputs (arguments, also accepted by keyword) and outputs
        (returned as a tuple, or alone when there is one).
    """

    def __init__(self, inputs: Sequence[tuple[str, Any, Any]], output_names: Sequence[str],
                 constants: Mapping[str, npt.NDArray[Any]], steps: Sequence[Any],
                 modules: Module) -> None:
        super().__init__()
        self._graph_inputs = inputs
        self.input_names = [name for name, _, _ in inputs]
        self.output_names = list(output_names)
        self._constants = constants
        self._steps = steps
        for name, module in modules.items():
            setattr(self, name, module)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        values = dict(self._constants)
        values.update(self._bind(args, kwargs))
        fed = sum(int(np.size(values[name])) for name in self.input_names)
        limit = FILL_ALLOWANCE * (fed + sum(param.size for param in self.parameters()))
        for op, inputs, outputs, settings, child in self._steps:
            arguments = [values[name] if name else None for name in inputs]
            if child is not None:
                results = MODULE_RUNNERS[op](self._modules[child], arguments, settings)
            elif op == "ConstantOfShape":
                results = constant_of_shape(arguments, settings, limit)
            else:
                results = SIMPLE_OPS[op][0](arguments, settings)
            for name, result in zip(outputs, results):
                if name:
                    values[name] = result
        results = tuple(values[name] for name in self.output_names)
        return results[0] if len(results) == 1 else results

    def _bind(self, args, kwargs):
        if len(args) > len(self.input_names):
            raise ArgumentError(f"OnnxGraph: the graph takes {len(self.input_names)} inputs "
                                f"{self.input_names}, got {len(args)} positional arguments")
        bound = dict(zip(self.input_names, args))
        for name, value in kwargs.items():
            if name not in self.input_names or name in bound:
                raise ArgumentError(f"OnnxGraph: unexpected or repeated input {name!r}; the "
                                    f"graph's inputs are {self.input_names}")
            bound[name] = value
        for name, dtype, rank in self._graph_inputs:
            if name not in bound:
                raise ArgumentError(f"OnnxGraph: missing input {name!r}; the graph's inputs "
                                    f"are {self.input_names}")
            bound[name] = _checked_input(name, bound[name], dtype, rank)
        return bound

    def extra_repr(self) -> str:
        return f"inputs={self.input_names}, outputs={self.output_names}, " \
               f"nodes={len(self._steps)}"


def _checked_input(name, value, dtype, rank):
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"OnnxGraph: input {name!r} must be a Tensor or ndarray, "
                                f"got {type(value).__name__}")
    if dtype.kind == "f" and array.dtype != dtype:
        raise DTypeError(f"OnnxGraph: input {name!r} must have dtype {dtype}, got {array.dtype}")
    if dtype.kind == "i" and array.dtype.kind not in "iu":
        raise DTypeError(f"OnnxGraph: input {name!r} must hold integers, got {array.dtype}")
    if rank is not None and array.ndim != rank:
        raise ShapeError(f"OnnxGraph: input {name!r} must be {rank}-D, got shape {array.shape}")
    if dtype.kind == "f":
        return value if isinstance(value, Tensor) else Tensor(array)
    return array.astype(np.int64, copy=False)
