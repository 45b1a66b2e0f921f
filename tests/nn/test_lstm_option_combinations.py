"""The LSTM's options that no kernel computes together are refused before anything runs.

proj_size, peepholes and layer_norm each have kernels of their own (issue #15); the
cell table refuses them in any pair, the per-step cell states are refused with the
peephole and layer-normalised cells, and a Seq2Seq refuses a projected encoder. Weight
dropout, which acts on ``weight_hh`` outside the kernels, combines with all of them.
"""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, nn
from numrnn.warmup import VARIANTS, cell_options, cell_takes

PAIRS = [{"proj_size": 2, "peepholes": True}, {"proj_size": 2, "layer_norm": True},
         {"peepholes": True, "layer_norm": True},
         {"proj_size": 2, "peepholes": True, "layer_norm": True}]


@pytest.mark.parametrize("options", PAIRS, ids=lambda options: "+".join(options))
def test_options_without_a_common_kernel_are_refused_by_name(options):
    with pytest.raises(ArgumentError, match="do not combine yet") as refused:
        nn.LSTM(3, 4, **options)
    for name in options:
        assert name in str(refused.value)


def test_the_cell_refuses_peepholes_with_layer_norm():
    with pytest.raises(ArgumentError, match="peepholes and layer_norm do not combine yet"):
        nn.LSTMCell(3, 4, peepholes=True, layer_norm=True)


@pytest.mark.parametrize("option", ["peepholes", "layer_norm"])
def test_per_step_cell_states_are_refused_where_no_kernel_keeps_them(option):
    lstm = nn.LSTM(3, 4, rng=0, **{option: True})
    x = np.ones((5, 2, 3), np.float32)
    with pytest.raises(ArgumentError, match="return_cell_states=True is not available"):
        lstm(x, return_cell_states=True)


def test_weight_dropout_follows_a_projected_recurrent_weight():
    lstm = nn.LSTM(3, 6, proj_size=2, weight_dropout=0.5, rng=0)
    x = numrnn.Tensor(np.ones((5, 2, 3), np.float32), requires_grad=True)
    output, (h_n, c_n) = lstm(x)
    output.sum().backward()
    assert output.shape == (5, 2, 2) and c_n.shape == (1, 2, 6)
    assert lstm.weight_hh_l0.grad.shape == (24, 2)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_warmup_variant_builds_its_cell(variant):
    kind, options = VARIANTS[variant]
    cell = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell, "RNN": nn.RNNCell}[kind.name]
    # 16 units, warmup's smallest: the projected variant's cell has proj_size 8.
    built = kind.options_of(cell(2, 16, **cell_options(kind, options)))
    assert cell_takes(kind, options) and built == options
