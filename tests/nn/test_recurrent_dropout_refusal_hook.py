"""The cell table's ``recurrent_dropout_refusal`` hook, as every caller reads it.

No kind sets one today (every LSTM, GRU and Elman kernel applies the recurrent
mask), so these tests give the LSTM record a refusal for their duration and check
that each place a rate or mask enters refuses it by name, before any kernel runs:
the layer and the cell (built and set) and the fused op given a mask (the Keras
importer's refusal: tests/keras/test_keras_dropout.py).
"""

import numpy as np
import pytest

from numrnn import ArgumentError, nn
from numrnn import functional as F
from numrnn.functional import cell_kinds

REASON = "recurrent_dropout refused by a test's kind"


@pytest.fixture
def refusing_lstm():
    record = cell_kinds.LSTM
    original = record.recurrent_dropout_refusal
    object.__setattr__(record, "recurrent_dropout_refusal", lambda options: REASON)
    try:
        yield record
    finally:
        object.__setattr__(record, "recurrent_dropout_refusal", original)


@pytest.mark.parametrize("module", [nn.LSTM, nn.LSTMCell])
def test_layers_and_cells_refuse_it_when_built_and_when_set(refusing_lstm, module):
    with pytest.raises(ArgumentError, match=REASON):
        module(3, 4, recurrent_dropout=0.2)
    built = module(3, 4, input_dropout=0.2)
    with pytest.raises(ArgumentError, match=REASON):
        built.recurrent_dropout = 0.2
    assert built.recurrent_dropout == 0.0


def test_the_fused_op_refuses_a_mask(refusing_lstm):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    weights = (rng.standard_normal((16, 3)), rng.standard_normal((16, 4)),
               np.zeros(16), np.zeros(16))
    with pytest.raises(ArgumentError, match=f"recurrent_mask given, but {REASON}"):
        F.lstm(x, None, None, *weights, recurrent_mask=np.ones((2, 4)))

