"""The contestants of ``perf/compare.py``: numrnn, PyTorch CPU and ONNX Runtime.

Every contestant is built from the same numrnn module's weights and runs on the
same input; :func:`outputs` lets compare.py check they agree before timing.
A peer that is not installed is reported by :func:`available` and skipped.

ONNX's recurrent operators order their gate blocks differently from numrnn and
PyTorch, so the weights are permuted block-wise when the graph is built, by the
cell table's ONNX gate order (:mod:`numrnn.functional.cell_kinds`):

- LSTM: numrnn (i, f, g, o) -> ONNX (i, o, f, c)
- GRU:  numrnn (r, z, n)    -> ONNX (z, r, h), with ``linear_before_reset=1``,
  which is PyTorch's variant (r multiplies ``W_hn h + b_hn``, not ``h``).
"""

import importlib

import numpy as np

import numrnn
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
    """A float32 numrnn layer with seeded PyTorch-style initial weights."""
    layer_class = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell]
    return layer_class(spec["input"], spec["hidden"], num_layers=spec.get("layers", 1),
                       bidirectional=spec.get("bidirectional", False), rng=0)


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
    twin = layer_class(module.input_size, module.hidden_size, num_layers=module.num_layers,
                       bidirectional=module.bidirectional)
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


def _onnx_weights(module, layer, directions):
    """ONNX W, R, B initializers of one layer: (D, G*H, in), (D, G*H, H), (D, 2*G*H)."""
    hidden, blocks = module.hidden_size, module.kind.gate_permutation("onnx")

    def permute(array):
        return np.concatenate([array[b * hidden:(b + 1) * hidden] for b in blocks])

    w, r, b = [], [], []
    for direction in range(directions):
        weight_ih, weight_hh, bias_ih, bias_hh = (np.asarray(p.data) for p in
                                                  module._weights(layer, direction))
        w.append(permute(weight_ih))
        r.append(permute(weight_hh))
        b.append(np.concatenate([permute(bias_ih), permute(bias_hh)]))
    return np.stack(w), np.stack(r), np.stack(b)


def onnx_model(module, steps, batch):
    """An ONNX graph of ``module`` (all layers), input ``x`` (T, B, I) -> ``y`` (T, B, D*H)."""
    from onnx import TensorProto, helper, numpy_helper

    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    nodes, initializers = [], []
    layer_input = "x"
    for layer in range(module.num_layers):
        w, r, b = _onnx_weights(module, layer, directions)
        names = [f"W{layer}", f"R{layer}", f"B{layer}"]
        initializers += [numpy_helper.from_array(a.astype(np.float32), n)
                         for a, n in zip((w, r, b), names)]
        attributes = {"hidden_size": hidden,
                      "direction": "bidirectional" if directions == 2 else "forward"}
        if module.mode == "GRU":
            attributes["linear_before_reset"] = 1
        y = f"y{layer}"
        nodes.append(helper.make_node(module.mode, [layer_input] + names, [y], **attributes))
        # ONNX's Y is (T, D, B, H): move D next to H and merge them, as numrnn's output.
        nodes.append(helper.make_node("Transpose", [y], [f"{y}_t"], perm=[0, 2, 1, 3]))
        shape = f"shape{layer}"
        initializers.append(numpy_helper.from_array(
            np.array([steps, batch, directions * hidden], dtype=np.int64), shape))
        layer_input = "y" if layer == module.num_layers - 1 else f"{y}_merged"
        nodes.append(helper.make_node("Reshape", [f"{y}_t", shape], [layer_input]))
    graph = helper.make_graph(
        nodes, f"numrnn_{module.mode.lower()}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, batch,
                                                                module.input_size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       [steps, batch, directions * hidden])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def ort_runner(module, x, threads):
    """``(infer, result)`` for an ONNX Runtime session of ``module`` (inference only)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    # No spin-waiting after a run, for the reason in harness.set_thread_env.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = onnx_model(module, x.shape[0], x.shape[1])
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feeds = {"x": x}

    def infer():
        return session.run(None, feeds)[0]

    return infer, infer
