"""examples/serve_wsgi.py, called in-process as a WSGI app: answers, and 400s for bad batches.

The pre-forking server itself is tested in ``test_prefork_server.py``; here
the app is called directly with a hand-made WSGI environ, so each kind of bad
request is cheap to check: it must get a one-line JSON error, never a
traceback.
"""

import io
import json
from wsgiref.util import setup_testing_defaults

import numpy as np
import pytest
from repo_scripts import load_script

import numrnn
from numrnn import nn

INPUT_SIZE, HIDDEN_SIZE = 3, 4


@pytest.fixture(scope="module")
def serve_wsgi(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "gru.safetensors"
    numrnn.save(nn.GRU(INPUT_SIZE, HIDDEN_SIZE, rng=0), path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NUMRNN_MODEL", str(path))
        return load_script("examples/serve_wsgi.py")


def call(app, body, method="POST"):
    """``(status line, headers, raw body)`` of one call of the WSGI ``app``."""
    body = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ = {"REQUEST_METHOD": method, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    setup_testing_defaults(environ)
    started = {}

    def start_response(status, headers):
        started.update(status=status, headers=dict(headers))

    raw = b"".join(app(environ, start_response))
    return started["status"], started["headers"], raw


def test_answers_a_batch_with_the_models_outputs_and_its_pid(serve_wsgi):
    # The fixture's GRU is not batch_first: (T, B, I).
    inputs = np.random.default_rng(1).standard_normal((6, 3, INPUT_SIZE)).astype(np.float32)
    lengths = [6, 2, 4]
    status, headers, raw = call(serve_wsgi.app, {"inputs": inputs.tolist(), "lengths": lengths})
    assert status == "200 OK" and headers["Content-Type"] == "application/json"
    answer = json.loads(raw)
    with numrnn.no_grad():
        output, h_n = serve_wsgi.MODEL(inputs, lengths=lengths)
    assert np.array_equal(np.array(answer["output"], np.float32), output.data)
    assert np.array_equal(np.array(answer["h_n"], np.float32), h_n.data)
    assert answer["pid"] > 0
    assert not serve_wsgi.MODEL.training


@pytest.mark.parametrize("body, message", [
    (b"{not json", "the body is not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON: RecursionError"),
    ([1, 2], 'expected a JSON object {"inputs"'),
    ({"lengths": [1]}, 'expected a JSON object {"inputs"'),
    ({"inputs": [[[1, 2, 3]], [[1, 2]]]}, "inputs and lengths must be rectangular lists"),
    ({"inputs": [[["a", "b", "c"]]]}, "inputs must be a nested list of numbers"),
    ({"inputs": [[[1, None, 3]]]}, "inputs must be a nested list of numbers"),
    ({"inputs": [[[1, 2, 1e39]]]}, "inputs must be finite float32 numbers"),
    (b'{"inputs": [[[1, 2, NaN]]]}', "inputs must be finite float32 numbers"),
    ({"inputs": [[[1, 2]]]}, "GRU: input feature size must be 3 (input_size), got 2"),
    ({"inputs": [1, 2, 3]}, "GRU: input must be 3-D (T, B, I) or 2-D (T, I) unbatched"),
    ({"inputs": [[[1, 2, 3]]], "lengths": [2]}, "GRU: every length must be in 1..1"),
    ({"inputs": [[[1, 2, 3]]], "lengths": ["1"]}, "GRU: lengths must be integers"),
], ids=["malformed-json", "deeply-nested", "not-an-object", "no-inputs", "ragged", "strings",
        "null", "overflow", "nan", "feature-size", "1-d", "length-too-long", "string-length"])
def test_a_bad_request_gets_400_and_a_one_line_json_error(serve_wsgi, body, message):
    status, headers, raw = call(serve_wsgi.app, body)
    assert status == "400 Bad Request" and headers["Content-Type"] == "application/json"
    assert b"\n" not in raw and int(headers["Content-Length"]) == len(raw)
    error = json.loads(raw)
    assert list(error) == ["error"] and message in error["error"]


@pytest.mark.parametrize("length", ["ten", "-5"])
def test_a_bad_content_length_gets_400(serve_wsgi, length):
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": length,
               "wsgi.input": io.BytesIO(b"{}")}
    setup_testing_defaults(environ)
    statuses = []
    raw = b"".join(serve_wsgi.app(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["400 Bad Request"]
    assert json.loads(raw) == {"error": "Content-Length must be a non-negative integer"}


def test_only_post_is_allowed(serve_wsgi):
    status, headers, raw = call(serve_wsgi.app, b"", method="GET")
    assert status == "405 Method Not Allowed" and headers["Allow"] == "POST"
    assert json.loads(raw) == {"error": "POST a JSON batch"}


def test_an_oversized_body_is_refused_unread(serve_wsgi):
    environ = {"REQUEST_METHOD": "POST",
               "CONTENT_LENGTH": str(serve_wsgi.MAX_BODY_BYTES + 1),
               "wsgi.input": io.BytesIO(b"")}
    setup_testing_defaults(environ)
    statuses = []
    raw = b"".join(serve_wsgi.app(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["413 Content Too Large"] and "at most" in json.loads(raw)["error"]


def test_without_a_model_path_the_app_says_what_to_set(monkeypatch):
    monkeypatch.delenv("NUMRNN_MODEL", raising=False)
    with pytest.raises(RuntimeError, match="set NUMRNN_MODEL to a model file saved with"):
        load_script("examples/serve_wsgi.py")
