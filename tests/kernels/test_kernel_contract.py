"""Every cell kind's kernels keep the one contract of numrnn.kernels.recurrent.

The same entry points with the same parameters, the same shapes of results,
``needs`` honoured gradient by gradient, and inputs in any memory layout made
ready by the one driver (a transposed or Fortran-ordered array gives the same
bits as its C-contiguous copy).
"""

import inspect
import re

import numpy as np
import pytest

from numrnn.errors import ShapeError
from numrnn.functional.cell_kinds import KINDS
from numrnn.kernels import recurrent

# Every kind, and each variant its options choose, by name: (kind, options).
VARIANTS = {"LSTM": (KINDS["LSTM"], None), "GRU": (KINDS["GRU"], None),
            "LSTM-peepholes": (KINDS["LSTM"], {"peepholes": True}),
            "GRU-reset_before": (KINDS["GRU"], {"reset_after": False}),
            "RNN": (KINDS["RNN"], {"nonlinearity": "relu"})}


def _problem(kind, options=None, steps=4, batch=3, n_in=2, hidden=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = kind.gate_count * hidden
    x = rng.standard_normal((steps, batch, n_in))
    states = tuple(rng.standard_normal((batch, hidden)) * 0.5 for _ in kind.states)
    weights = (rng.standard_normal((rows, n_in)) * 0.5, rng.standard_normal((rows, hidden)) * 0.5,
               rng.standard_normal(rows) * 0.1, rng.standard_normal(rows) * 0.1)
    # Weights an option adds (the LSTM's peepholes) follow, as the kind lays them out.
    weights += tuple(rng.standard_normal(shape) * 0.5
                     for _, shape in kind.parameters(n_in, hidden, options or {})[4:])
    lengths = np.array([steps, 1, steps - 1], dtype=np.int64)
    return x, states, weights, lengths


def test_every_kind_offers_the_same_entry_points():
    expected = {}
    for kind in KINDS.values():
        for module, name in ((kind.forward_kernels, "forward_train"),
                             (kind.forward_kernels, "forward_infer"),
                             (kind.backward_kernels, "backward")):
            parameters = list(inspect.signature(getattr(module, name)).parameters)
            assert expected.setdefault(name, parameters) == parameters, (kind.name, name)


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("reverse", [False, True])
def test_results_have_the_contracts_shapes(name, reverse):
    kind, options = VARIANTS[name]
    x, states, weights, lengths = _problem(kind, options)
    steps, batch, _ = x.shape
    output, finals, saved = kind.forward_train(x, states, weights, lengths, reverse,
                                               options)
    assert output.shape == (steps, batch, 5) and len(finals) == len(kind.states)
    assert all(final.shape == (batch, 5) for final in finals)
    inferred, inferred_finals = kind.forward_infer(x, states, weights, lengths, reverse,
                                                   options)
    np.testing.assert_array_equal(inferred, output)
    for a, b in zip(inferred_finals, finals):
        np.testing.assert_array_equal(a, b)
    grads = kind.backward(np.ones_like(output), tuple(np.ones_like(f) for f in finals), x,
                          states, weights, saved, lengths, reverse, options)
    inputs = (x, *states, *weights)
    count = kind.parameter_count(options or {})
    assert len(grads) == len(inputs) == 1 + len(kind.states) + count
    for grad, value in zip(grads, inputs):
        assert grad.shape == value.shape and grad.dtype == value.dtype


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_needs_are_honoured_one_by_one(name):
    kind, options = VARIANTS[name]
    x, states, weights, lengths = _problem(kind, options, seed=1)
    output, finals, saved = kind.forward_train(x, states, weights, lengths, False,
                                               options)
    seeds = (np.ones_like(output), tuple(np.ones_like(f) for f in finals))
    every = kind.backward(*seeds, x, states, weights, saved, lengths, False, options)
    count = len(every)
    for wanted in range(count):
        needs = tuple(index == wanted for index in range(count))
        grads = kind.backward(*seeds, x, states, weights, saved, lengths, False, options,
                              needs)
        assert [grad is not None for grad in grads] == list(needs)
        np.testing.assert_array_equal(grads[wanted], every[wanted])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_driver_makes_any_layout_ready(name):
    kind, options = VARIANTS[name]
    x, states, weights, lengths = _problem(kind, options, seed=2)
    contiguous = kind.forward_train(x, states, weights, lengths, True, options)
    strided_x = np.asfortranarray(x)
    strided_weights = (np.asfortranarray(weights[0]), weights[1].T.copy().T, weights[2][::1],
                       *weights[3:])
    strided_states = tuple(np.asfortranarray(state) for state in states)
    assert not strided_x.flags.c_contiguous and not strided_weights[1].flags.c_contiguous
    strided = kind.forward_train(strided_x, strided_states, strided_weights, lengths, True,
                                 options)
    np.testing.assert_array_equal(strided[0], contiguous[0])
    for a, b in zip(strided[1], contiguous[1]):
        np.testing.assert_array_equal(a, b)
    seeds = (np.ones_like(contiguous[0]), tuple(np.ones_like(f) for f in contiguous[1]))
    expected = kind.backward(*seeds, x, states, weights, contiguous[2], lengths, True,
                             options)
    got = kind.backward(np.asfortranarray(seeds[0]), seeds[1], strided_x, strided_states,
                        strided_weights, strided[2], lengths, True, options)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("shape", [(2, 5), (3, 4), (3,), (3, 5, 1)])
def test_a_recurrent_mask_of_the_wrong_shape_is_refused_before_the_kernels(name, shape):
    # The kernels index the mask by row and feature without bounds checks.
    kind, options = VARIANTS[name]
    x, states, weights, lengths = _problem(kind, options)
    with pytest.raises(ShapeError, match=r"recurrent_mask must have shape \(3, 5\) "
                                         rf"\(batch, size of h\), got {re.escape(str(shape))}"):
        kind.forward_train(x, states, weights, lengths, False, options, np.ones(shape))
    output, finals, saved = kind.forward_train(x, states, weights, lengths, False, options,
                                               np.ones((3, 5)))
    grad_output = np.ones_like(output)
    grad_finals = tuple(np.zeros_like(state) for state in finals)
    with pytest.raises(ShapeError, match=r"recurrent_mask must have shape \(3, 5\)"):
        kind.backward(grad_output, grad_finals, x, states, weights, saved, lengths, False,
                      options, recurrent_mask=np.ones(shape))


def test_default_lengths_are_made_once_per_small_shape():
    # Shared by every call with lengths=None (~0.4 µs of a small layer's call).
    first = recurrent._lengths(None, 7, 3)
    assert recurrent._lengths(None, 7, 3) is first
    np.testing.assert_array_equal(first, [7, 7, 7])
    assert first.dtype == np.int64
    rows = recurrent.CACHED_LENGTH_ROWS + 1
    assert recurrent._lengths(None, 7, rows) is not recurrent._lengths(None, 7, rows)
    given = np.array([2, 1], dtype=np.int64)
    assert recurrent._lengths(given, 7, 2) is given


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_no_kernel_writes_the_shared_default_lengths(name, dtype, batch):
    kind, options = VARIANTS[name]
    x, states, weights, _ = _problem(kind, options, batch=batch, seed=3)
    x, states, weights = (x.astype(dtype), tuple(s.astype(dtype) for s in states),
                          tuple(w.astype(dtype) for w in weights))
    shared = recurrent._lengths(None, x.shape[0], batch)
    for reverse in (False, True):
        kind.forward_infer(x, states, weights, None, reverse, options)
        output, finals, saved = kind.forward_train(x, states, weights, None, reverse, options)
        kind.backward(np.ones_like(output), tuple(np.ones_like(f) for f in finals), x, states,
                      weights, saved, None, reverse, options)
    assert recurrent._lengths(None, x.shape[0], batch) is shared
    np.testing.assert_array_equal(shared, np.full(batch, x.shape[0]))
