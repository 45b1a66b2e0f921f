"""The contestants of ``perf/compare.py``: numrnn, PyTorch CPU and ONNX Runtime.

Every contestant is built from the same numrnn module's weights and runs on the
same input; :func:`outputs` lets compare.py check they agree before timing.
A peer that is not installed is reported by :func:`available` and skipped.

ONNX Runtime runs the graph :func:`numrnn.onnx.export` writes (gate blocks
permuted by the cell table's ONNX order, the GRU as ``linear_before_reset=1``,
the ReLU RNN with its ``Relu`` activation), with dynamic batch and time axes.
"""

import importlib
import os
import tempfile

import numpy as np

import numrnn
import numrnn.onnx
from numrnn import nn


def available(name):
    """``None`` when the peer can run, else why not (for the report)."""
    modules = {"torch": ("torch",), "onnxruntime": ("onnx", "onnxruntime")}[name]
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{module} is not installed: {name} skipped"
    return None


def make_numrnn(cell, spec):
    """A float32 numrnn layer with seeded PyTorch-style initial weights (``cell`` "LSTM",
    "GRU", "RNN", or a variant such as "LSTM-proj" with the options ``spec`` gives)."""
    layer_class = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell.split("-")[0]]
    options = {"proj_size": spec["proj_size"]} if spec.get("proj_size") else {}
    return layer_class(spec["input"], spec["hidden"], num_layers=spec.get("layers", 1),
                       bidirectional=spec.get("bidirectional", False), rng=0, **options)


def numrnn_runners(module, x):
    """``(infer, train)`` callables and a function returning (output, d weight_hh_l0)."""
    x_tensor = numrnn.Tensor(x)
    seed = None

    def infer():
        with numrnn.no_grad():
            return module(x_tensor)[0]

    def train():
        nonlocal seed
        for param in module.parameters():
            param.grad = None
        output = module(x_tensor)[0]
        if seed is None:
            seed = np.ones(output.shape, dtype=output.dtype)
        output.backward(seed)
        return output

    def result():
        output = train()
        return output.data, module.weight_hh_l0.grad

    return infer, train, result


def torch_runners(module, x, threads):
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    layer_class = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[module.mode]
    options = {"proj_size": module.proj_size} if getattr(module, "proj_size", 0) else {}
    twin = layer_class(module.input_size, module.hidden_size, num_layers=module.num_layers,
                       bidirectional=module.bidirectional, **options)
    twin.load_state_dict({name: torch.from_numpy(np.array(value.data))
                          for name, value in module.named_parameters()})
    x_torch = torch.from_numpy(x)

    def infer():
        with torch.no_grad():
            return twin(x_torch)[0]

    def train():
        twin.zero_grad(set_to_none=True)
        output = twin(x_torch)[0]
        output.backward(torch.ones_like(output))
        return output

    def result():
        output = train()
        return output.detach().numpy(), twin.weight_hh_l0.grad.numpy()

    return infer, train, result


def ort_runner(module, x, threads):
    """``(infer, result)`` for an ONNX Runtime session of ``module`` (inference only)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    # No spin-waiting after a run, for the reason in harness.set_thread_env.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        numrnn.onnx.export(module, path)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = {"input": x}

    def infer():
        return session.run(["output"], feeds)[0]

    return infer, infer
