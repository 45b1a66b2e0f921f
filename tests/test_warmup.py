"""``numrnn warmup``: after it, a process serving what it warmed compiles nothing.

The check is independent of warmup's own list of cases: a fresh process runs a
random sweep of layers, cells and streamers of the warmed cell kind and dtype
(random sizes on both sides of every product-path threshold, options, lengths,
initial states, inference and training) and must load every kernel from the
cache. One cell kind and dtype keeps the test's compile time down: the GRU in
float32 reaches every product path (joint packed step, packed panels, BLAS,
matrix-vector loops, transposed views) as the LSTM does, with fewer kernels.
"""

import json
import os
import re
import subprocess
import sys

import numrnn

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

SWEEP = r"""
import json
import numpy as np
import numrnn
from numrnn import nn
from numrnn.kernels import kernel_cache

rng = np.random.default_rng(2026)
dtype = np.float32
runs = 0
for case in range(40):
    hidden = int(rng.choice([3, 17, 64, 130, 200]))
    features = int(rng.integers(1, 40))
    batch = int(rng.choice([1, 2, 3, 5, 8, 16, 33, 70]))
    steps = int(rng.choice([1, 2, 5, 9, 20]))
    layer = nn.GRU(features, hidden, num_layers=int(rng.integers(1, 3)),
                   bias=bool(rng.integers(2)), batch_first=bool(rng.integers(2)),
                   bidirectional=bool(rng.integers(2)), dtype=dtype, rng=case)
    shape = (batch, steps, features) if layer.batch_first else (steps, batch, features)
    x = rng.standard_normal(shape).astype(dtype)
    lengths = rng.integers(1, steps + 1, batch) if rng.integers(2) else None
    directions = 2 if layer.bidirectional else 1
    h0 = (rng.standard_normal((layer.num_layers * directions, batch, hidden)).astype(dtype)
          if rng.integers(2) else None)
    if rng.integers(2):
        layer.eval()
        with numrnn.no_grad():
            layer(x, h0, lengths=lengths)
    else:
        output, h_n = layer(numrnn.Tensor(x, requires_grad=True), h0, lengths=lengths)
        (output.sum() + h_n.sum()).backward()
    if not layer.bidirectional:
        layer.streamer(batch).step(np.ones((batch, features), dtype))
    cell = nn.GRUCell(features, hidden, bias=bool(rng.integers(2)), dtype=dtype, rng=case)
    state = cell(numrnn.Tensor(x.reshape(-1, features)[:batch], requires_grad=True))
    state.sum().backward()
    runs += 1
print(json.dumps({"runs": runs, "counts": kernel_cache.counts()}))
"""


def _run(arguments, env):
    return subprocess.run([sys.executable, *arguments], env=env, cwd=SOURCE_ROOT,
                          capture_output=True, text=True, timeout=1200)


def test_after_warmup_a_random_sweep_compiles_nothing(tmp_path):
    # A cache of the test's own: kernels compiled by other tests (or by an earlier
    # sweep) must not stand in for what warmup compiled.
    env = dict(os.environ, PYTHONPATH=SOURCE_ROOT, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    warm = _run(["-m", "numrnn", "warmup", "--cells", "GRU", "--dtypes", "float32",
                 "--no-progress"], env)
    assert warm.returncode == 0, warm.stderr
    compiled = re.match(r"numrnn warmup: (\d+) kernels compiled, 0 loaded", warm.stdout)
    assert compiled and int(compiled.group(1)) > 0, warm.stdout
    assert "numrnn: compiling" not in warm.stderr  # warmup says what it does itself

    swept = _run(["-c", SWEEP], env)
    assert swept.returncode == 0, swept.stderr
    report = json.loads(swept.stdout.strip().splitlines()[-1])
    assert report["runs"] == 40
    assert report["counts"]["compiled"] == 0, report
    assert report["counts"]["loaded"] > 0


def test_warmup_refuses_an_unknown_cell_kind_in_one_line():
    done = _run(["-m", "numrnn", "warmup", "--cells", "LSTM,Transformer", "--no-progress"],
                dict(os.environ, PYTHONPATH=SOURCE_ROOT))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "unknown cell kind or dtype Transformer" in done.stderr


def test_warmup_refuses_a_cache_it_cannot_write(tmp_path):
    cache = tmp_path / "read-only"
    cache.mkdir()
    blocked = cache / "file"
    blocked.write_text("")
    # A path below a regular file cannot be created, not even by root.
    done = _run(["-m", "numrnn", "warmup", "--cells", "GRU", "--no-progress"],
                dict(os.environ, PYTHONPATH=SOURCE_ROOT, NUMBA_CACHE_DIR=str(blocked / "c")))
    assert done.returncode == 1
    assert "cannot be written" in done.stderr and done.stdout == ""


def test_every_value_of_every_option_is_a_variant_to_warm():
    from numrnn.functional.cell_kinds import GRU, LSTM, RNN
    from numrnn.warmup import CELLS, VARIANTS
    # Refused combinations (the reset-before GRU or the peephole LSTM with layer_norm)
    # are no variants.
    assert CELLS == ("LSTM", "LSTM-layer_norm=True", "LSTM-peepholes=True", "LSTM-proj_size=8",
                     "GRU", "GRU-layer_norm=True", "GRU-reset_after=False", "RNN-tanh",
                     "RNN-relu")
    assert VARIANTS["LSTM-peepholes=True"] == (LSTM, {"proj_size": 0, "peepholes": True,
                                                      "layer_norm": False})
    assert VARIANTS["LSTM-layer_norm=True"] == (LSTM, {"proj_size": 0, "peepholes": False,
                                                       "layer_norm": True})
    assert VARIANTS["LSTM-proj_size=8"] == (LSTM, {"proj_size": 8, "peepholes": False,
                                                   "layer_norm": False})
    assert VARIANTS["GRU"] == (GRU, {"reset_after": True, "layer_norm": False})
    assert VARIANTS["GRU-reset_after=False"] == (GRU, {"reset_after": False, "layer_norm": False})
    assert VARIANTS["RNN-relu"] == (RNN, {"nonlinearity": "relu"})
