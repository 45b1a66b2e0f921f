"""Losses and penalties: forward against NumPy, gradient against central differences, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

REDUCTIONS = ["mean", "sum", "none"]
IGNORE = -100


@st.composite
def classification(draw, dtype=np.float64):
    """logits (..., C) and targets (...) with some rows set to IGNORE."""
    lead = draw(S.shapes(min_dims=0, max_dims=2, max_side=4))
    n_classes = draw(st.integers(1, 5))
    logits = draw(S.float_arrays(lead + (n_classes,), dtype))
    targets = draw(hnp.arrays(np.int64, lead, elements=st.sampled_from(
        [IGNORE, *range(n_classes)])))
    return logits, targets


def reference_cross_entropy(logits, targets, reduction, ignore_index=IGNORE):
    rows = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    flat = targets.reshape(-1)
    valid = flat != ignore_index
    top = rows.max(axis=1)
    lse = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
    losses = np.array([lse[i] - rows[i, t] if v else 0.0 for i, (t, v) in
                       enumerate(zip(flat, valid))])
    if reduction == "none":
        return losses.reshape(targets.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / valid.sum() if valid.any() else 0.0


# -- cross_entropy -------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=classification())
def test_cross_entropy_forward_matches_numpy(reduction, case):
    logits, targets = case
    out = F.cross_entropy(numrnn.tensor(logits), targets, reduction=reduction)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, reference_cross_entropy(logits, targets, reduction),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=classification())
def test_cross_entropy_gradient_matches_central_differences(reduction, case):
    logits, targets = case
    gradcheck(lambda x: F.cross_entropy(x, targets, reduction=reduction), [logits])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=classification(np.float32))
def test_cross_entropy_float32_agrees_with_float64(reduction, case):
    logits32, targets = case
    t32 = numrnn.tensor(logits32, requires_grad=True)
    t64 = numrnn.tensor(logits32.astype(np.float64), requires_grad=True)
    y32 = F.cross_entropy(t32, targets, reduction=reduction)
    y64 = F.cross_entropy(t64, targets, reduction=reduction)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-5)
    y32.backward(np.ones(y32.shape, np.float32))
    y64.backward(np.ones(y64.shape))
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-6)


def test_ignored_targets_are_excluded_from_the_mean():
    logits = numrnn.tensor(np.array([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]]), requires_grad=True)
    targets = np.array([0, 1, 7])
    loss = F.cross_entropy(logits, targets, ignore_index=7)
    per_row = np.log1p(np.exp(-2.0))
    np.testing.assert_allclose(loss.item(), per_row, rtol=1e-14)  # mean of 2 rows, not 3
    loss.backward()
    np.testing.assert_array_equal(logits.grad[2], [0.0, 0.0])
    p = 1 / (1 + np.exp(2.0))
    np.testing.assert_allclose(logits.grad[:2], [[-p / 2, p / 2], [p / 2, -p / 2]], rtol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored_gives_zero_loss_and_zero_gradient(reduction):
    logits = numrnn.tensor(np.ones((3, 4)), requires_grad=True)
    loss = F.cross_entropy(logits, np.full(3, IGNORE), reduction=reduction)
    np.testing.assert_array_equal(loss.data, np.zeros(loss.shape))
    loss.backward(np.ones(loss.shape))
    np.testing.assert_array_equal(logits.grad, np.zeros((3, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    logits = numrnn.tensor(np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4 - 1]], dtype),
                           requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1, 2]), reduction="none")
    assert np.all(np.isfinite(loss.data))
    np.testing.assert_allclose(loss.data, [1e4, 1 + np.log1p(np.exp(-1.0))], rtol=1e-6)
    loss.backward(np.ones(2, dtype))
    assert np.all(np.isfinite(logits.grad))
    s = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(logits.grad, [[1, -1, 0], [0, s, -s]], rtol=1e-6, atol=1e-7)


def test_leading_dimensions_are_flattened():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 5))
    targets = rng.integers(0, 5, (2, 3))
    flat = F.cross_entropy(logits.reshape(6, 5), targets.reshape(6), reduction="none")
    nested = F.cross_entropy(logits, targets, reduction="none")
    assert nested.shape == (2, 3)
    np.testing.assert_array_equal(nested.data.reshape(6), flat.data)


@pytest.mark.parametrize(
    "logits_shape, targets, error, message",
    [
        ((2, 3), np.array([0, 3]), numrnn.ShapeError,
         r"cross_entropy: targets must be in 0\.\.2 or ignore_index=-100, got 3"),
        ((2, 3), np.array([-1, 0]), numrnn.ShapeError, r"must be in 0\.\.2 .*got -1"),
        ((2, 3), np.array([0, 1, 2]), numrnn.ShapeError,
         r"targets must have shape \(2,\) .*got \(3,\)"),
        ((2, 0), np.zeros(2, np.int64), numrnn.ShapeError, r"C >= 1, got shape \(2, 0\)"),
        ((2, 3), np.array([0.0, 1.0]), numrnn.DTypeError,
         "cross_entropy: targets must be an integer array, got dtype float64"),
    ],
)
def test_cross_entropy_bad_inputs(logits_shape, targets, error, message):
    with pytest.raises(error, match=message):
        F.cross_entropy(np.zeros(logits_shape), targets)


def test_cross_entropy_bad_reduction_and_ignore_index():
    with pytest.raises(numrnn.ArgumentError, match="cross_entropy: reduction must be one of"):
        F.cross_entropy(np.zeros((1, 2)), np.array([0]), reduction="avg")
    with pytest.raises(numrnn.ArgumentTypeError, match="ignore_index must be an int, got float"):
        F.cross_entropy(np.zeros((1, 2)), np.array([0]), ignore_index=-1.0)


# -- mse_loss ------------------------------------------------------------------

def _pairs(dtype=np.float64):
    return S.shapes().flatmap(
        lambda shape: st.tuples(S.float_arrays(shape, dtype), S.float_arrays(shape, dtype)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pair=_pairs())
def test_mse_forward_matches_numpy(reduction, pair):
    a, b = pair
    expected = {"none": (a - b) ** 2, "sum": np.sum((a - b) ** 2),
                "mean": np.mean((a - b) ** 2)}[reduction]
    out = F.mse_loss(numrnn.tensor(a), b, reduction=reduction)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pair=_pairs())
def test_mse_gradient_to_both_arguments(reduction, pair):
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), list(pair))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pair=_pairs(np.float32))
def test_mse_float32_agrees_with_float64(reduction, pair):
    a32, b32 = pair
    t32 = numrnn.tensor(a32, requires_grad=True)
    t64 = numrnn.tensor(a32.astype(np.float64), requires_grad=True)
    y32 = F.mse_loss(t32, b32, reduction=reduction)
    y64 = F.mse_loss(t64, b32.astype(np.float64), reduction=reduction)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-5)
    y32.backward(np.ones(y32.shape, np.float32))
    y64.backward(np.ones(y64.shape))
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-5, atol=1e-5)


def test_mse_bad_inputs():
    with pytest.raises(numrnn.ShapeError,
                       match=r"mse_loss: target must have the shape of input \(2, 3\), got \(3,\)"):
        F.mse_loss(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(numrnn.DTypeError, match="mse_loss: operands must share dtype float32"):
        F.mse_loss(numrnn.tensor(np.zeros(3, np.float32)), np.zeros(3))
    with pytest.raises(numrnn.ShapeError, match="reduction='mean' needs at least one element"):
        F.mse_loss(np.zeros(0), np.zeros(0))
    with pytest.raises(numrnn.ArgumentError, match="mse_loss: reduction must be one of"):
        F.mse_loss(np.zeros(2), np.zeros(2), reduction=None)


# -- penalties -------------------------------------------------------------------

PENALTIES = {
    "l1_penalty": (F.l1_penalty, lambda ws, k: k * sum(np.abs(w).sum() for w in ws)),
    "l2_penalty": (F.l2_penalty, lambda ws, k: k * sum((w * w).sum() for w in ws)),
}


def _weight_lists(dtype=np.float64):
    # Keep clear of 0, where |w| has its kink.
    arrays = S.shapes().flatmap(lambda shape: S.float_arrays(shape, dtype, exclude_near=0.0,
                                                              margin=1e-2))
    return st.lists(arrays, min_size=1, max_size=3)


@pytest.mark.parametrize("name", sorted(PENALTIES))
@given(weights=_weight_lists(), strength=st.sampled_from([0.5, 1.0, 3e-2]))
def test_penalty_forward_and_gradient(name, weights, strength):
    op, reference = PENALTIES[name]
    out = op([numrnn.tensor(w) for w in weights], weight=strength)
    np.testing.assert_allclose(out.data, reference(weights, strength), rtol=1e-12)
    gradcheck(lambda *ws: op(list(ws), weight=strength), weights)


@pytest.mark.parametrize("name", sorted(PENALTIES))
@given(weights=_weight_lists(np.float32))
def test_penalty_float32_agrees_with_float64(name, weights):
    op, _ = PENALTIES[name]
    t32 = [numrnn.tensor(w, requires_grad=True) for w in weights]
    t64 = [numrnn.tensor(w.astype(np.float64), requires_grad=True) for w in weights]
    y32, y64 = op(t32, weight=0.5), op(t64, weight=0.5)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5)
    y32.backward()
    y64.backward()
    for a, b in zip(t32, t64):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-6)


def test_l2_gradient_matches_pytorch_weight_decay_at_half_weight():
    w = numrnn.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    F.l2_penalty(w, weight=0.1 / 2).backward()
    np.testing.assert_allclose(w.grad, 0.1 * w.data, rtol=1e-15)


def test_l1_gradient_is_zero_at_zero():
    w = numrnn.tensor(np.array([0.0, 3.0, -1.0]), requires_grad=True)
    F.l1_penalty([w], weight=2.0).backward()
    np.testing.assert_array_equal(w.grad, [0.0, 2.0, -2.0])


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_bad_inputs(name):
    op, _ = PENALTIES[name]
    with pytest.raises(numrnn.ArgumentError, match=f"{name}: needs at least one tensor, got none"):
        op([])
    with pytest.raises(numrnn.ArgumentTypeError,
                       match=f"{name}: weight must be a real number, got str"):
        op([np.ones(2)], weight="1")
    with pytest.raises(numrnn.DTypeError, match="all floating inputs must share one dtype"):
        op([numrnn.tensor(np.ones(2)), numrnn.tensor(np.ones(2, np.float32))])
