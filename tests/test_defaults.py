"""import numrnn reaches every namespace; manual_seed and the default float dtype."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import numrnn
import numrnn.defaults
from numrnn import ArgumentError, DTypeError, nn
from numrnn import functional as F
from numrnn.generate import generate

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_defaults(monkeypatch):
    """Each test starts from an unseeded default generator and float32, and leaves them so."""
    monkeypatch.setattr(numrnn.defaults, "_default_generator", None)
    monkeypatch.setattr(numrnn.defaults, "_default_dtype", np.dtype(np.float32))


def test_optim_training_and_generate_are_reachable_and_loaded_on_first_use():
    code = ("import sys, numrnn\n"
            "lazy = ['numrnn.optim', 'numrnn.training', 'numrnn.generate']\n"
            "print([name in sys.modules for name in lazy])\n"
            "print(numrnn.optim.Adam.__name__, numrnn.training.fit.__name__,\n"
            "      numrnn.generate.generate.__name__)\n"
            "print(sorted(set(lazy) - set(sys.modules)))\n"
            "print({'optim', 'training', 'generate'} <= set(dir(numrnn)))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == ["[False, False, False]", "Adam fit generate", "[]",
                                             "True"]
    with pytest.raises(AttributeError, match="has no attribute 'optimizer'"):
        numrnn.optimizer  # noqa: B018


def build_and_draw():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.LSTM(4, 5))
    x = np.ones((2, 3), np.float32)
    mask = F.dropout(numrnn.tensor(np.ones(8, np.float32)), 0.5).data
    model_out = model[1](model[0](x)).data
    table = np.log(np.full((4, 4), 0.25))
    tokens = generate(lambda ids, state: (table[ids], state), np.array([0]), 6)
    return model.state_dict(), model_out, mask, tokens


def test_manual_seed_makes_rng_none_reproducible():
    numrnn.manual_seed(7)
    first = build_and_draw()
    numrnn.manual_seed(7)
    second = build_and_draw()
    numrnn.manual_seed(8)
    third = build_and_draw()
    for name, value in first[0].items():
        np.testing.assert_array_equal(value, second[0][name])
    for got, expected in zip(first[1:], second[1:]):
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(first[0]["0.weight"], third[0]["0.weight"])
    assert not np.array_equal(first[2], third[2])
    # Each layer gets a generator of its own: two layers built in a row differ.
    numrnn.manual_seed(7)
    assert not np.array_equal(nn.Linear(3, 4).weight.data, nn.Linear(3, 4).weight.data)


def test_an_explicit_rng_is_untouched_by_the_default_generator():
    numrnn.manual_seed(1)
    seeded = nn.LSTM(3, 4, rng=5).state_dict()
    numrnn.manual_seed(2)
    again = nn.LSTM(3, 4, rng=5).state_dict()
    for name, value in seeded.items():
        np.testing.assert_array_equal(value, again[name])
    generator = np.random.default_rng(3)
    assert nn.Dropout(0.5, rng=generator).rng is generator
    state = numrnn.default_generator().bit_generator.state
    nn.Linear(3, 4, rng=0)
    F.dropout(numrnn.tensor(np.ones(4, np.float32)), 0.5, rng=1)
    assert numrnn.default_generator().bit_generator.state == state


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_manual_seed_refuses_what_is_not_a_seed(seed):
    with pytest.raises(ArgumentError, match=r"manual_seed: seed must be an int >= 0, got"):
        numrnn.manual_seed(seed)


def test_python_floats_become_float32_and_go_into_a_float32_layer():
    x = numrnn.tensor([[1.0, 2.0, 3.0]])
    assert x.dtype == np.float32
    assert nn.Linear(3, 2, rng=0)(x).dtype == np.float32
    assert numrnn.tensor(2.5).dtype == np.float32
    assert numrnn.tensor([1, 2]).dtype == np.int64
    assert numrnn.tensor([True]).dtype == np.bool_
    assert numrnn.tensor(np.zeros(2)).dtype == np.float64, "an ndarray keeps its dtype"
    assert numrnn.tensor(np.float64(1.0)).dtype == np.float64
    assert numrnn.tensor([1.0], dtype=np.float64).dtype == np.float64


def test_set_default_dtype():
    assert numrnn.get_default_dtype() is np.float32
    numrnn.set_default_dtype(np.float64)
    assert numrnn.get_default_dtype() is np.float64
    assert numrnn.tensor([[1.0]]).dtype == np.float64
    numrnn.set_default_dtype("float32")
    assert numrnn.tensor([[1.0]]).dtype == np.float32
    with pytest.raises(DTypeError, match="expected float32 or float64, got float16"):
        numrnn.set_default_dtype(np.float16)
    with pytest.raises(DTypeError, match="expected float32 or float64, got 'double precision'"):
        numrnn.set_default_dtype("double precision")
    assert numrnn.get_default_dtype() is np.float32
