"""Gradient clipping: returned norm, in-place scaling, PyTorch's coefficient, errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn.errors import ArgumentError, GradError
from numrnn.optim import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm


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
    with pytest.raises(ArgumentError, match="norm_type"):
        clip_grad_norm_(nan_params, 1.0, norm_type=0)


def test_clip_grad_value():
    params = params_with_grads(np.array([-5.0, 0.5, 2.0]), np.array([[0.1, -0.2]]))
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad, [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(params[1].grad, [[0.1, -0.2]])
    with pytest.raises(ArgumentError, match="clip_value"):
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


NONFINITE = [[[1.0, np.inf], [2.0]], [[2.0], [-np.inf, 1.0]], [[1.0, np.nan], [2.0]],
             [[2.0], [1.0, np.nan]], [[np.inf], [np.nan]]]


def torch_params_with_grads(torch, grads, dtype):
    params = []
    for grad in grads:
        weight = torch.zeros(len(grad), dtype=getattr(torch, np.dtype(dtype).name),
                             requires_grad=True)
        weight.grad = torch.tensor(np.array(grad, dtype=dtype))
        params.append(weight)
    return params


def assert_same_norm(ours, theirs):
    assert isinstance(ours, float)
    assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs, rel=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf])
@pytest.mark.parametrize("grads", NONFINITE)
def test_a_nonfinite_norm_clips_as_torch_does(grads, norm_type, dtype):
    # torch scales by clamp(max_norm / (norm + 1e-6), max=1): by 0 for an infinite norm
    # (inf entries become NaN), by NaN for a NaN norm (every gradient becomes NaN).
    torch = pytest.importorskip("torch")
    params = params_with_grads(*[np.array(grad, dtype=dtype) for grad in grads])
    torch_params = torch_params_with_grads(torch, grads, dtype)
    ours = clip_grad_norm_(params, 0.5, norm_type=norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(torch_params, 0.5, norm_type=norm_type)
    assert_same_norm(ours, float(theirs))
    assert not math.isfinite(ours)
    for param, weight in zip(params, torch_params):
        assert param.grad.dtype == dtype
        np.testing.assert_array_equal(param.grad, weight.grad.numpy())


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("grads", NONFINITE + [[[3.0, -4.0], [12.0]], [[0.1], [0.2, 0.3]]])
def test_get_total_norm_and_clip_grads_with_norm_match_torch(grads, norm_type, dtype):
    torch = pytest.importorskip("torch")
    arrays = [np.array(grad, dtype=dtype) for grad in grads]
    torch_params = torch_params_with_grads(torch, grads, dtype)
    theirs = torch.nn.utils.get_total_norm([p.grad for p in torch_params], norm_type=norm_type)
    ours = get_total_norm(arrays, norm_type=norm_type)
    assert_same_norm(ours, float(theirs))
    params = params_with_grads(*arrays)
    clip_grads_with_norm_(params, 1.0, ours)
    torch.nn.utils.clip_grads_with_norm_(torch_params, 1.0, theirs)
    for param, weight in zip(params, torch_params):
        np.testing.assert_allclose(param.grad, weight.grad.numpy(), rtol=1e-6)


def test_get_total_norm_takes_arrays_and_tensors_and_can_refuse():
    assert get_total_norm(np.array([3.0, 4.0])) == 5.0
    assert get_total_norm([numrnn.tensor(np.array([3.0])), np.array([4.0])]) == 5.0
    assert get_total_norm([]) == 0.0
    with pytest.raises(GradError, match="get_total_norm: the total 2.0-norm of the gradients "
                                        "is nan"):
        get_total_norm([np.array([np.nan])], error_if_nonfinite=True)


@given(grads=st.lists(hnp.arrays(st.sampled_from([np.float32, np.float64]),
                                 hnp.array_shapes(min_dims=1, max_dims=2, max_side=40),
                                 elements=st.floats(-1e3, 1e3, width=32)),
                      min_size=1, max_size=4))
def test_the_two_norm_has_the_bits_of_numpys_norm_of_the_norms(grads):
    # Each array's float64 2-norm, then the norm of those, as np.linalg.norm gives them.
    norms = [np.linalg.norm(np.asarray(g, dtype=np.float64).ravel(), ord=2) for g in grads]
    expected = float(np.linalg.norm(np.array(norms), ord=2))
    assert get_total_norm(grads) == expected
    assert clip_grad_norm_(params_with_grads(*grads), 1.0) == expected
