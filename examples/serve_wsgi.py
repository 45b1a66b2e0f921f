"""Serve a saved recurrent layer over HTTP: a WSGI app for a pre-forking server.

The model is a recurrent layer (``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``) saved
with ``numrnn.save(model, path)``; ``NUMRNN_MODEL`` names the file. At import
the app rebuilds it with ``numrnn.load_model``, puts it in eval mode and runs
one batched forward, so that with ``gunicorn --preload`` the master compiles
(or loads from numba's cache) the kernels once, before it forks, and the
workers start with them ready instead of each loading its own.

A request is a POST whose JSON body holds one padded batch, laid out as the
model expects ((B, T, I) for a ``batch_first`` model, else (T, B, I)), and
optionally each row's length::

    {"inputs": [[[0.1, 0.2, ...], ...], ...], "lengths": [5, 3]}

The answer holds the layer's ``output``, its final hidden state ``h_n`` (one
per layer and direction) and the ``pid`` of the worker that computed them.
Floats travel as JSON numbers, which Python writes with enough digits to read
back the same float32, so a client gets exactly what the model computed. A
bad request gets ``400`` and ``{"error": "..."}`` in one line: numrnn's own
message when the model refuses the batch.

    NUMRNN_MODEL=$PWD/lstm.safetensors gunicorn --preload -w 2 --chdir examples serve_wsgi:app
"""

import json
import os

import numpy as np

import numrnn

MAX_BODY_BYTES = 8 * 1024 * 1024


class BadRequest(Exception):
    """The request is not a JSON batch this app can read."""


def load_served_model():
    """The model named by ``NUMRNN_MODEL``, in eval mode, its kernels loaded by one forward."""
    path = os.environ.get("NUMRNN_MODEL")
    if not path:
        raise RuntimeError("serve_wsgi: set NUMRNN_MODEL to a model file saved with numrnn.save")
    model = numrnn.load_model(path).eval()
    # Two rows, so the kernels split the batch across threads, as for most requests.
    steps, rows = 3, 2
    shape = (rows, steps, model.input_size) if model.batch_first \
        else (steps, rows, model.input_size)
    with numrnn.no_grad():
        model(np.zeros(shape, dtype=model.dtype))
    return model


MODEL = load_served_model()


def parse_batch(body):
    """``(inputs, lengths)`` as arrays from a request body; BadRequest if it is not a batch."""
    try:
        request = json.loads(body)
    # RecursionError: a body nested thousands of levels deep.
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not JSON: {type(exc).__name__}") from exc
    if not isinstance(request, dict) or "inputs" not in request:
        raise BadRequest('expected a JSON object {"inputs": [...], "lengths": [...]}')
    try:
        inputs = np.asarray(request["inputs"])
        lengths = request.get("lengths")
        lengths = None if lengths is None else np.asarray(lengths)
    except ValueError as exc:
        raise BadRequest(f"inputs and lengths must be rectangular lists: {exc}") from exc
    if inputs.dtype.kind not in "iuf":
        raise BadRequest(f"inputs must be a nested list of numbers, got {inputs.dtype} values")
    # Numbers beyond the model's dtype turn into inf here; infinities and NaNs
    # would come back as outputs that strict JSON cannot carry, so all are refused.
    with np.errstate(over="ignore"):
        inputs = inputs.astype(MODEL.dtype)
    if not np.isfinite(inputs).all():
        raise BadRequest(f"inputs must be finite {MODEL.dtype} numbers")
    return inputs, lengths


def predict(inputs, lengths):
    """The response for one batch: the layer's output, its final hidden state, this pid."""
    with numrnn.no_grad():
        output, state = MODEL(inputs, lengths=lengths)
    h_n = state[0] if isinstance(state, tuple) else state  # an LSTM's state is (h_n, c_n)
    return {"output": output.data.tolist(), "h_n": h_n.data.tolist(), "pid": os.getpid()}


def respond(start_response, status, payload, headers=()):
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))), *headers])
    return [body]


def app(environ, start_response):
    """The WSGI entry point."""
    if environ["REQUEST_METHOD"] != "POST":
        return respond(start_response, "405 Method Not Allowed",
                       {"error": "POST a JSON batch"}, [("Allow", "POST")])
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = -1
    if size < 0:
        return respond(start_response, "400 Bad Request",
                       {"error": "Content-Length must be a non-negative integer"})
    if size > MAX_BODY_BYTES:
        return respond(start_response, "413 Content Too Large",
                       {"error": f"the body must be at most {MAX_BODY_BYTES} bytes, got {size}"})
    try:
        inputs, lengths = parse_batch(environ["wsgi.input"].read(size))
        result = predict(inputs, lengths)
    except (BadRequest, numrnn.NumrnnError) as exc:
        return respond(start_response, "400 Bad Request", {"error": str(exc)})
    return respond(start_response, "200 OK", result)
