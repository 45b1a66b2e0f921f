"""The taped and untaped paths of the recurrent layers and cells accept the same calls.

``RNN``/``LSTM``/``GRU`` and the cells run on the tape when a gradient can flow
(``RNNBase._run_taped``, the fused ops of :mod:`numrnn.functional`) and on plain
arrays otherwise (:mod:`numrnn.nn.rnn_untaped`). Every call in the tables below
runs both ways on a fresh module with the same weights: with gradients on (the
parameters, and the input where it can, require gradients) and under
``numrnn.no_grad()``. A bad call must be refused both ways with the same error
class and the same message; a good one must give the same arrays, bit for bit.
"""

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pytest

from numrnn import NumrnnError, Tensor, nn, no_grad

STEPS, BATCH, FEATURES, HIDDEN = 5, 2, 3, 4


def values(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@dataclass
class Call:
    """One call: the input, the states (one array per state, or ``hx`` passed as it is),
    the lengths, parameters replaced through ``.data`` and constructor options."""

    x: object
    states: list = None
    lengths: object = None
    hx: object = None
    replaced: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


def one_more_column(array):
    return np.zeros(array.shape[:-1] + (array.shape[-1] + 1,), dtype=array.dtype)


REPLACEMENTS = {"wrong shape": one_more_column,
                "float64": lambda array: array.astype(np.float64),
                "list": lambda array: array.tolist()}


def refusal(run, grad):
    """The error class and message ``run()`` is refused with, gradients on or off."""
    with contextlib.nullcontext() if grad else no_grad(), \
            pytest.raises(NumrnnError) as refused:
        run()
    return type(refused.value), str(refused.value)


def assert_same_results(run):
    taped = run_recording(run, grad=True)
    untaped = run_recording(run, grad=False)
    assert all(t.requires_grad for t in taped) and not any(t.requires_grad for t in untaped)
    assert len(taped) == len(untaped)
    for a, b in zip(taped, untaped):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
        assert a.data.tobytes() == b.data.tobytes()


def run_recording(run, grad):
    with contextlib.nullcontext() if grad else no_grad():
        return run()


def as_input(x):
    """A float array becomes a Tensor that requires a gradient (the taped path with
    gradients on); anything else is passed as it is, to be refused."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return Tensor(x, requires_grad=True)
    return x


def build(cls, options, replaced, sizes):
    module = cls(*sizes, rng=0, **options)
    for name, replace in replaced.items():
        parameter = getattr(module, name)
        parameter.data = replace(parameter.data)
    return module


def prepare(kind, call):
    """``(module, hx)`` for one call: the layer or cell ``kind`` builds with the call's
    options and replaced parameters, and the states the call passes."""
    options = {**kind.options, **call.options}
    hidden = options.pop("hidden_size", HIDDEN)
    replaced = {name: replace for name, replace in call.replaced.items() if name != "all"}
    module = build(kind.cls, options, replaced, (FEATURES, hidden))
    if "all" in call.replaced:
        call.replaced["all"](module)
    hx = call.hx
    if call.states is not None:
        hx = tuple(call.states) if kind.lstm else call.states[0]
    return module, hx


def hidden_two(module):
    """Every parameter replaced by its counterpart in the same module of hidden size 2."""
    small = type(module)(module.input_size, 2, **{k: v for k, v in module.get_config().items()
                                                   if k not in ("input_size", "hidden_size")})
    for parameter, replacement in zip(module.parameters(), small.parameters()):
        parameter.data = replacement.data


# -- layers ----------------------------------------------------------------------------

LAYER_KINDS = {"rnn": (nn.RNN, {}), "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
               "lstm": (nn.LSTM, {}), "gru": (nn.GRU, {})}
LAYOUTS = {"plain": {}, "batch_first": {"batch_first": True},
           "bidirectional": {"bidirectional": True}, "two_layers": {"num_layers": 2}}


class Layout:
    """Shapes of one layer kind in one layout, for building its calls."""

    def __init__(self, kind, layout):
        self.cls, extra = LAYER_KINDS[kind]
        self.options = {**extra, **LAYOUTS[layout]}
        self.lstm = self.cls is nn.LSTM
        self.slots = self.options.get("num_layers", 1) * (1 + self.options.get("bidirectional",
                                                                              False))
        self.batch_first = self.options.get("batch_first", False)
        last = "_l1" if layout == "two_layers" else \
            "_l0_reverse" if layout == "bidirectional" else "_l0"
        self.checked = ["weight_ih_l0"] + [name + last for name in
                                           ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def input(self, steps=STEPS, batch=BATCH, features=FEATURES, dtype=np.float32):
        shape = (batch, steps, features) if self.batch_first else (steps, batch, features)
        return values(shape, dtype)

    def states(self, shape=None, dtype=np.float32):
        shape = shape or (self.slots, BATCH, HIDDEN)
        return [values(shape, dtype, seed=1 + k) for k in range(1 + self.lstm)]

    def run(self, call):
        layer, hx = prepare(self, call)
        output, states = layer(as_input(call.x), hx, lengths=call.lengths)
        return [output, *states] if self.lstm else [output, states]


def bad_layer_calls(s):
    """name -> Call for a layout ``s``: every one of them must be refused."""
    calls = {
        "input 1-D": Call(values((FEATURES,))),
        "input 4-D": Call(values((1, STEPS, BATCH, FEATURES))),
        "input feature size": Call(s.input(features=FEATURES + 2)),
        "input float64": Call(s.input(dtype=np.float64)),
        "input int": Call(s.input().astype(np.int64)),
        "input list": Call(s.input().tolist()),
        "input None": Call(None),
        "no steps": Call(s.input(steps=0)),
        "no batch rows": Call(s.input(batch=0)),
        "h0 layer count": Call(s.input(), s.states((s.slots + 1, BATCH, HIDDEN))),
        "h0 batch": Call(s.input(), s.states((s.slots, BATCH + 1, HIDDEN))),
        "h0 hidden size": Call(s.input(), s.states((s.slots, BATCH, HIDDEN + 1))),
        "h0 2-D for a batched input": Call(s.input(), s.states((BATCH, HIDDEN))),
        "h0 float64": Call(s.input(), s.states(dtype=np.float64)),
        "h0 list": Call(s.input(), [state.tolist() for state in s.states()]),
        "lengths too long": Call(s.input(), lengths=[STEPS + 1, 1]),
        "lengths zero": Call(s.input(), lengths=[0, STEPS]),
        "lengths negative": Call(s.input(), lengths=np.array([-1, STEPS])),
        "lengths fractional": Call(s.input(), lengths=np.array([1.5, 2.0])),
        "lengths NaN": Call(s.input(), lengths=np.array([np.nan, 2.0])),
        "lengths count": Call(s.input(), lengths=[STEPS] * (BATCH + 1)),
        "lengths 2-D": Call(s.input(), lengths=[[STEPS, STEPS]]),
        "lengths bool": Call(s.input(), lengths=np.array([True, True])),
        "lengths strings": Call(s.input(), lengths=["5", "5"]),
        "unbatched input with lengths": Call(values((STEPS, FEATURES)), lengths=[STEPS]),
        "unbatched input with batched h0": Call(values((STEPS, FEATURES)),
                                                s.states((s.slots, 1, HIDDEN))),
        "every parameter of hidden size 2": Call(s.input(), replaced={"all": hidden_two}),
    }
    if s.lstm:
        h0, c0 = s.states()
        calls["c0 hidden size"] = Call(s.input(), [h0, values((s.slots, BATCH, HIDDEN + 1))])
        calls["c0 float64"] = Call(s.input(), [h0, c0.astype(np.float64)])
        calls["hx not a pair"] = Call(s.input(), hx=h0)
        calls["hx a triple"] = Call(s.input(), hx=(h0, c0, c0))
    for name in s.checked:
        for how, replace in REPLACEMENTS.items():
            calls[f"{name} {how}"] = Call(s.input(), replaced={name: replace})
    return calls


def good_layer_calls(s):
    """name -> Call for a layout ``s``: each must give the same results both ways."""
    ragged = [STEPS, 2]
    return {
        "zero states": Call(s.input()),
        "given states": Call(s.input(), s.states()),
        "states as Tensors": Call(s.input(), [Tensor(state) for state in s.states()]),
        "ragged lengths": Call(s.input(), lengths=ragged),
        "whole-number float lengths": Call(s.input(), lengths=np.array(ragged, np.float64)),
        "non-contiguous input": Call(s.input(steps=2 * STEPS, batch=2 * BATCH)[::2, ::2]),
        "unbatched input with states": Call(values((STEPS, FEATURES)),
                                            s.states((s.slots, HIDDEN))),
        "non-contiguous weight_hh_l0": Call(s.input(),
                                            replaced={"weight_hh_l0": np.asfortranarray}),
        "float64": Call(s.input(dtype=np.float64), s.states(dtype=np.float64), [STEPS, 1],
                        options={"dtype": np.float64}),
        "dropout between layers in training mode": Call(
            s.input(), options={"num_layers": 3, "dropout": 0.5}),
        # float32 batches of more than 4 rows with large weights take the packed products
        "eight rows, hidden size 64": Call(s.input(batch=8), lengths=[STEPS, 1, 2, 3, 4, 5, 5, 1],
                                           options={"hidden_size": 64}),
    }


def layer_table(calls):
    layouts = [Layout(kind, layout) for kind in LAYER_KINDS for layout in LAYOUTS]
    rows = [(layout, call) for layout in layouts for call in calls(layout).values()]
    ids = [f"{kind}-{layout}-{name}" for kind in LAYER_KINDS for layout in LAYOUTS
           for name in calls(Layout(kind, layout))]
    return pytest.mark.parametrize("layout, call", rows, ids=ids)


@layer_table(bad_layer_calls)
def test_a_bad_layer_call_is_refused_alike_on_both_paths(layout, call):
    assert refusal(lambda: layout.run(call), grad=True) == \
        refusal(lambda: layout.run(call), grad=False)


@layer_table(good_layer_calls)
def test_a_good_layer_call_gives_the_same_results_on_both_paths(layout, call):
    assert_same_results(lambda: layout.run(call))


# -- cells -----------------------------------------------------------------------------

CELL_KINDS = {"rnn": (nn.RNNCell, {}), "rnn_relu": (nn.RNNCell, {"nonlinearity": "relu"}),
              "lstm": (nn.LSTMCell, {}), "gru": (nn.GRUCell, {})}


class CellKind:
    def __init__(self, kind):
        self.cls, self.options = CELL_KINDS[kind]
        self.lstm = self.cls is nn.LSTMCell

    def states(self, shape=(BATCH, HIDDEN), dtype=np.float32):
        return [values(shape, dtype, seed=1 + k) for k in range(1 + self.lstm)]

    def run(self, call):
        cell, hx = prepare(self, call)
        new = cell(as_input(call.x), hx)
        return list(new) if self.lstm else [new]


def bad_cell_calls(s):
    calls = {
        "input 0-D": Call(values(())),
        "input 3-D": Call(values((1, BATCH, FEATURES))),
        "input feature size": Call(values((BATCH, FEATURES + 2))),
        "input float64": Call(values((BATCH, FEATURES), np.float64)),
        "input int": Call(values((BATCH, FEATURES)).astype(np.int64)),
        "input list": Call(values((BATCH, FEATURES)).tolist()),
        "no batch rows": Call(values((0, FEATURES))),
        "no batch rows with states": Call(values((0, FEATURES)), s.states((0, HIDDEN))),
        "state batch": Call(values((BATCH, FEATURES)), s.states((BATCH + 1, HIDDEN))),
        "state hidden size": Call(values((BATCH, FEATURES)), s.states((BATCH, HIDDEN + 1))),
        "state 1-D for a batched input": Call(values((BATCH, FEATURES)), s.states((HIDDEN,))),
        "state float64": Call(values((BATCH, FEATURES)), s.states(dtype=np.float64)),
        "unbatched input with a batched state": Call(values((FEATURES,)), s.states((1, HIDDEN))),
        "every parameter of hidden size 2": Call(values((BATCH, FEATURES)),
                                                 replaced={"all": hidden_two}),
    }
    if s.lstm:
        h, c = s.states()
        calls["c hidden size"] = Call(values((BATCH, FEATURES)), [h, values((BATCH, HIDDEN + 1))])
        calls["hx not a pair"] = Call(values((BATCH, FEATURES)), hx=h)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        for how, replace in REPLACEMENTS.items():
            calls[f"{name} {how}"] = Call(values((BATCH, FEATURES)), replaced={name: replace})
    return calls


def good_cell_calls(s):
    return {
        "zero states": Call(values((BATCH, FEATURES))),
        "given states": Call(values((BATCH, FEATURES)), s.states()),
        "unbatched": Call(values((FEATURES,)), s.states((HIDDEN,))),
        "non-contiguous input": Call(values((BATCH, 2 * FEATURES))[:, ::2]),
        "float64": Call(values((BATCH, FEATURES), np.float64), s.states(dtype=np.float64),
                        options={"dtype": np.float64}),
        "eight rows, hidden size 64": Call(values((8, FEATURES)), options={"hidden_size": 64}),
    }


def cell_table(calls):
    rows = [(CellKind(kind), call) for kind in CELL_KINDS
            for call in calls(CellKind(kind)).values()]
    ids = [f"{kind}-{name}" for kind in CELL_KINDS for name in calls(CellKind(kind))]
    return pytest.mark.parametrize("cell, call", rows, ids=ids)


@cell_table(bad_cell_calls)
def test_a_bad_cell_call_is_refused_alike_on_both_paths(cell, call):
    assert refusal(lambda: cell.run(call), grad=True) == \
        refusal(lambda: cell.run(call), grad=False)


@cell_table(good_cell_calls)
def test_a_good_cell_call_gives_the_same_results_on_both_paths(cell, call):
    assert_same_results(lambda: cell.run(call))
