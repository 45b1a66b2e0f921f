"""numrnn.distributed.predict refuses bad input with a numrnn error in bounded time, no cluster.

No client, a scheduler nobody listens on, a model that cannot travel as a file,
bad options and a missing extra: each is refused before any task runs.
"""

import socket
import sys
import time

import numpy as np
import pytest

import numrnn
from numrnn import nn

pytest.importorskip("distributed", reason="needs the numrnn[distributed] extra (dask[distributed])")
import numrnn.distributed as nd  # noqa: E402


def sequences(count):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((int(length), 6)).astype(np.float32)
            for length in rng.integers(1, 25, count)]


def lstm():
    return nn.LSTM(6, 12)


def test_an_unreachable_scheduler_is_a_clear_error_within_the_timeout():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(numrnn.DistributedError, match=rf"could not reach the Dask scheduler at "
                                                      rf"'tcp://127.0.0.1:{port}' within 1.5 s"):
        nd.predict(lstm(), sequences(3), f"tcp://127.0.0.1:{port}",
                   timeout=1.5)
    assert time.monotonic() - started < 15


def test_no_client_is_a_clear_error():
    with pytest.raises(numrnn.DistributedError, match="no Dask client is running"):
        nd.predict(lstm(), sequences(3))


def test_a_model_without_config_is_refused_before_any_task():
    class Doubler(numrnn.nn.Module):
        def forward(self, inputs, lengths=None):
            return numrnn.tensor(inputs) * 2

    with pytest.raises(numrnn.FormatError, match="Doubler defines no get_config"):
        nd.predict(Doubler(), sequences(3), "tcp://127.0.0.1:1")


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 0}, "batch_size must be a positive int, got 0"),
    ({"retries": -1}, "retries must be an int >= 0, got -1"),
    ({"timeout": float("inf")}, "timeout must be a finite number"),
    ({"max_pending": 0}, "max_pending must be a positive int or None, got 0"),
])
def test_bad_options_are_refused_before_connecting(options, message):
    with pytest.raises(numrnn.ArgumentError, match=message):
        nd.predict(lstm(), sequences(3), "tcp://127.0.0.1:1", **options)


def test_without_dask_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(numrnn.MissingExtraError, match=r'pip install "numrnn\[distributed\]"'):
        nd.predict(lstm(), sequences(3))
