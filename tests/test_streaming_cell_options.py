"""Streamer of the projected and the layer-normalised cells: their own step kernels
equal the layer run over the whole sequence (``tests/test_streaming.py`` steps every
variant in both dtypes, stacked and with several streams; these add what differs)."""

import numpy as np
import pytest

import numrnn
from numrnn import nn

VARIANTS = {
    "LSTM-proj_size": lambda **kw: nn.LSTM(5, 7, proj_size=3, **kw),
    "LSTM-layer_norm": lambda **kw: nn.LSTM(5, 7, layer_norm=True, **kw),
    "GRU-layer_norm": lambda **kw: nn.GRU(5, 7, layer_norm=True, **kw),
}


def sequence(steps, batch, seed=1):
    return np.random.default_rng(seed).standard_normal((steps, batch, 5))


def initial_states(layer, batch, seed=3):
    """Random initial states of the layer's sizes (h of proj_size in a projected LSTM)."""
    rng = np.random.default_rng(seed)
    sizes = layer.kind.state_sizes(layer.hidden_size, layer.kind.options_of(layer))
    return [rng.standard_normal((layer.num_layers, batch, size)) for size in sizes]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("bias", [True, False])
def test_steps_from_a_set_state_equal_the_layer(name, bias):
    layer = VARIANTS[name](num_layers=2, bias=bias, dtype=np.float64, rng=0)
    # Gains and shifts away from 1 and 0, so a mixed-up one is seen.
    for parameter_name, parameter in layer.named_parameters():
        if parameter_name.startswith("ln_"):
            parameter.data[...] = np.random.default_rng(7).uniform(0.5, 1.5, parameter.shape) \
                - (0.0 if "weight" in parameter_name else 1.0)
    x = sequence(6, 3)
    states = initial_states(layer, 3)
    with numrnn.no_grad():
        expected, finals = layer(x, tuple(states) if len(states) > 1 else states[0])
    finals = finals if isinstance(finals, tuple) else (finals,)
    stream = layer.streamer(3)
    stream.h[...] = states[0]
    if len(states) > 1:
        stream.c[...] = states[1]
    outputs = np.stack([stream.step(x[t]).copy() for t in range(len(x))])
    np.testing.assert_allclose(outputs, expected.data, rtol=0, atol=1e-12)
    np.testing.assert_allclose(stream.h, finals[0].data, rtol=0, atol=1e-12)
    if len(states) > 1:
        np.testing.assert_allclose(stream.c, finals[1].data, rtol=0, atol=1e-12)


def test_a_projected_streamer_has_h_of_proj_size_and_c_of_hidden_size():
    layer = nn.LSTM(5, 7, num_layers=2, proj_size=3, dtype=np.float64, rng=0)
    stream = layer.streamer(2)
    assert stream.h.shape == (2, 2, 3) and stream.c.shape == (2, 2, 7)
    assert stream.step(np.ones((2, 5))).shape == (2, 3)
    x = sequence(5, 2)
    stream.reset(rows=[1])
    stream.reset()
    assert not stream.h.any() and not stream.c.any()
    with numrnn.no_grad():
        expected = layer(x)[0].data
    outputs = np.stack([stream.step(x[t]).copy() for t in range(len(x))])
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-12)
