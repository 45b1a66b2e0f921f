"""The table of cell kinds (numrnn.functional.cell_kinds): its records and what reads them."""

import copy
import dataclasses
import pathlib
import pickle
import re

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, nn
from numrnn.functional import cell_kinds
from numrnn.functional.cell_kinds import GRU, KINDS, LSTM, RNN, kind_of, parameter_name


def test_gate_orders_of_other_layouts():
    # ONNX: LSTM (i, o, f, c), GRU (z, r, h); Keras: LSTM (i, f, c, o), GRU (z, r, h);
    # oneDNN: LSTM (i, f, c~, o), GRU (u, r, o) with u the update gate.
    assert LSTM.gate_permutation("onnx") == [0, 3, 1, 2]
    assert GRU.gate_permutation("onnx") == [1, 0, 2]
    assert LSTM.gate_permutation("keras") == [0, 1, 2, 3]
    assert GRU.gate_permutation("keras") == [1, 0, 2]
    assert LSTM.gate_permutation("onednn") == [0, 1, 2, 3]
    assert GRU.gate_permutation("onednn") == [1, 0, 2]
    assert RNN.gate_permutation("onnx") == [0]
    with pytest.raises(ArgumentError, match="layout must be 'onnx', 'keras' or 'onednn'"):
        LSTM.gate_permutation("tflite")


def test_records_describe_the_layers_they_run():
    for kind in KINDS.values():
        layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[kind.name](3, 5, rng=0)
        assert layer.kind is kind and kind_of(kind.name) is kind
        assert layer.weight_ih_l0.shape == (kind.gate_count * 5, 3)
        _, state = layer(np.ones((2, 1, 3), np.float32))
        finals = state if isinstance(state, tuple) else (state,)
        assert len(finals) == len(kind.states) and kind.states[0] == "h"
    assert nn.LSTMCell(2, 3).kind is LSTM and nn.GRUCell(2, 3).mode == "GRU"


def test_parameter_names_are_pytorchs():
    assert parameter_name("weight_ih") == "weight_ih"
    assert parameter_name("bias_hh", 2) == "bias_hh_l2"
    assert parameter_name("weight_hh", 0, reverse=True) == "weight_hh_l0_reverse"
    names = [name for name, _ in nn.GRU(2, 3, num_layers=2, bidirectional=True).
             named_parameters()]
    assert names[:4] == [parameter_name(name, 0) for name in cell_kinds.PARAMETERS]
    assert names[4] == parameter_name("weight_ih", 0, reverse=True)


def test_an_unknown_kind_is_refused_by_name():
    with pytest.raises(ArgumentError, match=r"unknown cell kind 'SRU'; expected one of"):
        kind_of("SRU")


def test_copies_and_pickles_of_a_layer_keep_the_table_record():
    layer = nn.RNN(2, 3, nonlinearity="relu", rng=0)
    for copied in (copy.copy(layer), copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert copied.kind is RNN
        x = np.ones((4, 1, 2), np.float32)
        with numrnn.no_grad():
            np.testing.assert_array_equal(copied(x)[0].data, layer(x)[0].data)


def test_no_module_above_the_table_branches_on_a_cell_kind_name():
    """The point of the table: a new kind is a record, not a branch in every module."""
    package = pathlib.Path(cell_kinds.__file__).parents[1]
    branch = re.compile(r"""(mode|kind|decoder_mode)\s*[!=]=\s*["'](LSTM|GRU|RNN)["']""")
    offenders = [f"{path.relative_to(package)}:{number}"
                 for path in package.rglob("*.py") if path.name != "cell_kinds.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if branch.search(line)]
    assert offenders == []


@pytest.mark.parametrize("kind", [cell_kinds.LSTM, cell_kinds.GRU, cell_kinds.RNN])
def test_every_kind_lays_out_the_four_standard_parameters(kind):
    gate_rows = kind.gate_count * 5
    assert kind.parameters(3, 5, kind.options_of(_defaults(kind))) == (
        ("weight_ih", (gate_rows, 3)), ("weight_hh", (gate_rows, 5)),
        ("bias_ih", (gate_rows,)), ("bias_hh", (gate_rows,)))


def test_layers_register_what_the_kind_lays_out_in_its_order():
    # A layer's parameters are its kind's layout, per layer and direction, in
    # PyTorch's registration order; bias=False leaves the biases out.
    layer = nn.GRU(3, 5, num_layers=2, bidirectional=True, bias=False, reset_after=False)
    expected = [cell_kinds.parameter_name(name, index, reverse)
                for index in range(2) for reverse in (False, True)
                for name, _ in cell_kinds.GRU.parameters(3 if index == 0 else 10, 5,
                                                         {"reset_after": False})
                if not name.startswith("bias")]
    assert list(layer.state_dict()) == expected
    weights = layer._weights(1, 1)
    assert weights[0] is layer.weight_ih_l1_reverse and weights[1] is layer.weight_hh_l1_reverse
    assert weights[2:] == (None, None)


class _Defaults:
    """An owner holding a kind's default option values."""


def _defaults(kind):
    owner = _Defaults()
    for name, (default, _) in kind.options.items():
        setattr(owner, name, default)
    return owner


def test_a_recurrent_dropout_refusal_is_asked_only_for_a_nonzero_rate():
    # No kind sets one today (every kernel applies the mask); a kind that did
    # would be asked only when the layer's recurrent_dropout is above zero.
    refusing = dataclasses.replace(LSTM, recurrent_dropout_refusal=lambda options: "no mask")
    options = {name: default for name, (default, _) in LSTM.options.items()}
    assert refusing.refusal(options, 0.0) is None
    assert refusing.refusal(options, 0.3) == "no mask"
    assert all(kind.recurrent_dropout_refusal is None for kind in KINDS.values())
