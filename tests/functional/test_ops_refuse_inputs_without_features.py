"""The fused recurrent ops refuse an input with no features, before any kernel runs.

A layer's ``input_size`` is a positive int, so a layer never passes an input
without features; ``F.lstm``, ``F.gru``, ``F.rnn`` and their cells take arrays
from anyone, and an input of feature size 0 (with a ``weight_ih`` of no columns
to match, or not) is an empty slice upstream. It used to reach the kernels,
whose input product then read past the end of every empty row
(``tests/kernels/test_kernels_without_input_features.py``).
"""

import re

import numpy as np
import pytest

from numrnn import functional as F
from numrnn.errors import ShapeError
from numrnn.kernels import elman, gru, lstm

KERNEL_MODULES = (elman, gru, lstm)
STEPS, BATCH, HIDDEN = 5, 2, 4

# op name -> (call on input and weights, gate blocks, input shape without features)
OPS = {
    "lstm": (lambda x, w_ih, w_hh: F.lstm(x, None, None, w_ih, w_hh), 4, (STEPS, BATCH)),
    "gru": (lambda x, w_ih, w_hh: F.gru(x, None, w_ih, w_hh), 3, (STEPS, BATCH)),
    "rnn": (lambda x, w_ih, w_hh: F.rnn(x, None, w_ih, w_hh), 1, (STEPS, BATCH)),
    "lstm_cell": (lambda x, w_ih, w_hh: F.lstm_cell(x, None, None, w_ih, w_hh), 4, (BATCH,)),
    "gru_cell": (lambda x, w_ih, w_hh: F.gru_cell(x, None, w_ih, w_hh), 3, (BATCH,)),
    "rnn_cell": (lambda x, w_ih, w_hh: F.rnn_cell(x, None, w_ih, w_hh), 1, (BATCH,)),
}


@pytest.mark.parametrize("weight_columns", [0, 3], ids=["weight_ih without columns",
                                                        "weight_ih with 3 columns"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_input_without_features_is_refused_before_any_kernel(monkeypatch, op, weight_columns,
                                                                dtype):
    for module in KERNEL_MODULES:
        for name in ("forward_train", "forward_infer"):
            monkeypatch.setattr(module, name, lambda *args, **kwargs: pytest.fail("a kernel ran"))
    call, gates, leading = OPS[op]
    x = np.zeros(leading + (0,), dtype=dtype)
    weight_ih = np.ones((gates * HIDDEN, weight_columns), dtype=dtype)
    weight_hh = np.ones((gates * HIDDEN, HIDDEN), dtype=dtype)
    message = f"{op}: input must have at least one feature, got shape {x.shape}"
    with pytest.raises(ShapeError, match=re.escape(message)):
        call(x, weight_ih, weight_hh)
