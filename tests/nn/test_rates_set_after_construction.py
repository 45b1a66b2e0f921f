"""A dropout rate changed on a built layer is checked as the constructor checks it.

The kernels trust the rates (a rate of 1 divides by zero when a mask is scaled) and
the cell table refuses some combinations (a recurrent mask on a peephole LSTM), so a
bad value must be refused where it is set, naming it, and leave the layer as it was.
"""

import numpy as np
import pytest

from numrnn import nn
from numrnn.errors import ArgumentError

RATES = ("dropout", "weight_dropout", "input_dropout", "recurrent_dropout")
LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}


@pytest.mark.parametrize("mode", sorted(LAYERS))
@pytest.mark.parametrize("name", RATES)
@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, True, "0.5", None])
def test_a_bad_rate_is_refused_by_name_and_changes_nothing(mode, name, bad):
    layer = LAYERS[mode](3, 4, num_layers=2, rng=0)
    before = getattr(layer, name)
    with pytest.raises(ArgumentError, match=f"{mode}: {name} must be a number in \\[0, 1\\)"):
        setattr(layer, name, bad)
    assert getattr(layer, name) == before


@pytest.mark.parametrize("name", RATES)
def test_a_good_rate_is_kept_as_a_float_and_takes_effect(name):
    layer = nn.GRU(3, 4, num_layers=2, rng=0)
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    plain = layer(x)[0].data
    setattr(layer, name, 0.5)
    assert getattr(layer, name) == 0.5 and isinstance(getattr(layer, name), float)
    assert not np.array_equal(layer(x)[0].data, plain)
    layer.eval()
    assert np.array_equal(layer(x)[0].data, plain)


def test_recurrent_dropout_set_on_a_layer_normalised_lstm_takes_effect():
    layer = nn.LSTM(3, 4, layer_norm=True, rng=0)
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    plain = layer(x)[0].data
    layer.recurrent_dropout = 0.5
    assert layer.recurrent_dropout == 0.5
    assert not np.array_equal(layer(x)[0].data, plain)
    layer.eval()
    assert np.array_equal(layer(x)[0].data, plain)


@pytest.mark.parametrize("options", [{"peepholes": True}, {"proj_size": 2}])
def test_recurrent_dropout_set_on_the_projected_or_peephole_lstm_takes_effect(options):
    layer = nn.LSTM(3, 4, rng=0, **options)
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    plain = layer(x)[0].data
    layer.recurrent_dropout = 0.3
    assert layer.recurrent_dropout == 0.3
    assert not np.array_equal(layer(x)[0].data, plain)
