"""JSON read from files: nesting measured without recursion, strict values, and save's side."""

import numpy as np
import pytest

import numrnn
from numrnn import nn
from numrnn.errors import FormatError
from numrnn.io.untrusted_json import MAX_JSON_DEPTH, nesting_depth, parse_untrusted


@pytest.mark.parametrize("text, depth", [
    ("17", 0),
    ("[]", 1),
    ('{"a": [1, {"b": []}], "c": {}}', 4),
    ('"[[[[{{"', 0),
    (r'{"a": "\"[[[", "b": "\\"}', 1),
    ('["\ud800 \u00e9 [", {"\u4e2d": []}]', 3),
    ("[" * 40 + "]" * 40, 40),
    # An unterminated string runs to the end (the parse then refuses the text).
    ('[["abc', 2),
    ('[["abc\\', 2),
    ('["' + '\\"' * 5 + "[[[", 1),
    # The deepest point lies past the scan's first chunk, 3 levels in from before it.
    ("[" * 3 + "[1]," * (1 << 19) + "[[]]" + "]" * 3, 5),
])
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text) == depth


def test_parse_reads_the_deepest_nesting_allowed():
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    value = parse_untrusted(text, "f.safetensors", "the header")
    for _ in range(MAX_JSON_DEPTH - 1):
        (value,) = value
    assert value == []


@pytest.mark.parametrize("text, message", [
    ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nests 33 levels deep"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nests 100000 levels deep"),
    ('{"shape": [NaN]}', r"not valid JSON \(NaN is not a JSON number\)"),
    ('{"shape": [Infinity]}', "Infinity is not a JSON number"),
    ('{"shape": [-Infinity]}', "-Infinity is not a JSON number"),
    ('{"p": 1e999}', "1e999 does not fit a float"),
    ('{"a": 1, "b": 2, "a": 3}', "duplicate key 'a' in one object"),
    ('{"n": ' + "9" * 5000 + "}", "Exceeds the limit"),
    ('{"a": [1, 2}', "not valid JSON"),
])
def test_parse_refuses_with_a_format_error_naming_the_file(text, message):
    with pytest.raises(FormatError, match=message) as error:
        parse_untrusted(text, "f.safetensors", "the header")
    assert str(error.value).startswith("f.safetensors: the header ")


def nested_sequentials(depth):
    model = nn.Linear(2, 3, rng=0)
    for _ in range(depth):
        model = nn.Sequential(model)
    return model


def test_the_deepest_config_save_writes_loads_back(tmp_path):
    # A Linear's spec is 2 levels deep and each Sequential around it adds 3: 2 + 3 * 10 = 32.
    model = nested_sequentials(10)
    numrnn.save(model, tmp_path / "deep.safetensors")

    restored = numrnn.load_model(tmp_path / "deep.safetensors")

    (name, weight), = [(name, param) for name, param in restored.named_parameters()
                       if name.endswith("weight")]
    assert name == "0." * 10 + "weight"
    np.testing.assert_array_equal(weight.data, model.state_dict()[name])


def test_save_refuses_a_config_load_model_could_not_read(tmp_path):
    path = tmp_path / "deeper.safetensors"
    with pytest.raises(FormatError, match="Sequential: its config nests 35 levels deep, and "
                                          "numrnn.load_model reads at most 32"):
        numrnn.save(nested_sequentials(11), path)
    assert not path.exists()
