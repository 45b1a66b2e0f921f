"""ONNX models in and out: ``numrnn.onnx.export`` and ``numrnn.onnx.load``.

Needs the ``onnx`` package (``pip install 'numrnn[onnx]'``), imported on first use,
so ``import numrnn`` never does; see docs/onnx.md.
"""

from numrnn.onnx.export import export
from numrnn.onnx.graph_module import OnnxGraph
from numrnn.onnx.load import load

__all__ = ["OnnxGraph", "export", "load"]
