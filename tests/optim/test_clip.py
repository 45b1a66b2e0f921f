"""Gradient clipping: returned norm, in-place scaling, PyTorch's coefficient, errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn.errors import GradError, ShapeError
from numrnn.optim import clip_grad_norm_, clip_grad_value_


def params_with_grads(*grads):
    params = []
    for grad in grads:
        param = numrnn.tensor(np.zeros(np.shape(grad)), dtype=np.asarray(grad).dtype,
                              requires_grad=True)
        param.grad = np.array(grad)
        params.append(param)
    return params


finite_grads = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
                          elements=st.floats(-100, 100))


@given(grads=st.lists(finite_grads, min_size=1, max_size=3),
       max_norm=st.floats(0.01, 50.0), norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]))
def test_returns_pre_clip_norm_and_leaves_at_most_max_norm(grads, max_norm, norm_type):
    params = params_with_grads(*grads)
    flat = np.concatenate([g.ravel() for g in grads])
    expected = float(np.linalg.norm(flat, ord=norm_type))
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-300)
    after = np.concatenate([p.grad.ravel() for p in params])
    assert np.linalg.norm(after, ord=norm_type) <= max_norm * (1 + 1e-12)
    # PyTorch's coefficient: the 1e-6 guards the division, so even a norm equal to
    # max_norm is scaled (by a hair); a norm below max_norm - 1e-6 is left alone.
    clip_coef = max_norm / (total + 1e-6)
    if clip_coef >= 1.0:
        np.testing.assert_array_equal(after, flat)
    else:
        np.testing.assert_allclose(after, flat * clip_coef, rtol=1e-12)


def test_scales_in_place_and_keeps_float32():
    params = params_with_grads(np.full((2, 2), 3.0, dtype=np.float32),
                               np.full(1, 4.0, dtype=np.float32))
    grad_arrays = [p.grad for p in params]
    total = clip_grad_norm_(params, 1.0)
    assert total == pytest.approx(math.sqrt(4 * 9 + 16))
    assert all(p.grad is array for p, array in zip(params, grad_arrays))
    assert all(p.grad.dtype == np.float32 for p in params)
    np.testing.assert_allclose(np.sqrt(sum((p.grad.astype(np.float64) ** 2).sum()
                                           for p in params)), 1.0, rtol=1e-6)


def test_params_without_grad_are_ignored():
    params = params_with_grads(np.array([3.0, 4.0]))
    params.append(numrnn.tensor(np.ones(3), requires_grad=True))
    assert clip_grad_norm_(params, 10.0) == pytest.approx(5.0)
    assert clip_grad_norm_([params[-1]], 1.0) == 0.0
    assert clip_grad_norm_(params[0], 1.0) == pytest.approx(5.0)


def test_nonfinite_norm():
    params = params_with_grads(np.array([1.0, np.inf]))
    with pytest.raises(GradError, match="inf"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(params[0].grad, [1.0, np.inf])
    nan_params = params_with_grads(np.array([np.nan, 1.0]))
    assert math.isnan(clip_grad_norm_(nan_params, 1.0))
    with pytest.raises(ShapeError, match="norm_type"):
        clip_grad_norm_(nan_params, 1.0, norm_type=0)


def test_clip_grad_value():
    params = params_with_grads(np.array([-5.0, 0.5, 2.0]), np.array([[0.1, -0.2]]))
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad, [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(params[1].grad, [[0.1, -0.2]])
    with pytest.raises(ShapeError, match="clip_value"):
        clip_grad_value_(params, -1.0)


@pytest.mark.parity
@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf])
def test_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((4, 3)), rng.standard_normal(7)]
    params = params_with_grads(*grads)
    torch_params = []
    for grad in grads:
        weight = torch.zeros(grad.shape, dtype=torch.float64, requires_grad=True)
        weight.grad = torch.tensor(grad)
        torch_params.append(weight)
    ours = clip_grad_norm_(params, 0.5, norm_type=norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(torch_params, 0.5, norm_type=norm_type)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    for param, weight in zip(params, torch_params):
        np.testing.assert_allclose(param.grad, weight.grad.numpy(), rtol=1e-12)
