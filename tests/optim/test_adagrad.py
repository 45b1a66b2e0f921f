"""Adagrad: its update rule by hand, resume, bad options, and torch.optim.Adagrad parity."""

import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn.errors import ArgumentError
from numrnn.optim import Adagrad

OPTIONS = [
    {},
    {"lr": 0.1, "lr_decay": 0.05},
    {"lr": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6},
]


def reference_adagrad(param, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                      initial_accumulator_value=0.0, eps=1e-10):
    param = param.copy()
    square_sum = np.full_like(param, initial_accumulator_value)
    for step, grad in enumerate(grads, start=1):
        grad = grad + weight_decay * param
        square_sum = square_sum + grad**2
        param = param - lr / (1 + (step - 1) * lr_decay) * grad / (np.sqrt(square_sum) + eps)
    return param


def least_squares_problem():
    """A fixed linear regression: inputs (16, 3), targets (16, 2), weights (3, 2) and bias (2,)."""
    rng = np.random.default_rng(3)
    inputs = rng.standard_normal((16, 3))
    targets = inputs @ rng.standard_normal((3, 2)) + 0.1 * rng.standard_normal((16, 2))
    return inputs, targets, rng.standard_normal((3, 2)), rng.standard_normal(2)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_matches_the_update_rule_written_out(options):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(7)]
    param = numrnn.tensor(start.copy(), requires_grad=True)
    optimizer = Adagrad([param], **options)
    for grad in grads:
        param.grad = grad
        optimizer.step()
    np.testing.assert_allclose(param.data, reference_adagrad(start, grads, **options),
                               rtol=1e-12, atol=1e-14)
    assert optimizer.state[param]["step"] == 7


def test_float32_parameters_and_state_stay_float32():
    param = numrnn.tensor(np.ones(3, np.float32), requires_grad=True)
    optimizer = Adagrad([param], lr=0.1)
    param.grad = np.array([0.5, -1.0, 2.0])
    optimizer.step()
    assert param.data.dtype == np.float32
    assert optimizer.state[param]["sum"].dtype == np.float32
    np.testing.assert_allclose(param.data, 1.0 - 0.1 * np.sign([0.5, -1.0, 2.0]), rtol=1e-6)


def test_state_dict_round_trip_resumes_identically():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(4) for _ in range(6)]
    param = numrnn.tensor(rng.standard_normal(4), requires_grad=True)
    optimizer = Adagrad([param], lr=0.2, lr_decay=0.1)
    for grad in grads[:3]:
        param.grad = grad
        optimizer.step()
    saved, saved_data = optimizer.state_dict(), param.data.copy()
    for grad in grads[3:]:
        param.grad = grad
        optimizer.step()

    resumed = numrnn.tensor(saved_data, requires_grad=True)
    fresh = Adagrad([resumed], lr=0.9)
    fresh.load_state_dict(saved)
    for grad in grads[3:]:
        resumed.grad = grad
        fresh.step()
    np.testing.assert_array_equal(resumed.data, param.data)


@pytest.mark.parametrize("option, value", [("lr", -0.1), ("lr_decay", -1.0),
                                           ("weight_decay", -0.5), ("eps", -1e-8),
                                           ("initial_accumulator_value", -0.1)])
def test_refuses_negative_options(option, value):
    param = numrnn.tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ArgumentError, match=f"Adagrad: {option} must be >= 0, got {value}"):
        Adagrad([param], **{option: value})


@pytest.mark.parity
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_matches_torch_adagrad_over_20_steps_of_least_squares(options):
    torch = pytest.importorskip("torch")
    inputs, targets, weight0, bias0 = least_squares_problem()

    weight = numrnn.tensor(weight0.copy(), requires_grad=True)
    bias = numrnn.tensor(bias0.copy(), requires_grad=True)
    ours = Adagrad([weight, bias], **options)
    torch_weight = torch.tensor(weight0.copy(), requires_grad=True)
    torch_bias = torch.tensor(bias0.copy(), requires_grad=True)
    theirs = torch.optim.Adagrad([torch_weight, torch_bias], **options)
    torch_inputs, torch_targets = torch.tensor(inputs), torch.tensor(targets)
    for _ in range(20):
        ours.zero_grad()
        F.mse_loss(F.add(F.matmul(numrnn.tensor(inputs), weight), bias), targets).backward()
        ours.step()
        theirs.zero_grad()
        torch.nn.functional.mse_loss(torch_inputs @ torch_weight + torch_bias,
                                     torch_targets).backward()
        theirs.step()
    np.testing.assert_allclose(weight.data, torch_weight.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bias.data, torch_bias.detach().numpy(), rtol=1e-10, atol=1e-12)
