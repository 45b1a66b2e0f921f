"""The kernels given inputs with no features (I = 0): a zero input product, no read past the end.

Layers and the fused ops refuse such inputs
(``tests/functional/test_ops_refuse_inputs_without_features.py``), but the
kernels' Python entry points are plain functions on arrays. With I = 0 the
input projection ``x W_ihᵀ`` is zero, so a kernel must compute what it computes
on one feature column of zeros. Numba checks no bounds, so a read past the end
of an empty row goes unnoticed in a normal run: ``dot_rows`` once typed its sums
by reading ``source[0]``. A child process with ``NUMBA_BOUNDSCHECK=1`` (and a
cache of its own, so that nothing compiled without the checks is loaded) catches
such a read as an ``IndexError``.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from kernel_calls import (
    lstm_back,
    lstm_infer,
    lstm_train,
    one_state_back,
    one_state_infer,
    one_state_train,
)

from numrnn.kernels import elman, gru
from numrnn.kernels.plan import MAX_ROWS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BOUNDS_CHECKED_CHILD = """
import numpy as np
from numrnn.kernels.matvec import dot_rows

for dtype in (np.float32, np.float64):
    for rows, columns in ((1, 1), (3, 5), (6, 8)):
        out = np.full((rows, columns), np.nan, dtype=dtype)
        dot_rows(np.zeros((rows, 0), dtype=dtype), np.zeros((columns, 0), dtype=dtype), out)
        assert (out == 0).all(), out
print("zeros")
"""


def test_dot_rows_with_no_inner_dimension_reads_nothing_and_writes_zeros(tmp_path):
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", BOUNDS_CHECKED_CHILD], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["zeros"]


def _arrays(gates, steps, batch, features, hidden, dtype):
    rng = np.random.default_rng(features + batch)
    return {"x": np.zeros((steps, batch, features), dtype=dtype),
            "weight_ih": rng.standard_normal((gates * hidden, features)).astype(dtype),
            "weight_hh": (rng.standard_normal((gates * hidden, hidden)) * 0.3).astype(dtype),
            "bias_ih": rng.standard_normal(gates * hidden).astype(dtype),
            "bias_hh": rng.standard_normal(gates * hidden).astype(dtype),
            "h0": rng.standard_normal((batch, hidden)).astype(dtype),
            "c0": rng.standard_normal((batch, hidden)).astype(dtype)}


def _lstm(a, lengths):
    weights = (a["weight_ih"], a["weight_hh"], a["bias_ih"], a["bias_hh"])
    inferred = lstm_infer(a["x"], a["h0"], a["c0"], *weights, lengths)
    output, h_n, c_n, gates, cells = lstm_train(a["x"], a["h0"], a["c0"], *weights,
                                                        lengths)
    ones = np.ones_like(output)
    grads = lstm_back(ones, ones[0], ones[0], a["x"], a["h0"], a["c0"],
                                   a["weight_ih"], a["weight_hh"], output, gates, cells, lengths)
    return [*inferred, output, h_n, c_n, *grads]


def _gru_or_elman(kernel, extra):
    def run(a, lengths):
        weights = (a["weight_ih"], a["weight_hh"], a["bias_ih"], a["bias_hh"])
        inferred = one_state_infer(kernel, a["x"], a["h0"], *weights, lengths, False, *extra)
        output, h_n, saved = one_state_train(kernel, a["x"], a["h0"], *weights, lengths, False,
                                                  *extra)
        ones = np.ones_like(output)
        grads = one_state_back(kernel, ones, ones[0], a["x"], a["weight_ih"], a["weight_hh"], saved,
                                lengths, False, *extra)
        return [*inferred, output, h_n, *grads]
    return run


KERNELS = {"lstm": (4, _lstm), "gru": (3, _gru_or_elman(gru, ())),
           "elman": (1, _gru_or_elman(elman, ("tanh",)))}


@pytest.mark.parametrize("batch, hidden", [(1, 8), (MAX_ROWS - 1, 8), (MAX_ROWS + 4, 64)],
                         ids=["one row", "row loops", "blocks and GEMMs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KERNELS)
def test_a_kernel_without_input_features_runs_as_on_a_zero_feature(kind, dtype, batch, hidden):
    gates, run = KERNELS[kind]
    steps = 9
    lengths = np.maximum(1, steps - np.arange(batch) % steps).astype(np.int64)
    none = _arrays(gates, steps, batch, 0, hidden, dtype)
    one = {**none, **{name: _arrays(gates, steps, batch, 1, hidden, dtype)[name]
                      for name in ("x", "weight_ih")}}
    got, expected = run(none, lengths), run(one, lengths)
    for index, (a, b) in enumerate(zip(got, expected)):
        if a.shape != b.shape:  # dx and dW_ih: no feature column, nothing to compare
            assert a.shape == b.shape[:-1] + (0,), index
            continue
        np.testing.assert_array_equal(a, b, err_msg=f"result {index}")
