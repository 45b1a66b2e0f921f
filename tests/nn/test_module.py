"""Module and Parameter: registration, traversal, modes, state dicts, repr."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentTypeError, DTypeError, GradError, NumrnnError, ShapeError, Tensor, nn
from numrnn.testing import gradcheck_module


class Affine(nn.Module):
    def __init__(self, n_in, n_out, bias=True, dtype=np.float32):
        super().__init__()
        self.n_in, self.n_out, self.has_bias = n_in, n_out, bias
        self.weight = nn.Parameter(np.arange(n_out * n_in, dtype=dtype).reshape(n_out, n_in))
        if bias:
            self.bias = nn.Parameter(np.zeros(n_out, dtype=dtype))

    def forward(self, x):
        y = x @ self.weight.T
        return y + self.bias if self.has_bias else y

    def extra_repr(self):
        return f"{self.n_in}, {self.n_out}" + ("" if self.has_bias else ", bias=False")


class Net(nn.Module):
    def __init__(self, dtype=np.float32):
        super().__init__()
        self.encoder = Affine(3, 4, dtype=dtype)
        self.scale = nn.Parameter(np.ones(1, dtype=dtype))
        self.decoder = Affine(4, 2, bias=False, dtype=dtype)
        self.note = "plain attribute"

    def forward(self, x):
        return self.decoder(self.encoder(x)) * self.scale


def test_parameter_is_a_leaf_that_requires_grad():
    data = np.zeros((2, 3), dtype=np.float32)
    param = nn.Parameter(data)
    assert isinstance(param, Tensor) and param.is_leaf and param.requires_grad
    assert param.data is data
    assert repr(param).startswith("Parameter containing:")
    with pytest.raises(DTypeError, match="int64"):
        nn.Parameter(np.zeros(3, dtype=np.int64))


def test_registration_order_names_and_traversal():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == [
        "scale", "encoder.weight", "encoder.bias", "decoder.weight"]
    assert [name for name, _ in net.named_modules()] == ["", "encoder", "decoder"]
    assert [name for name, _ in net.named_children()] == ["encoder", "decoder"]
    assert list(net.children()) == [net.encoder, net.decoder]
    assert [name for name, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert len(list(net.parameters())) == 4
    assert net.note == "plain attribute" and "note" not in dict(net.named_parameters())


def test_reassignment_deletion_and_type_guard():
    net = Net()
    replacement = nn.Parameter(np.full(1, 2.0, dtype=np.float32))
    net.scale = replacement
    assert net.scale is replacement
    with pytest.raises(ArgumentTypeError, match="'scale', which holds a Parameter"):
        net.scale = np.ones(1, dtype=np.float32)
    with pytest.raises(ArgumentTypeError, match="'encoder', which holds a Module"):
        net.encoder = "not a module"
    del net.scale
    assert "scale" not in dict(net.named_parameters())
    with pytest.raises(AttributeError):
        net.scale  # noqa: B018


def test_missing_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_shared_submodule_and_parameter_listed_once():
    net = Net()
    net.tied = net.encoder
    assert [name for name, _ in net.named_modules()] == ["", "encoder", "decoder"]
    assert len(list(net.parameters())) == 4


def test_train_eval_recursive():
    net = Net()
    assert net.training and net.encoder.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.encoder.train(False)
    assert net.training and not net.encoder.training


def test_call_runs_forward_and_zero_grad_clears():
    net = Net(dtype=np.float64)
    x = numrnn.tensor(np.ones((2, 3)))
    out = net(x)
    assert out.shape == (2, 2)
    out.backward(np.ones((2, 2)))
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_copies_in_order_and_round_trips():
    net = Net()
    state = net.state_dict()
    assert list(state) == ["scale", "encoder.weight", "encoder.bias", "decoder.weight"]
    state["encoder.weight"][...] = -1.0
    assert net.encoder.weight.data.min() >= 0, "state_dict must hold copies"
    other = Net()
    for param in other.parameters():
        param.data[...] = 7.0
    result = other.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for name, array in other.state_dict().items():
        np.testing.assert_array_equal(array, state[name])
    state["scale"][...] = 5.0
    assert other.scale.data[0] != 5.0, "load_state_dict must not alias the given arrays"


def test_load_state_dict_accepts_tensors_and_other_byte_order():
    net = Net()
    state = {name: Tensor(array + 1) for name, array in net.state_dict().items()}
    state["scale"] = np.array([3.0], dtype=">f4")
    net.load_state_dict(state)
    assert net.scale.dtype == np.float32 and net.scale.data[0] == 3.0
    np.testing.assert_array_equal(net.encoder.bias.data, np.ones(4, dtype=np.float32))


def test_load_state_dict_reports_every_problem_and_changes_nothing():
    net = Net()
    before = net.state_dict()
    state = net.state_dict()
    del state["scale"]
    state["extra.weight"] = np.zeros(2, dtype=np.float32)
    state["encoder.weight"] = np.zeros((4, 5), dtype=np.float32)
    state["encoder.bias"] = np.zeros(4, dtype=np.float64)
    state["decoder.weight"] = state["decoder.weight"] + 1.0  # valid, must not be loaded
    with pytest.raises(ShapeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "4 problem(s)" in message and "nothing was loaded" in message
    assert "missing key 'scale' (expected shape (1,), float32)" in message
    assert "unexpected key 'extra.weight'" in message
    assert "'encoder.weight': expected shape (4, 3), got (4, 5)" in message
    assert "'encoder.bias': expected dtype float32, got float64" in message
    for name, array in net.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_load_state_dict_precision_mismatch_is_a_dtype_error():
    net = Net(dtype=np.float64)
    state = Net(dtype=np.float32).state_dict()
    with pytest.raises(DTypeError) as info:
        net.load_state_dict(state)
    for name in state:
        assert f"'{name}': expected dtype float64, got float32" in str(info.value)
    with pytest.raises(DTypeError, match="expected dtype float64, got int64"):
        net.load_state_dict({**net.state_dict(), "scale": np.ones(1, dtype=np.int64)})


def test_load_state_dict_non_strict_returns_incompatible_keys():
    net = Net()
    state = net.state_dict()
    state["encoder.bias"] += 1.0
    del state["scale"]
    state["unknown"] = np.zeros(1)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["unknown"]
    np.testing.assert_array_equal(net.encoder.bias.data, state["encoder.bias"])
    with pytest.raises(ShapeError, match="encoder.weight"):
        net.load_state_dict({"encoder.weight": np.zeros((1, 1))}, strict=False)


def test_repr_nests_and_indents():
    assert repr(Net()) == (
        "Net(\n"
        "  (encoder): Affine(3, 4)\n"
        "  (decoder): Affine(4, 2, bias=False)\n"
        ")"
    )

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Net()

    assert repr(Outer()).splitlines()[:3] == [
        "Outer(", "  (inner): Net(", "    (encoder): Affine(3, 4)"]
    assert repr(nn.Module()) == "Module()"


def test_functional_call_substitutes_and_restores():
    net = Net(dtype=np.float64)
    x = numrnn.tensor(np.ones((1, 3)))
    original = net.decoder.weight
    doubled = Tensor(original.data * 2, requires_grad=True)
    out = nn.functional_call(net, {"decoder.weight": doubled}, (x,))
    np.testing.assert_allclose(out.data, 2 * net(x).data)
    assert net.decoder.weight is original
    out.backward(np.ones((1, 2)))
    assert doubled.grad is not None and original.grad is None
    with pytest.raises(ShapeError, match="unknown parameter 'nope'"):
        nn.functional_call(net, {"nope": doubled}, (x,))
    with pytest.raises(NumrnnError, match=r"expected shape \(2, 4\) float64"):
        nn.functional_call(net, {"decoder.weight": Tensor(np.ones(3))}, (x,))


def test_gradcheck_module_checks_parameters_and_catches_a_detached_one():
    class Detached(Affine):
        def forward(self, x):
            return x @ Tensor(self.weight.data).T + self.bias

    x = np.linspace(-1, 1, 6).reshape(2, 3)
    assert gradcheck_module(Affine(3, 2, dtype=np.float64), [x])
    with pytest.raises(GradError):
        gradcheck_module(Detached(3, 2, dtype=np.float64), [x])
    with pytest.raises(DTypeError, match="parameter 'weight' must be float64"):
        gradcheck_module(Affine(3, 2), [x])
