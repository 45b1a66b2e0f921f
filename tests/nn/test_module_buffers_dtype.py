"""Buffers, requires_grad_, dtype conversion (to/float/double) and apply."""

import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError, ArgumentTypeError, DTypeError, ShapeError, Tensor, nn


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 3, rng=0)
        self.register_buffer("running_mean", np.zeros(3, dtype=np.float32))
        self.register_buffer("count", np.array(0, dtype=np.int64), persistent=False)
        self.register_buffer("scratch", np.ones(3, dtype=np.float32), persistent=False)
        self.register_buffer("unset", None)

    def forward(self, x):
        return self.linear(x - self.running_mean)


def test_buffers_are_state_but_not_parameters():
    torch = pytest.importorskip("torch")

    class TorchNormalizer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 3)
            self.register_buffer("running_mean", torch.zeros(3))
            self.register_buffer("count", torch.tensor(0), persistent=False)
            self.register_buffer("scratch", torch.ones(3), persistent=False)
            self.register_buffer("unset", None)

    model, reference = Normalizer(), TorchNormalizer()
    assert list(model.state_dict()) == list(reference.state_dict())
    assert [name for name, _ in model.named_buffers()] == \
        [name for name, _ in reference.named_buffers()]
    assert [name for name, _ in model.named_parameters()] == ["linear.weight", "linear.bias"]
    assert isinstance(model.running_mean, Tensor) and not model.running_mean.requires_grad
    assert model.unset is None


def test_buffers_load_back_and_are_checked():
    model = Normalizer()
    state = model.state_dict()
    state["running_mean"] = np.arange(3, dtype=np.float32)
    other = Normalizer()
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.running_mean.data, [0, 1, 2])
    with pytest.raises(ShapeError, match=r"missing key 'running_mean' \(expected shape \(3,\), "
                                         r"float32\)"):
        other.load_state_dict({k: v for k, v in state.items() if k != "running_mean"})
    with pytest.raises(DTypeError, match="'running_mean': expected dtype float32, got float64"):
        other.load_state_dict({**state, "running_mean": np.zeros(3)})
    np.testing.assert_array_equal(other.running_mean.data, [0, 1, 2])


def test_buffer_assignment_replaces_it_and_bad_values_are_refused():
    model = Normalizer()
    model.running_mean = np.full(3, 2.0, dtype=np.float32)
    assert isinstance(model.running_mean, Tensor) and model.running_mean.data[0] == 2.0
    with pytest.raises(ArgumentTypeError, match="buffer 'running_mean' must be a Tensor, an "
                                                "ndarray or None, got list"):
        model.running_mean = [1.0, 2.0, 3.0]
    with pytest.raises(ArgumentTypeError, match="not a Parameter"):
        model.register_buffer("weights", nn.Parameter(np.zeros(2)))
    with pytest.raises(ArgumentError, match="'training' is already an attribute"):
        model.register_buffer("training", np.zeros(1))


def test_buffers_save_with_the_module(tmp_path):
    model = Normalizer()
    model.running_mean = np.arange(3, dtype=np.float32)
    model.count = np.array(7, dtype=np.int64)
    numrnn.save(model, tmp_path / "model.safetensors")
    other = Normalizer()
    numrnn.load(tmp_path / "model.safetensors", other)
    np.testing.assert_array_equal(other.running_mean.data, [0, 1, 2])
    assert other.count.item() == 0, "a non-persistent buffer is not in the file"


@pytest.mark.parametrize("value", [np.array(0, dtype=np.int64), np.zeros(3, dtype=np.int32),
                                   np.zeros(2, dtype=bool), np.zeros(2, dtype=np.float16),
                                   numrnn.tensor(np.arange(3))])
def test_a_persistent_buffer_that_no_weight_file_can_hold_is_refused_at_registration(value):
    model = nn.Module()
    expected = r"Module\.register_buffer: persistent buffer 'count' has dtype \w+; weight " \
               r"files \(numrnn\.save\) hold float32 or float64 only.*persistent=False"
    with pytest.raises(DTypeError, match=expected):
        model.register_buffer("count", value)
    assert "count" not in model.state_dict() and not hasattr(model, "count")
    model.register_buffer("count", value, persistent=False)
    assert model.count.dtype == value.dtype and "count" not in model.state_dict()


def test_a_persistent_float_buffer_cannot_be_replaced_by_an_integer_one():
    model = Normalizer()
    with pytest.raises(DTypeError, match=r"Normalizer: persistent buffer 'running_mean' has "
                                         r"dtype int64; weight files .*persistent=False"):
        model.running_mean = np.zeros(3, dtype=np.int64)
    assert model.running_mean.dtype == np.float32
    model.register_buffer("later", None)
    with pytest.raises(DTypeError, match="persistent buffer 'later' has dtype int32"):
        model.later = np.zeros(2, dtype=np.int32)
    assert model.later is None
    model.scratch = np.zeros(3, dtype=np.int64)
    assert model.scratch.dtype == np.int64, "non-persistent buffers take any dtype"


def test_requires_grad_freezes_and_unfreezes():
    model = nn.Sequential(nn.Linear(3, 3, rng=0), nn.Linear(3, 1, rng=1))
    assert model[0].requires_grad_(False) is model[0]
    model(numrnn.tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert model[0].weight.grad is None and model[1].weight.grad is not None
    model.requires_grad_()
    assert all(param.requires_grad for param in model.parameters())
    with pytest.raises(ArgumentTypeError, match="expected True or False, got 'no'"):
        model.requires_grad_("no")


@pytest.mark.parametrize("convert, dtype", [
    (lambda m: m.double(), np.float64),
    (lambda m: m.to(np.float64), np.float64),
    (lambda m: m.to("float64"), np.float64),
    (lambda m: m.double().float(), np.float32),
])
def test_dtype_conversion_converts_parameters_buffers_and_layers(convert, dtype):
    model = Normalizer()
    model.lstm = nn.LSTM(3, 2, rng=0)
    weight = model.lstm.weight_ih_l0
    assert convert(model) is model
    assert model.lstm.weight_ih_l0 is weight, "converted in place"
    assert all(param.dtype == dtype for param in model.parameters())
    assert model.running_mean.dtype == dtype and model.scratch.dtype == dtype
    assert model.count.dtype == np.int64, "integer buffers keep their dtype"
    assert model.linear.dtype == dtype and model.lstm.dtype == dtype
    x = numrnn.tensor(np.ones((4, 1, 3), dtype=dtype))
    output, _ = model.lstm(model(x))
    assert output.dtype == dtype


def test_double_matches_torch_to_float64():
    torch = pytest.importorskip("torch")
    model = nn.LSTM(3, 4, rng=0).double()
    reference = torch.nn.LSTM(3, 4).double()
    reference.load_state_dict({name: torch.from_numpy(array)
                               for name, array in model.state_dict().items()})
    x = np.linspace(-1, 1, 2 * 5 * 3).reshape(5, 2, 3)
    output, _ = model(numrnn.tensor(x))
    expected, _ = reference(torch.from_numpy(x))
    np.testing.assert_allclose(output.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_to_refuses_what_is_not_a_float_dtype():
    model = nn.Linear(2, 2)
    with pytest.raises(DTypeError, match="float32 or float64, got int32"):
        model.to(np.int32)
    with pytest.raises(ArgumentError, match="expected a dtype, float32 or float64, got 'cpux'"):
        model.to("cpux")
    assert model.weight.dtype == np.float32 and model.dtype == np.float32


@pytest.mark.parametrize("move", [
    lambda m: m.to("cpu"),
    lambda m: m.to(device="cpu"),
    lambda m: m.to("cpu", np.float32),
    lambda m: m.to(device="cpu", dtype="float32"),
])
def test_to_cpu_is_a_no_op_returning_the_module_as_on_a_ported_line(move):
    model = Normalizer()
    weight, before = model.linear.weight, model.state_dict()
    assert move(model) is model
    assert model.linear.weight is weight and model.linear.dtype == np.float32
    for name, value in model.state_dict().items():
        assert value.dtype == before[name].dtype and np.array_equal(value, before[name])


def test_to_cpu_with_a_dtype_converts_as_to_dtype_does():
    model = Normalizer()
    assert model.to("cpu", np.float64) is model and model.linear.weight.dtype == np.float64
    assert model.to(device="cpu", dtype=np.float32).running_mean.dtype == np.float32


@pytest.mark.parametrize("move, device", [
    (lambda m: m.to("cuda"), "cuda"),
    (lambda m: m.to("cuda:0"), "cuda:0"),
    (lambda m: m.to("mps"), "mps"),
    (lambda m: m.to(device="cuda"), "cuda"),
    (lambda m: m.to(device="gpu", dtype=np.float64), "gpu"),
])
def test_to_another_device_is_refused_naming_cpus_only(move, device):
    model = Normalizer()
    with pytest.raises(ArgumentError, match=f"Normalizer.to: numrnn runs on CPUs only; "
                                            f"got device '{device}'"):
        move(model)
    assert model.linear.weight.dtype == np.float32, "nothing converted"


def test_to_refuses_two_devices_or_two_dtypes():
    model = nn.Linear(2, 2)
    with pytest.raises(ArgumentError, match="to: the device is given twice"):
        model.to("cpu", device="cpu")
    with pytest.raises(ArgumentError, match="to: the dtype is given twice"):
        model.to(np.float64, dtype=np.float64)
    with pytest.raises(ArgumentError, match="to: the dtype is given twice"):
        model.to(np.float64, np.float64)
    with pytest.raises(ArgumentError, match=r"to: expected a device, a dtype or both, got neither"):
        model.to()
    assert model.weight.dtype == np.float32


def test_apply_visits_children_before_parents_like_torch():
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.1), nn.Linear(2, 1)))
    reference = torch.nn.Sequential(torch.nn.Linear(2, 2),
                                    torch.nn.Sequential(torch.nn.Dropout(0.1),
                                                        torch.nn.Linear(2, 1)))
    visited, expected = [], []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    reference.apply(lambda m: expected.append(type(m).__name__))
    assert visited == expected

    def zero_linear(module):
        if isinstance(module, nn.Linear):
            module.weight.data[...] = 0.0

    model.apply(zero_linear)
    assert all(not m.weight.data.any() for m in model.modules() if isinstance(m, nn.Linear))
    with pytest.raises(ArgumentTypeError, match="expected a callable, got int"):
        model.apply(3)
