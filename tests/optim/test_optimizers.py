"""Optimizers against hand-written NumPy references of their update rules (and torch.optim)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.optim import SGD, Adam, AdamW, RMSprop

SHAPES = [(3, 4), (5,)]


# -- references: the textbook form of each rule, one parameter, float64 -------
def reference_sgd(param, grads, lr, momentum=0.0, dampening=0.0, nesterov=False,
                  weight_decay=0.0):
    param = param.copy()
    buffer = None
    for grad in grads:
        direction = grad + weight_decay * param
        if momentum != 0:
            buffer = (direction.copy() if buffer is None
                      else momentum * buffer + (1 - dampening) * direction)
            direction = direction + momentum * buffer if nesterov else buffer
        param = param - lr * direction
    return param


def reference_adam(param, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   amsgrad=False, decoupled=False):
    beta1, beta2 = betas
    param = param.copy()
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    v_max = np.zeros_like(param)
    for t, grad in enumerate(grads, start=1):
        if decoupled:
            param = param - lr * weight_decay * param
        else:
            grad = grad + weight_decay * param
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta1**t)
        v_hat = (v_max if amsgrad else v) / (1 - beta2**t)
        param = param - lr * m_hat / (np.sqrt(v_hat) + eps)
    return param


def reference_rmsprop(param, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                      momentum=0.0, centered=False):
    param = param.copy()
    square_avg = np.zeros_like(param)
    grad_avg = np.zeros_like(param)
    buffer = np.zeros_like(param)
    for grad in grads:
        grad = grad + weight_decay * param
        square_avg = alpha * square_avg + (1 - alpha) * grad**2
        if centered:
            grad_avg = alpha * grad_avg + (1 - alpha) * grad
            rms = np.sqrt(square_avg - grad_avg**2) + eps
        else:
            rms = np.sqrt(square_avg) + eps
        if momentum > 0:
            buffer = momentum * buffer + grad / rms
            param = param - lr * buffer
        else:
            param = param - lr * grad / rms
    return param


CASES = [
    (SGD, reference_sgd, {"lr": 0.1}),
    (SGD, reference_sgd, {"lr": 0.05, "momentum": 0.9}),
    (SGD, reference_sgd, {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    (SGD, reference_sgd, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    (Adam, reference_adam, {}),
    (Adam, reference_adam, {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6,
                            "weight_decay": 0.1}),
    (Adam, reference_adam, {"lr": 0.01, "amsgrad": True}),
    (AdamW, lambda p, g, **kw: reference_adam(p, g, decoupled=True, weight_decay=1e-2, **kw),
     {"lr": 0.01}),
    (AdamW, lambda p, g, **kw: reference_adam(p, g, decoupled=True, **kw),
     {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
    (RMSprop, reference_rmsprop, {}),
    (RMSprop, reference_rmsprop, {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1,
                                  "momentum": 0.5}),
    (RMSprop, reference_rmsprop, {"lr": 0.01, "centered": True, "momentum": 0.9}),
]


def make_params(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [numrnn.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=True)
            for shape in SHAPES]


def make_grads(seed, steps):
    rng = np.random.default_rng(seed + 1000)
    return [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(steps)]


def run(optimizer, params, grads_per_step):
    for grads in grads_per_step:
        for param, grad in zip(params, grads):
            param.grad = grad.astype(param.dtype)
        optimizer.step()


def case_id(case):
    cls, _, options = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_matches_numpy_reference_float64(case):
    cls, reference, options = case
    params = make_params(0)
    initial = [p.data.copy() for p in params]
    grads = make_grads(0, steps=6)
    run(cls(params, **options), params, grads)
    for index, (param, start) in enumerate(zip(params, initial)):
        expected = reference(start, [step[index] for step in grads], **options)
        np.testing.assert_allclose(param.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_float32_parameters_stay_float32(case):
    cls, reference, options = case
    params = make_params(1, dtype=np.float32)
    initial = [p.data.astype(np.float64) for p in params]
    grads = make_grads(1, steps=4)
    optimizer = cls(params, **options)
    run(optimizer, params, grads)
    for index, (param, start) in enumerate(zip(params, initial)):
        assert param.dtype == np.float32
        for value in optimizer.state[param].values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
        expected = reference(start, [step[index] for step in grads], **options)
        np.testing.assert_allclose(param.data, expected, rtol=2e-5, atol=2e-6)


@given(seed=st.integers(0, 2**16), lr=st.floats(1e-4, 0.5), beta1=st.floats(0.0, 0.99),
       beta2=st.floats(0.5, 0.9999), weight_decay=st.sampled_from([0.0, 0.05]),
       amsgrad=st.booleans(), decoupled=st.booleans())
def test_adam_family_matches_reference_for_any_options(seed, lr, beta1, beta2, weight_decay,
                                                       amsgrad, decoupled):
    options = {"lr": lr, "betas": (beta1, beta2), "weight_decay": weight_decay,
               "amsgrad": amsgrad}
    params = make_params(seed)
    initial = [p.data.copy() for p in params]
    grads = make_grads(seed, steps=3)
    run((AdamW if decoupled else Adam)(params, **options), params, grads)
    for index, (param, start) in enumerate(zip(params, initial)):
        expected = reference_adam(start, [step[index] for step in grads],
                                  decoupled=decoupled, **options)
        np.testing.assert_allclose(param.data, expected, rtol=1e-12, atol=1e-14)


@given(seed=st.integers(0, 2**16), lr=st.floats(1e-4, 0.5), momentum=st.floats(0.0, 0.99),
       dampening=st.floats(0.0, 0.9), nesterov=st.booleans(),
       weight_decay=st.sampled_from([0.0, 0.05]))
def test_sgd_matches_reference_for_any_options(seed, lr, momentum, dampening, nesterov,
                                               weight_decay):
    if nesterov:
        momentum, dampening = max(momentum, 0.1), 0.0
    options = {"lr": lr, "momentum": momentum, "dampening": dampening, "nesterov": nesterov,
               "weight_decay": weight_decay}
    params = make_params(seed)
    initial = [p.data.copy() for p in params]
    grads = make_grads(seed, steps=3)
    run(SGD(params, **options), params, grads)
    for index, (param, start) in enumerate(zip(params, initial)):
        expected = reference_sgd(start, [step[index] for step in grads], **options)
        np.testing.assert_allclose(param.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop])
def test_parameters_without_grad_are_skipped(cls):
    params = make_params(2)
    before = params[1].data.copy()
    optimizer = cls(params, lr=0.1)
    params[0].grad = np.ones(SHAPES[0])
    optimizer.step()
    np.testing.assert_array_equal(params[1].data, before)
    assert params[1] not in optimizer.state
    assert not np.array_equal(params[0].data, make_params(2)[0].data)


def test_zero_grad_sets_grads_to_none():
    params = make_params(3)
    for param in params:
        param.grad = np.ones(param.shape)
    SGD(params, lr=0.1).zero_grad()
    assert all(param.grad is None for param in params)


def test_param_groups_take_their_own_options():
    first, second = make_params(4)
    start_first, start_second = first.data.copy(), second.data.copy()
    optimizer = SGD([{"params": [first]}, {"params": second, "lr": 0.5, "momentum": 0.9}],
                    lr=0.1)
    assert optimizer.param_groups[0]["momentum"] == 0.0
    assert optimizer.param_groups[1]["lr"] == 0.5
    first.grad, second.grad = np.ones(first.shape), np.ones(second.shape)
    optimizer.step()
    np.testing.assert_allclose(first.data, start_first - 0.1)
    np.testing.assert_allclose(second.data, start_second - 0.5)


def test_step_calls_the_closure_and_returns_its_loss():
    params = make_params(5)
    for param in params:
        param.grad = np.zeros(param.shape)
    assert Adam(params).step(lambda: 3.5) == 3.5


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_state_dict_round_trip_resumes_identically(case):
    cls, _, options = case
    grads = make_grads(6, steps=6)
    params = make_params(6)
    optimizer = cls(params, **options)
    run(optimizer, params, grads[:3])
    saved = optimizer.state_dict()
    saved_data = [p.data.copy() for p in params]
    run(optimizer, params, grads[3:])

    resumed = make_params(99)
    for param, data in zip(resumed, saved_data):
        param.data[...] = data
    fresh = cls(resumed, **options)
    fresh.load_state_dict(saved)
    run(fresh, resumed, grads[3:])
    for original, copy in zip(params, resumed):
        np.testing.assert_array_equal(original.data, copy.data)


def test_state_dict_is_a_copy_keyed_by_index():
    params = make_params(7)
    optimizer = Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.1}])
    run(optimizer, params, make_grads(7, steps=1))
    saved = optimizer.state_dict()
    assert [group["params"] for group in saved["param_groups"]] == [[0], [1]]
    assert saved["state"][1]["step"] == 1
    saved["state"][0]["exp_avg"][...] = 123.0
    assert not np.any(optimizer.state[params[0]]["exp_avg"] == 123.0)


def test_load_state_dict_refuses_mismatches_and_changes_nothing():
    params = make_params(8)
    optimizer = Adam(params, lr=0.01)
    run(optimizer, params, make_grads(8, steps=2))
    before = optimizer.state_dict()

    other = Adam([make_params(8)[0]], lr=0.5)
    run(other, other.param_groups[0]["params"], make_grads(8, steps=1))
    with pytest.raises(ShapeError, match="parameter group 0 has 2 parameters, the state "
                                          "dict's has 1"):
        optimizer.load_state_dict(other.state_dict())

    two_groups = Adam([{"params": [p]} for p in make_params(8)])
    with pytest.raises(ShapeError, match="1 parameter groups, the state dict has 2"):
        optimizer.load_state_dict(two_groups.state_dict())

    bad_shape = optimizer.state_dict()
    bad_shape["param_groups"][0]["lr"] = 0.9
    bad_shape["state"][1]["exp_avg_sq"] = np.zeros((7,))
    with pytest.raises(ShapeError, match=r"'exp_avg_sq' of parameter 1 has shape \(7,\), "
                                          r"the parameter has shape \(5,\)"):
        optimizer.load_state_dict(bad_shape)

    after = optimizer.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for index in before["state"]:
        for key, value in before["state"][index].items():
            np.testing.assert_array_equal(after["state"][index][key], value)


def test_bad_options_and_params_are_refused():
    params = make_params(9)
    with pytest.raises(ArgumentError, match="lr must be >= 0"):
        SGD(params, lr=-1.0)
    with pytest.raises(ArgumentError, match="nesterov"):
        SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ArgumentError, match="betas"):
        Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ArgumentError, match="more than once"):
        Adam([{"params": params}, {"params": params[:1]}])
    with pytest.raises(ArgumentError, match="empty"):
        Adam([])
    with pytest.raises(ArgumentTypeError, match="must be a Tensor"):
        Adam([np.zeros(3)])
    with pytest.raises(ArgumentTypeError, match="single Tensor"):
        Adam(params[0])
    with pytest.raises(ShapeError, match="gradient has shape"):
        params[0].grad = np.zeros((2, 2))
        SGD(params, lr=0.1).step()


# -- parity with torch.optim ---------------------------------------------------
TORCH_NAMES = {SGD: "SGD", Adam: "Adam", AdamW: "AdamW", RMSprop: "RMSprop"}


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_matches_torch_optim(case):
    torch = pytest.importorskip("torch")
    cls, _, options = case
    params = make_params(10)
    torch_params = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    grads = make_grads(10, steps=6)
    ours = cls(params, **options)
    theirs = getattr(torch.optim, TORCH_NAMES[cls])(torch_params, **options)
    for step in grads:
        for param, torch_param, grad in zip(params, torch_params, step):
            param.grad = grad.copy()
            torch_param.grad = torch.tensor(grad)
        ours.step()
        theirs.step()
    for param, torch_param in zip(params, torch_params):
        np.testing.assert_allclose(param.data, torch_param.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
