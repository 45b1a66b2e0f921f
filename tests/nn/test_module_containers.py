"""ModuleList and ModuleDict register their members; plain containers of modules are refused."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, ArgumentTypeError, IndexOutOfRangeError, NumrnnError, nn


class Stack(nn.Module):
    def __init__(self, depth=3):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4, rng=i) for i in range(depth)])
        self.heads = nn.ModuleDict({"score": nn.Linear(4, 1, rng=7),
                                    "label": nn.Linear(4, 2, rng=8)})

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).tanh()
        return self.heads["score"](x)


def test_module_list_registers_parameters_under_pytorch_names():
    torch = pytest.importorskip("torch")

    class TorchStack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])
            self.heads = torch.nn.ModuleDict({"score": torch.nn.Linear(4, 1),
                                              "label": torch.nn.Linear(4, 2)})

    model = Stack()
    assert list(model.state_dict()) == list(TorchStack().state_dict())
    assert len(list(model.parameters())) == 10
    model.load_state_dict({name: value.numpy() for name, value
                           in TorchStack().state_dict().items()})


def test_module_list_trains_every_member():
    model = Stack()
    model(numrnn.tensor(np.ones((2, 4), dtype=np.float32))).sum().backward()
    assert all(layer.weight.grad is not None for layer in model.layers)
    assert model.heads["label"].weight.grad is None, "an unused head gets no gradient"


def test_module_list_behaves_as_a_list_and_renumbers():
    a, b, c = (nn.Linear(2, 2, rng=i) for i in range(3))
    layers = nn.ModuleList([a, b])
    layers.append(c)
    assert len(layers) == 3 and list(layers) == [a, b, c]
    assert layers[-1] is c and layers[np.int64(1)] is b
    assert isinstance(layers[1:], nn.ModuleList) and list(layers[1:]) == [b, c]
    del layers[0]
    assert [name for name, _ in layers.named_children()] == ["0", "1"] and layers[0] is b
    layers.insert(0, a)
    layers[2] = nn.Dropout(0.1)
    layers += [nn.Linear(2, 3, rng=4)]
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                         "3.weight", "3.bias"]
    with pytest.raises(IndexOutOfRangeError, match=r"index must be in -4\.\.3 \(4 children\), "
                                                   r"got 4"):
        layers[4]  # noqa: B018
    with pytest.raises(ArgumentTypeError, match="every child must be a Module, got int"):
        layers.extend([nn.Dropout(0.1), 3])
    assert len(layers) == 4, "a refused extend adds nothing"
    with pytest.raises(ArgumentTypeError, match="expected an iterable of Modules, got Linear"):
        nn.ModuleList(a)


def test_module_dict_behaves_as_a_dict():
    score, label = nn.Linear(2, 1, rng=0), nn.Linear(2, 2, rng=1)
    heads = nn.ModuleDict([("score", score)])
    heads["label"] = label
    assert list(heads) == ["score", "label"] and "label" in heads and len(heads) == 2
    assert list(heads.values()) == [score, label]
    assert list(heads.state_dict()) == ["score.weight", "score.bias", "label.weight",
                                        "label.bias"]
    assert heads.pop("score") is score and list(heads.keys()) == ["label"]
    with pytest.raises(KeyError, match="no module under 'score'"):
        heads["score"]  # noqa: B018
    with pytest.raises(ArgumentError, match="'train' is already an attribute"):
        heads["train"] = score
    with pytest.raises(ArgumentError, match="hold no '.', got 'a.b'"):
        heads.update({"ok": score, "a.b": score})
    assert list(heads) == ["label"], "a refused update adds nothing"
    with pytest.raises(ArgumentTypeError, match="name must be a str, got int"):
        heads[3] = score


@pytest.mark.parametrize("value, fix", [
    ([nn.Linear(2, 2)], r"nn\.ModuleList\(\[\.\.\.\]\)"),
    ((nn.Linear(2, 2), nn.Dropout(0.1)), r"nn\.ModuleList"),
    ({"a": nn.Linear(2, 2)}, r"nn\.ModuleDict"),
    ([[nn.Linear(2, 2)]], r"nn\.ModuleList"),
    ([nn.Parameter(np.zeros(2))], "assign each Parameter to an attribute of its own"),
])
def test_a_plain_container_of_modules_is_refused_not_ignored(value, fix):
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = value

    with pytest.raises(ArgumentTypeError, match=f"attribute 'layers' is a .* which a plain .* "
                                                f"does not register.*{fix}"):
        Holder()


class LayersAppendedLater(nn.Module):
    def __init__(self, container):
        super().__init__()
        self.layers = container


@pytest.mark.parametrize("walk", [
    lambda model: list(model.parameters()),
    lambda model: list(model.named_parameters(recurse=False)),
    lambda model: model.state_dict(),
    lambda model: list(model.named_modules()),
    lambda model: list(model.buffers()),
])
def test_a_module_put_into_a_plain_list_after_assignment_is_refused_when_walked(walk):
    model = LayersAppendedLater([])
    model.layers.append(nn.Linear(2, 2, rng=0))
    with pytest.raises(ArgumentTypeError, match=r"attribute 'layers' is a list holding a Linear"
                                                r".*nn\.ModuleList\(\[\.\.\.\]\)"):
        walk(model)


def test_a_module_put_into_a_plain_dict_inside_a_child_is_refused_when_walked():
    model = nn.Sequential(LayersAppendedLater({}))
    model[0].layers["head"] = nn.Linear(2, 2, rng=0)
    with pytest.raises(ArgumentTypeError, match=r"LayersAppendedLater: attribute 'layers' is a "
                                                r"dict holding a Linear.*nn\.ModuleDict"):
        model.zero_grad()


def test_a_plain_list_that_stays_free_of_modules_is_walked_as_before():
    model = LayersAppendedLater([])
    model.layers.extend([1, 2, (3, "four")])
    model.extra = nn.Linear(2, 2, rng=0)
    assert [name for name, _ in model.named_parameters()] == ["extra.weight", "extra.bias"]
    assert model.layers == [1, 2, (3, "four")]


def test_plain_containers_of_other_values_are_still_allowed():
    holder = nn.Module()
    holder.sizes = [1, 2, 3]
    holder.names = {"a": "b"}
    assert holder.sizes == [1, 2, 3] and list(holder.parameters()) == []


def test_containers_round_trip_through_save_and_load_model(tmp_path):
    layers = nn.ModuleList([nn.Linear(3, 4, rng=0), nn.LSTM(4, 5, rng=1)])
    heads = nn.ModuleDict({"b": nn.Linear(5, 2, rng=2), "a": nn.Sequential(nn.Dropout(0.1))})
    for original in (layers, heads):
        path = tmp_path / f"{type(original).__name__}.safetensors"
        numrnn.save(original, path)
        rebuilt = numrnn.load_model(path)
        assert type(rebuilt) is type(original)
        assert [type(m) for m in rebuilt.children()] == [type(m) for m in original.children()]
        assert list(rebuilt.state_dict()) == list(original.state_dict())
        for name, array in original.state_dict().items():
            np.testing.assert_array_equal(rebuilt.state_dict()[name], array)
    assert list(numrnn.load_model(tmp_path / "ModuleDict.safetensors")) == ["b", "a"]


def test_a_child_without_config_is_named():
    class Custom(nn.Module):
        pass

    with pytest.raises(NumrnnError, match=r"child '1' \(Custom\) has no get_config\(\)"):
        nn.ModuleList([nn.Dropout(0.1), Custom()]).get_config()
