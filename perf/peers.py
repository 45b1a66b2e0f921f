"""The contestants of ``perf/compare.py``: numrnn, PyTorch CPU and ONNX Runtime.

Every contestant is built from the same numrnn module's weights and runs on the
same input; compare.py checks that their outputs agree before timing. A peer
that is not installed is reported by :func:`available` and skipped.

The peers' builders take the layer's description and its weights as plain
arrays (``{"weight_ih_l0": ndarray, ...}``), never a numrnn module, and numrnn
is imported only by numrnn's own builders: in compare.py's fresh-process mode
a peer's process imports that peer and NumPy, nothing else, as a user's would.

ONNX Runtime runs the graph :func:`export_onnx` writes with
:func:`numrnn.onnx.export` (gate blocks permuted by the cell table's ONNX order,
the GRU as ``linear_before_reset=1``, the ReLU RNN with its ``Relu``
activation), with dynamic batch and time axes.
"""

import importlib

import numpy as np


def available(name):
    """``None`` when the peer can run, else why not (for the report)."""
    modules = {"torch": ("torch",), "onnxruntime": ("onnx", "onnxruntime")}[name]
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{module} is not installed: {name} skipped"
    return None


def make_numrnn(cell, spec, weights=None):
    """A numrnn layer with seeded PyTorch-style initial weights: float32, or the dtype of
    ``weights`` (``{name: ndarray}``, as :func:`weights_of` gives) copied into it.

    ``spec["options"]`` (optional) holds further constructor arguments, a cell
    option such as ``{"peepholes": True}``.
    """
    from numrnn import nn

    layer_class = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell]
    dtype = next(iter(weights.values())).dtype if weights else np.float32
    layer = layer_class(spec["input"], spec["hidden"], num_layers=spec.get("layers", 1),
                        bidirectional=spec.get("bidirectional", False), rng=0, dtype=dtype,
                        **spec.get("options", {}))
    for name, parameter in (layer.named_parameters() if weights else ()):
        parameter.data[...] = weights[name]
    return layer


def weights_of(module):
    """``{name: float32 ndarray}`` of a numrnn module's parameters (copies)."""
    return {name: np.array(value.data) for name, value in module.named_parameters()}


def export_onnx(module, path):
    """Write ``module`` as an ONNX graph at ``path`` (needs the onnx package)."""
    import numrnn.onnx

    numrnn.onnx.export(module, path)


def numrnn_runners(module, x, cell_states=False):
    """``(infer, train)`` callables and a function returning (output, d weight_hh_l0).

    ``cell_states=True`` asks an LSTM for its per-step cell states too; the
    training step then seeds them as it seeds the output (ones), so their
    gradient runs through the backward pass.
    """
    import numrnn

    x_tensor = numrnn.Tensor(x)
    seed = None
    options = {"return_cell_states": True} if cell_states else {}

    def infer():
        with numrnn.no_grad():
            return module(x_tensor, **options)[0]

    def train():
        nonlocal seed
        for param in module.parameters():
            param.grad = None
        outputs = module(x_tensor, **options)
        # One seed of ones on output and cell states alike: the seed of their sum.
        output = outputs[0] + outputs[2] if cell_states else outputs[0]
        if seed is None:
            seed = np.ones(output.shape, dtype=output.dtype)
        output.backward(seed)
        return output

    def infer_output():
        return np.asarray(infer().data)

    def result():
        output = train()
        return output.data, module.weight_hh_l0.grad

    return infer, train, infer_output, result


def torch_runners(cell, spec, weights, x, threads):
    """``(infer, train, infer_output, result)`` for a PyTorch twin of the layer."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    layer_class = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}[cell]
    # PyTorch's one cell option, the LSTM's projection, under the same name as numrnn's.
    projection = {key: value for key, value in spec.get("options", {}).items()
                  if key == "proj_size"}
    twin = layer_class(spec["input"], spec["hidden"], num_layers=spec.get("layers", 1),
                       bidirectional=spec.get("bidirectional", False), **projection)
    twin.load_state_dict({name: torch.from_numpy(np.array(value))
                          for name, value in weights.items()})
    x_torch = torch.from_numpy(x)

    def infer():
        with torch.no_grad():
            return twin(x_torch)[0]

    def train():
        twin.zero_grad(set_to_none=True)
        output = twin(x_torch)[0]
        output.backward(torch.ones_like(output))
        return output

    def infer_output():
        return infer().numpy()

    def result():
        output = train()
        return output.detach().numpy(), twin.weight_hh_l0.grad.numpy()

    return infer, train, infer_output, result


def torch_layer_norm_lstm_runners(spec, weights, x, threads):
    """``(infer, train, infer_output, result)`` for the layer-normalised LSTM PyTorch users
    write (``perf/layer_norm_lstm.py``), given a one-layer numrnn ``LSTM(layer_norm=True)``'s
    weights; in float64 where ``x`` is."""
    import torch
    from layer_norm_lstm import load_numrnn_weights, torch_layer_norm_lstm

    if threads is not None:
        torch.set_num_threads(threads)
    twin = torch_layer_norm_lstm(spec["input"], spec["hidden"])
    if x.dtype == np.float64:
        # The float64 agreement check: every weight and sum of weights in float64.
        twin.double()
    load_numrnn_weights(twin, weights)
    x_torch = torch.from_numpy(x)

    def infer():
        with torch.no_grad():
            return twin(x_torch)

    def train():
        twin.zero_grad(set_to_none=True)
        output = twin(x_torch)
        output.backward(torch.ones_like(output))
        return output

    def infer_output():
        return infer().numpy()

    def result():
        output = train()
        return output.detach().numpy(), twin.hidden_product.weight.grad.numpy()

    return infer, train, infer_output, result


def ort_runner(path, x, threads, spinning=True):
    """``infer`` for an ONNX Runtime session of the graph at ``path`` (inference only).

    ``spinning=False`` stops idle intra-op threads from spin-waiting, which
    compare.py's in-process mode needs (several libraries take turns on the
    cores there); a user's session spins, ONNX Runtime's default.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds = {"input": x}

    def infer():
        return session.run(["output"], feeds)[0]

    return infer
