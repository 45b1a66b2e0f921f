"""What a recurrent layer keeps between calls to make small calls cheap, and when it lets go.

Issue #14 item 7: at ``nn.LSTM(8, 16)``, B = 1, T = 5 the module call cost far
more than its kernel. Two things are now kept across calls (``perf/small_calls.py``
measures the result): the stack's spec, made from the layer's attributes and
replaced when any attribute is set, and the zero initial states of small
batches, shared by every inference call. Parameters are still looked up and
checked at every call. These tests change a layer between calls in each way a
user can (an attribute, ``train``/``eval``, ``.data``, ``load_state_dict``, an
optimizer step, ``to``, substituted parameters, the batch size) and check that
the next call computes what a freshly built layer computes; and that several
threads calling one layer at once each get their own results, bit for bit.
"""

import sys
import threading

import numpy as np
import pytest

from numrnn import Tensor, nn, no_grad
from numrnn.functional.recurrent_stack import CACHED_ZERO_ROWS
from numrnn.nn import functional_call
from numrnn.optim import SGD

KINDS = {"rnn": (nn.RNN, {}), "lstm": (nn.LSTM, {}), "gru": (nn.GRU, {}),
         "gru_reset_before": (nn.GRU, {"reset_after": False}),
         "lstm_peepholes": (nn.LSTM, {"peepholes": True}),
         "lstm_layer_norm": (nn.LSTM, {"layer_norm": True}),
         "gru_layer_norm": (nn.GRU, {"layer_norm": True}),
         "lstm_proj": (nn.LSTM, {"proj_size": 3})}


def inputs(steps=5, batch=1, features=3, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((steps, batch, features)).astype(dtype)


def untaped(layer, x, states=None):
    """The layer's output and final states as arrays, computed under ``no_grad``."""
    with no_grad():
        output, finals = layer(x, states)
    finals = finals if isinstance(finals, tuple) else (finals,)
    return [output.data] + [state.data for state in finals]


def twin(layer, **changes):
    """A new layer of the same class and constructor arguments (updated with
    ``changes``) holding a copy of ``layer``'s weights."""
    config = {**layer.get_config(), **changes}
    fresh = type(layer)(**config)
    fresh.load_state_dict({name: array.astype(fresh.dtype)
                           for name, array in layer.state_dict().items()})
    return fresh


def assert_same(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_setting_an_option_after_a_call_takes_effect_at_the_next():
    layer = nn.RNN(3, 4, rng=0)
    x = inputs()
    untaped(layer, x)
    layer.nonlinearity = "relu"
    assert_same(untaped(layer, x), untaped(twin(layer), x))
    assert twin(layer).nonlinearity == "relu"


def test_train_and_eval_switch_dropout_between_calls():
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.5, rng=0).eval()
    x = inputs(batch=2)
    evaluated = untaped(layer, x)
    layer.train()
    trained = untaped(layer, x)
    assert not np.array_equal(trained[0], evaluated[0])  # the masks acted
    layer.eval()
    assert_same(untaped(layer, x), evaluated)


def test_replaced_rng_draws_the_next_masks():
    layer = nn.GRU(3, 4, num_layers=2, dropout=0.5, rng=0)
    x = inputs(batch=2)
    untaped(layer, x)
    layer.rng = np.random.default_rng(7)
    got = untaped(layer, x)
    layer.rng = np.random.default_rng(7)
    assert_same(untaped(layer, x), got)


@pytest.mark.parametrize("kind", KINDS)
def test_data_assigned_between_calls_is_used(kind):
    cls, extra = KINDS[kind]
    layer = cls(3, 4, rng=0, **extra)
    x = inputs()
    before = untaped(layer, x)
    source = cls(3, 4, rng=1, **extra)
    for name, parameter in layer.named_parameters():
        parameter.data = dict(source.named_parameters())[name].data.copy()
    got = untaped(layer, x)
    assert not np.array_equal(got[0], before[0])
    assert_same(got, untaped(source, x))


def test_load_state_dict_between_calls_is_used():
    layer, source = nn.LSTM(3, 4, rng=0), nn.LSTM(3, 4, rng=1)
    x = inputs()
    untaped(layer, x)
    layer.load_state_dict(source.state_dict())
    assert_same(untaped(layer, x), untaped(source, x))


def test_an_optimizer_step_between_calls_is_used():
    layer = nn.GRU(3, 4, rng=0)
    x = inputs()
    before = untaped(layer, x)
    output, _ = layer(Tensor(x))
    output.sum().backward()
    SGD(layer.parameters(), lr=0.5).step()
    got = untaped(layer, x)
    assert not np.array_equal(got[0], before[0])
    assert_same(got, untaped(twin(layer), x))


def test_a_dtype_change_between_calls_gets_states_of_the_new_dtype():
    layer = nn.LSTM(3, 4, rng=0)
    untaped(layer, inputs())
    layer.to(np.float64)
    x = inputs(dtype=np.float64)
    got = untaped(layer, x)
    assert all(array.dtype == np.float64 for array in got)
    assert_same(got, untaped(twin(layer, dtype="float64"), x))


def test_substituted_parameters_are_used_and_then_let_go():
    layer, source = nn.LSTM(3, 4, rng=0), nn.LSTM(3, 4, rng=1)
    x = inputs()
    own = untaped(layer, x)
    with no_grad():
        output, (h_n, c_n) = functional_call(layer, dict(source.named_parameters()), (x,))
    assert_same([output.data, h_n.data, c_n.data], untaped(source, x))
    assert_same(untaped(layer, x), own)


@pytest.mark.parametrize("batches", [(1, 3, 1), (2, CACHED_ZERO_ROWS + 1, 2)])
def test_changing_batch_sizes_start_from_zeros_each_time(batches):
    layer = nn.LSTM(3, 4, rng=0)
    for batch in batches:
        x = inputs(batch=batch, seed=batch)
        zeros = [np.zeros((1, batch, 4), np.float32)] * 2
        assert_same(untaped(layer, x), untaped(layer, x, zeros))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_kept_zero_states_stay_zero(kind, bidirectional):
    cls, extra = KINDS[kind]
    layer = cls(3, 4, num_layers=2, bidirectional=bidirectional, rng=0, **extra)
    for batch in (1, 2, 1):
        untaped(layer, inputs(batch=batch, seed=batch))
    kept = [zeros for spec in layer._stack_spec_cache.values()
            for zeros in spec.zero_states.values()]
    assert kept
    assert all(not state.any() for zeros in kept for state in zeros)


def test_threads_calling_one_layer_at_once_get_their_own_results_bitwise():
    layer = nn.LSTM(3, 4, num_layers=2, bidirectional=True, rng=0).eval()
    # Each thread its own batch size and initial states, under no_grad or taped.
    problems = []
    for index, batch in enumerate((1, 2, 3, 1)):
        x = inputs(batch=batch, seed=index)
        states = None if index % 2 else tuple(
            np.random.default_rng(10 + index).standard_normal((4, batch, 4)).astype(np.float32)
            for _ in range(2))
        problems.append((x, states))
    expected = [untaped(layer, x, states) for x, states in problems]
    barrier = threading.Barrier(len(problems))
    mismatches, errors = [], []

    def worker(index):
        x, states = problems[index]
        try:
            barrier.wait(timeout=10)
            for round_ in range(200):
                if round_ % 2:
                    output, finals = layer(Tensor(x, requires_grad=True), states)
                    got = [output.data] + [state.data for state in finals]
                else:
                    got = untaped(layer, x, states)
                if not all(np.array_equal(a, b) for a, b in zip(got, expected[index])):
                    mismatches.append(index)
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(problems))]
    # A tiny switch interval makes the threads hop every few bytecodes, inside the
    # layer's call, between its checks, its cached spec and the kernels.
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(previous_interval)
    assert errors == []
    assert mismatches == []


def test_a_thread_switching_modes_never_gives_another_a_stale_spec():
    layer = nn.GRU(3, 4, num_layers=2, dropout=0.5, rng=0).eval()
    x = inputs(batch=2)
    expected = untaped(layer, x)
    stop = threading.Event()

    def switcher():
        while not stop.is_set():
            layer.train()
            layer.eval()

    thread = threading.Thread(target=switcher)
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread.start()
    try:
        for _ in range(300):
            untaped(layer, x)
    finally:
        stop.set()
        thread.join(timeout=60)
        sys.setswitchinterval(previous_interval)
    # Once the switching is over (eval last), no spec of training mode is left.
    assert_same(untaped(layer, x), expected)
    assert all(spec.dropout == 0.0 for spec in layer._stack_spec_cache.values())
