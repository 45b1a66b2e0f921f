"""Streamer: stepping a layer frame by frame equals running it on the whole sequence."""

import threading
import tracemalloc

import numpy as np
import pytest

import numrnn
from numrnn import nn
from numrnn.errors import ArgumentError, DTypeError, ShapeError

LAYERS = {
    "LSTM": lambda **kw: nn.LSTM(5, 7, **kw),
    "GRU": lambda **kw: nn.GRU(5, 7, **kw),
    "GRU-reset_before": lambda **kw: nn.GRU(5, 7, reset_after=False, **kw),
    "LSTM-peepholes": lambda **kw: nn.LSTM(5, 7, peepholes=True, **kw),
    "LSTM-proj_size": lambda **kw: nn.LSTM(5, 7, proj_size=3, **kw),
    "LSTM-layer_norm": lambda **kw: nn.LSTM(5, 7, layer_norm=True, **kw),
    "GRU-layer_norm": lambda **kw: nn.GRU(5, 7, layer_norm=True, **kw),
    "RNN-tanh": lambda **kw: nn.RNN(5, 7, **kw),
    "RNN-relu": lambda **kw: nn.RNN(5, 7, nonlinearity="relu", **kw),
}
# float64 follows the layer to rounding; float32's rational activations differ
# from the layer's by ~1e-7 per gate until both use the same ones.
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}


def sequence(steps, batch, dtype, seed=1):
    return np.random.default_rng(seed).standard_normal((steps, batch, 5)).astype(dtype)


def run_layer(layer, x):
    with numrnn.no_grad():
        output, state = layer(x)
    finals = state if isinstance(state, tuple) else (state,)
    return output.data, [s.data for s in finals]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("num_layers", [1, 3])
def test_steps_equal_the_sequence_layer(name, dtype, num_layers):
    layer = LAYERS[name](num_layers=num_layers, dtype=dtype, rng=0)
    x = sequence(12, 3, dtype)
    expected, finals = run_layer(layer, x)
    stream = layer.streamer(batch_size=3)
    outputs = np.stack([stream.step(x[t]).copy() for t in range(len(x))])
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=tol)
    np.testing.assert_allclose(stream.h, finals[0], rtol=0, atol=tol)
    if name.startswith("LSTM"):
        np.testing.assert_allclose(stream.c, finals[1], rtol=0, atol=tol)
    # Not all zeros or constant: the comparison above can fail.
    assert np.abs(outputs).max() > 0.1 and np.ptp(outputs[-1]) > 0.01


def test_no_bias_layer_streams():
    layer = nn.GRU(5, 7, bias=False, dtype=np.float64, rng=0)
    x = sequence(6, 2, np.float64)
    expected, _ = run_layer(layer, x)
    stream = layer.streamer(2)
    outputs = np.stack([stream.step(x[t]).copy() for t in range(len(x))])
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-12)


def test_reset_all_and_some_rows():
    layer = nn.LSTM(5, 7, num_layers=2, dtype=np.float64, rng=0)
    x = sequence(8, 3, np.float64)
    stream = layer.streamer(3)
    for t in range(4):
        stream.step(x[t])
    stream.reset(rows=[1])
    # Row 1 restarts from zero at step 4; rows 0 and 2 carry on.
    restarted, _ = run_layer(layer, x[4:, 1:2])
    continued, _ = run_layer(layer, x[:, [0, 2]])
    outputs = np.stack([stream.step(x[t]).copy() for t in range(4, 8)])
    np.testing.assert_allclose(outputs[:, 1:2], restarted, atol=1e-12)
    np.testing.assert_allclose(outputs[:, [0, 2]], continued[4:], atol=1e-12)
    stream.reset()
    assert not stream.h.any() and not stream.c.any()
    fresh, _ = run_layer(layer, x[:2])
    np.testing.assert_allclose(stream.step(x[0]), fresh[0], atol=1e-12)


def test_state_views_set_the_initial_state():
    layer = nn.GRU(5, 7, num_layers=2, dtype=np.float64, rng=0)
    x = sequence(4, 2, np.float64)
    h0 = np.random.default_rng(3).standard_normal((2, 2, 7))
    with numrnn.no_grad():
        expected = layer(x, h0)[0].data
    stream = layer.streamer(2)
    stream.h[...] = h0
    outputs = np.stack([stream.step(x[t]).copy() for t in range(4)])
    np.testing.assert_allclose(outputs, expected, atol=1e-12)


def test_step_reuses_its_buffers_and_allocates_nothing():
    layer = nn.LSTM(5, 7, num_layers=2, rng=0)
    stream = layer.streamer(1)
    x = np.ones((1, 5), np.float32)
    first = stream.step(x)
    assert stream.step(x) is first
    for _ in range(10):
        stream.step(x)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(1000):
            stream.step(x)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename")
                if stat.size_diff > 0 and "tracemalloc" not in str(stat.traceback))
    # A (1, 7) float32 output per step would be >100 kB over 1000 steps.
    assert grown < 4096


def test_threads_with_their_own_streamers_match_sequential_runs():
    layer = nn.LSTM(5, 16, num_layers=2, dtype=np.float64, rng=0)
    inputs = [sequence(200, 2, np.float64, seed=seed) for seed in range(4)]

    def run(x):
        stream = layer.streamer(2)
        return np.stack([stream.step(x[t]).copy() for t in range(len(x))])

    expected = [run(x) for x in inputs]
    results = [None] * len(inputs)
    start = threading.Barrier(len(inputs))

    def worker(index):
        start.wait()
        results[index] = run(inputs[index])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_accepts_lists_tensors_and_strided_arrays():
    layer = nn.RNN(5, 7, dtype=np.float64, rng=0)
    x = sequence(1, 2, np.float64)[0]
    reference = layer.streamer(2).step(x).copy()
    strided = np.asfortranarray(x)
    for value in (x.tolist(), numrnn.tensor(x), strided):
        np.testing.assert_array_equal(layer.streamer(2).step(value), reference)


def test_validation_errors():
    lstm = nn.LSTM(5, 7, rng=0)
    with pytest.raises(ArgumentError, match="bidirectional"):
        nn.LSTM(5, 7, bidirectional=True).streamer()
    with pytest.raises(ArgumentError, match="batch_size must be a positive int"):
        lstm.streamer(batch_size=0)
    with pytest.raises(TypeError, match="RNN, LSTM or GRU"):
        nn.Streamer(nn.Linear(3, 4))
    stream = lstm.streamer(2)
    with pytest.raises(ShapeError,
                       match=r"shape \(2, 5\) \(batch_size, input_size\), got \(1, 5\)"):
        stream.step(np.zeros((1, 5), np.float32))
    with pytest.raises(DTypeError, match="dtype float32"):
        stream.step(np.zeros((2, 5), np.float64))
    with pytest.raises(ArgumentError, match=r"rows must be in \[0, 2\)"):
        stream.reset(rows=2)
    with pytest.raises(ArgumentError, match="sequence of ints"):
        stream.reset(rows=[0.5])
    with pytest.raises(AttributeError, match="no cell state"):
        _ = nn.GRU(5, 7).streamer().c
    assert "LSTM" in repr(stream) and "batch_size=2" in repr(stream)
