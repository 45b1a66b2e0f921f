"""dropout: explicit rng, inverted scaling, identity in eval, backward through the same mask."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

probabilities = st.sampled_from([0.1, 0.5, 0.9])


def _arrays(dtype=np.float64):
    return S.shapes().flatmap(lambda shape: S.float_arrays(shape, dtype))


@given(_arrays(), probabilities, st.integers(0, 2**32 - 1))
def test_forward_matches_numpy_reference(x, p, seed):
    out = F.dropout(numrnn.tensor(x), p, rng=np.random.default_rng(seed))
    keep = np.random.default_rng(seed).random(x.shape) >= p
    np.testing.assert_allclose(out.data, np.where(keep, x / (1 - p), 0.0), rtol=1e-14, atol=0)


@given(_arrays(), probabilities, st.integers(0, 2**32 - 1))
def test_gradient_matches_central_differences(x, p, seed):
    # An int seed gives every evaluation of gradcheck the same mask.
    gradcheck(lambda t: F.dropout(t, p, rng=seed), [x])


@given(_arrays(), probabilities, st.integers(0, 2**32 - 1))
def test_gradient_is_mask_times_scale(x, p, seed):
    t = numrnn.tensor(x, requires_grad=True)
    out = F.dropout(t, p, rng=seed)
    upstream = np.arange(x.size, dtype=float).reshape(x.shape) + 1
    out.backward(upstream)
    keep = np.random.default_rng(seed).random(x.shape) >= p
    np.testing.assert_allclose(t.grad, upstream * keep / (1 - p), rtol=1e-14, atol=0)


@given(_arrays(np.float32), probabilities, st.integers(0, 2**32 - 1))
def test_float32_agrees_with_float64(x32, p, seed):
    t32 = numrnn.tensor(x32, requires_grad=True)
    t64 = numrnn.tensor(x32.astype(np.float64), requires_grad=True)
    y32, y64 = F.dropout(t32, p, rng=seed), F.dropout(t64, p, rng=seed)
    assert y32.dtype == np.float32
    # atol only covers float32 subnormals, where relative precision runs out.
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-6, atol=1e-37)
    y32.backward(np.ones(x32.shape, np.float32))
    y64.backward(np.ones(x32.shape))
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-6, atol=0)


@pytest.mark.parametrize("kwargs", [{"training": False}, {"p": 0.0}, {"p": 0}])
def test_identity_returns_the_same_tensor_and_records_nothing(kwargs):
    x = numrnn.tensor(np.ones((3, 2)), requires_grad=True)
    out = F.dropout(x, **{"p": 0.5, **kwargs})
    assert out is x
    assert out.is_leaf


def test_same_seed_same_mask_different_seed_different_mask():
    x = numrnn.tensor(np.ones(1000))
    first = F.dropout(x, 0.5, rng=7).data
    np.testing.assert_array_equal(first, F.dropout(x, 0.5, rng=7).data)
    np.testing.assert_array_equal(
        first, F.dropout(x, 0.5, rng=np.random.default_rng(7)).data
    )
    assert not np.array_equal(first, F.dropout(x, 0.5, rng=8).data)


def test_generator_is_advanced_so_successive_masks_differ():
    rng = np.random.default_rng(0)
    x = numrnn.tensor(np.ones(1000))
    assert not np.array_equal(F.dropout(x, 0.5, rng=rng).data, F.dropout(x, 0.5, rng=rng).data)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_mean_is_preserved_and_drop_rate_is_p(p):
    x = numrnn.tensor(np.full(200_000, 3.0, dtype=np.float32))
    out = F.dropout(x, p, rng=1234).data
    # 200k Bernoulli draws: the standard error of the dropped fraction is below 0.0012.
    assert abs(np.mean(out == 0) - p) < 0.006
    assert abs(out.mean() - 3.0) < 3.0 * 0.006 / (1 - p)
    np.testing.assert_allclose(out[out != 0], np.float32(3.0) / np.float32(1 - p), rtol=1e-6)


def test_zero_dimensional_input():
    out = F.dropout(numrnn.tensor(np.float32(2.0)), 0.5, rng=0)
    assert out.shape == () and out.dtype == np.float32
    assert isinstance(out.data, np.ndarray)
    assert out.item() in (0.0, 4.0)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_probability_out_of_range_is_refused(p):
    with pytest.raises(numrnn.ArgumentError, match=r"dropout: p must be in \[0, 1\), got"):
        F.dropout(np.ones(3), p)


def test_bad_p_and_rng_types_are_refused():
    with pytest.raises(numrnn.ArgumentTypeError, match="dropout: p must be a real number, got str"):
        F.dropout(np.ones(3), "0.5")
    with pytest.raises(numrnn.ArgumentTypeError, match="dropout: rng must be a numpy Generator, "
                                                "an int seed or None, got float"):
        F.dropout(np.ones(3), 0.5, rng=1.5)
