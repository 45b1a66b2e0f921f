"""numrnn.save / numrnn.load of optimizer and scheduler state dicts: no pickle, exact round trip."""

import json
import math

import numpy as np
import pytest
import safetensors.numpy

import numrnn
from numrnn import FormatError, nn
from numrnn.optim import SGD, Adagrad, Adam, RMSprop, lr_scheduler


def trained_optimizer(factory, steps=3):
    model = nn.Linear(3, 2, rng=0)
    optimizer = factory(model.parameters())
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    for _ in range(steps):
        optimizer.zero_grad()
        (model(x) ** 2).sum().backward()
        optimizer.step()
    return model, optimizer, x


OPTIMIZERS = {
    "Adam amsgrad": lambda params: Adam(params, lr=0.01, amsgrad=True),
    "SGD nesterov": lambda params: SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    "Adagrad": lambda params: Adagrad(params, lr=0.1),
    "RMSprop centered": lambda params: RMSprop(params, lr=0.01, centered=True, momentum=0.5),
}


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_optimizer_state_round_trips_and_the_next_step_is_identical(tmp_path, kind):
    model, optimizer, x = trained_optimizer(OPTIMIZERS[kind])
    path = tmp_path / "optimizer.safetensors"
    numrnn.save(optimizer.state_dict(), path)
    loaded = numrnn.load(path)

    original = optimizer.state_dict()
    assert loaded["param_groups"] == original["param_groups"]
    assert [type(value) for value in loaded["param_groups"][0].values()] == \
        [type(value) for value in original["param_groups"][0].values()]
    assert loaded["state"].keys() == original["state"].keys()
    for index, entries in original["state"].items():
        for key, value in entries.items():
            assert type(loaded["state"][index][key]) is type(value)
            np.testing.assert_array_equal(loaded["state"][index][key], value)

    twin = nn.Linear(3, 2, rng=0)
    twin.load_state_dict(model.state_dict())
    resumed = OPTIMIZERS[kind](twin.parameters())
    resumed.load_state_dict(loaded)
    for net, opt in ((model, optimizer), (twin, resumed)):
        opt.zero_grad()
        (net(x) ** 2).sum().backward()
        opt.step()
    for name, value in model.state_dict().items():
        assert value.tobytes() == twin.state_dict()[name].tobytes(), name


def test_scheduler_states_round_trip_with_infinities_and_nesting(tmp_path):
    optimizer = SGD(nn.Linear(2, 2, rng=0).parameters(), lr=0.1)
    plateau = lr_scheduler.ReduceLROnPlateau(optimizer)
    sequential = lr_scheduler.SequentialLR(
        optimizer, [lr_scheduler.LinearLR(optimizer, total_iters=2),
                    lr_scheduler.ExponentialLR(optimizer, 0.9)], milestones=[2])
    for _ in range(3):
        sequential.step()
    state = {"plateau": plateau.state_dict(), "sequential": sequential.state_dict(), "epoch": 3}
    assert state["plateau"]["best"] == math.inf
    numrnn.save(state, tmp_path / "schedulers.safetensors")
    assert numrnn.load(tmp_path / "schedulers.safetensors") == state


def test_numpy_scalars_keep_their_type(tmp_path):
    state = {"scale": np.float32(0.1), "count": np.int64(7), "ints": {0: 1, 1: (2, 3.5)},
             "nan": math.nan, "none": None, "flag": True}
    numrnn.save(state, tmp_path / "s.safetensors")
    loaded = numrnn.load(tmp_path / "s.safetensors")
    assert type(loaded["scale"]) is np.float32 and loaded["scale"] == np.float32(0.1)
    assert type(loaded["count"]) is np.int64 and loaded["count"] == 7
    assert loaded["ints"] == {0: 1, 1: (2, 3.5)} and math.isnan(loaded["nan"])
    assert loaded["none"] is None and loaded["flag"] is True


@pytest.mark.parametrize("state, message", [
    ({"fn": print}, r"save: state\['fn'\] is a builtin_function_or_method"),
    ({"a": {1.5: 2}}, r"save: state\['a'\] has the key 1.5 of type float"),
    ({"a": [np.arange(3)]}, r"save: state\['a'\]\[0\] is an array of dtype int64"),
    ({"a": [np.array([np.inf])]}, r"state\['a'\]\[0\] holds NaN or infinite"),
    ({"a": np.float16(1)}, r"numpy float16 scalar"),
])
def test_save_refuses_what_a_state_file_cannot_hold(tmp_path, state, message):
    with pytest.raises(FormatError, match=message):
        numrnn.save(state, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_a_state_file_does_not_load_into_a_module(tmp_path):
    _, optimizer, _ = trained_optimizer(OPTIMIZERS["Adam amsgrad"], steps=1)
    numrnn.save(optimizer.state_dict(), tmp_path / "opt.safetensors")
    with pytest.raises(FormatError, match="holds a saved state"):
        numrnn.load(tmp_path / "opt.safetensors", nn.Linear(3, 2))


def state_file(path, node, tensors=None):
    tensors = tensors if tensors is not None else {
        "numrnn.state.0": np.zeros(2, np.float32)}
    safetensors.numpy.save_file(tensors, str(path),
                                metadata={"numrnn.state": json.dumps(node)})
    return path


HOSTILE = {
    "unknown tag": ({"object": "os.system"}, r"unknown or malformed node"),
    "two tags": ({"dict": [], "tuple": []}, r"must be a JSON value or an object with one tag"),
    "dict body not a list": ({"dict": {"a": 1}}, r"a dict node holds a list of \[key, value\]"),
    "bool key": ({"dict": [[True, 1]]}, r"each dict entry must be \[key, value\] with a str or "),
    "repeated key": ({"dict": [["a", 1], ["a", 2]]}, r"repeats the key 'a'"),
    "numpy dtype unknown": ({"numpy": ["object", 1]}, r"unknown or malformed node"),
    "numpy value a string": ({"numpy": ["float32", "1"]}, r"a numpy scalar needs a number"),
    "numpy int overflow": ({"numpy": ["int64", 2**70]}, r"does not fit int64"),
    "float constant": ({"float": "Infinity"}, r"unknown or malformed node"),
    "array elsewhere": ({"array": "weight"}, r"unknown or malformed node"),
    "array missing": ({"tuple": [{"array": "numrnn.state.0"}, {"array": "numrnn.state.5"}]},
                      r"the tensor 'numrnn.state.5', which the file does not hold"),
    "array twice": ([{"array": "numrnn.state.0"}, {"array": "numrnn.state.0"}], r"a second time"),
    "array unused": ({"dict": []}, r"\['numrnn.state.0'\] belong to no entry"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_state_is_a_format_error_naming_the_file(tmp_path, case):
    node, message = HOSTILE[case]
    path = state_file(tmp_path / "hostile.safetensors", node)
    with pytest.raises(FormatError, match=message) as error:
        numrnn.load(path)
    assert str(path) in str(error.value)


def test_state_nested_deeper_than_a_reader_accepts_is_refused_at_save(tmp_path):
    state = {}
    inner = state
    for _ in range(12):
        inner["next"] = {}
        inner = inner["next"]
    with pytest.raises(FormatError, match="JSON levels deep"):
        numrnn.save(state, tmp_path / "deep.safetensors")
