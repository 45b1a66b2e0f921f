"""``numrnn warmup`` of the projected LSTM (variant ``LSTM-proj_size=8``): what it runs.

The kernels' product paths follow hidden_size, not proj_size, so one P compiles what
every P runs; these check that the variant's tasks reach them (projected layers at
every warmed size, with initial states of the cell table's sizes, and streamers) without
compiling anything. The full check, that a sweep of projected LSTMs of random sizes
compiles nothing after ``numrnn warmup --cells LSTM-proj_size=8`` (as
``tests/test_warmup.py`` does for the GRU), takes minutes and stays out of the suite.
"""

import numpy as np

from numrnn import warmup
from numrnn.functional.cell_kinds import LSTM

VARIANT = "LSTM-proj_size=8"


def test_the_projected_variant_runs_projected_layers_at_every_warmed_size():
    calls = list(warmup._calls(VARIANT, np.dtype(np.float32)))
    hidden_sizes = {layer.hidden_size for layer, _, _, _ in calls}
    assert hidden_sizes == set(warmup.HIDDEN_SIZES)
    assert {x.shape[1] for _, x, _, _ in calls} == set(warmup.BATCHES)
    with_states = 0
    for layer, x, hx, _ in calls:
        assert layer.proj_size == 8 and layer.kind is LSTM
        if hx is not None:
            rows = layer.num_layers * (2 if layer.bidirectional else 1)
            assert [state.shape for state in hx] == [(rows, x.shape[1], 8),
                                                     (rows, x.shape[1], layer.hidden_size)]
            with_states += 1
    assert with_states == len(calls) // 2


def test_the_projected_variant_streams_and_warms_its_cell():
    kind, options = warmup.VARIANTS[VARIANT]
    # LSTMCell(proj_size=8) is its step: warmup steps it at every warmed size (16 and up).
    assert kind.streams(options) and warmup.cell_takes(kind, options)
    assert warmup.cell_options(kind, options) == options
    assert any(label.startswith(f"{VARIANT} float32 cells and streaming")
               for label, _ in warmup.tasks(cells=(VARIANT,), dtypes=("float32",)))
