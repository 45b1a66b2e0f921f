"""cross_entropy with class weights and label smoothing, nll_loss and l1_loss.

Forward against NumPy written from the definitions, gradients against central
differences (float64, Hypothesis), values and gradients against torch.
"""

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
def weighted_classification(draw, dtype=np.float64):
    """logits (..., C), targets (...) with some rows IGNORE, class weights (C,), smoothing."""
    lead = draw(S.shapes(min_dims=0, max_dims=2, max_side=4))
    n_classes = draw(st.integers(1, 5))
    logits = draw(S.float_arrays(lead + (n_classes,), dtype))
    targets = draw(hnp.arrays(np.int64, lead, elements=st.sampled_from(
        [IGNORE, *range(n_classes)])))
    weight = draw(st.one_of(st.none(), S.float_arrays((n_classes,), np.float64, 0.1, 3.0)))
    smoothing = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    return logits, targets, weight, smoothing


def reference_cross_entropy(logits, targets, weight, smoothing, reduction):
    """PyTorch's definition, one row at a time, in float64."""
    n_classes = logits.shape[-1]
    rows = logits.reshape(-1, n_classes).astype(np.float64)
    flat = targets.reshape(-1)
    w = np.ones(n_classes) if weight is None else weight
    losses, total_weight = np.zeros(len(flat)), 0.0
    for i, (row, target) in enumerate(zip(rows, flat)):
        if target == IGNORE:
            continue
        log_p = row - row.max() - np.log(np.exp(row - row.max()).sum())
        losses[i] = ((1 - smoothing) * w[target] * -log_p[target]
                     + smoothing / n_classes * np.sum(w * -log_p))
        total_weight += w[target]
    if reduction == "none":
        return losses.reshape(targets.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / total_weight if total_weight else 0.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=weighted_classification())
def test_weighted_smoothed_cross_entropy_matches_its_definition(reduction, case):
    logits, targets, weight, smoothing = case
    out = F.cross_entropy(logits, targets, weight=weight, label_smoothing=smoothing,
                          reduction=reduction)
    np.testing.assert_allclose(out.data, reference_cross_entropy(logits, targets, weight,
                                                                 smoothing, reduction),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=weighted_classification())
def test_weighted_smoothed_cross_entropy_gradient(reduction, case):
    logits, targets, weight, smoothing = case
    gradcheck(lambda x: F.cross_entropy(x, targets, weight=weight, label_smoothing=smoothing,
                                        reduction=reduction), [logits])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=weighted_classification(np.float32))
def test_weighted_smoothed_cross_entropy_float32_agrees_with_float64(reduction, case):
    logits32, targets, weight, smoothing = case
    t32 = numrnn.tensor(logits32, requires_grad=True)
    t64 = numrnn.tensor(logits32.astype(np.float64), requires_grad=True)
    y32 = F.cross_entropy(t32, targets, weight=weight, label_smoothing=smoothing,
                          reduction=reduction)
    y64 = F.cross_entropy(t64, targets, weight=weight, label_smoothing=smoothing,
                          reduction=reduction)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-5)
    y32.backward(np.ones(y32.shape, np.float32))
    y64.backward(np.ones(y64.shape))
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-5)


def test_weighted_mean_divides_by_the_weights_of_the_rows_that_count():
    logits = np.zeros((3, 2))  # every row's loss is log 2 before weighting
    loss = F.cross_entropy(logits, np.array([0, 1, IGNORE]), weight=[1.0, 3.0])
    np.testing.assert_allclose(loss.item(), (1.0 + 3.0) * np.log(2) / (1.0 + 3.0), rtol=1e-15)
    skewed = F.cross_entropy(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 1]),
                             weight=[1.0, 3.0])
    np.testing.assert_allclose(skewed.item(), (np.log(2) + 3 * (np.log1p(np.exp(2.0))))
                               / 4.0, rtol=1e-14)


def test_label_smoothing_is_stable_for_huge_logits():
    logits = numrnn.tensor(np.array([[1e4, 0.0, -1e4]], np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([0]), label_smoothing=0.3)
    np.testing.assert_allclose(loss.item(), 0.1 * (1e4 + 2e4), rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(logits.grad, [[0.9 - 0.7, -0.1, -0.1]], rtol=1e-5, atol=1e-6)


# -- nll_loss -------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=weighted_classification())
def test_nll_of_log_softmax_is_cross_entropy(reduction, case):
    logits, targets, weight, _ = case
    nll = F.nll_loss(F.log_softmax(logits, axis=-1), targets, weight=weight, reduction=reduction)
    ce = F.cross_entropy(logits, targets, weight=weight, reduction=reduction)
    np.testing.assert_allclose(nll.data, ce.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=weighted_classification())
def test_nll_gradient(reduction, case):
    scores, targets, weight, _ = case
    gradcheck(lambda x: F.nll_loss(x, targets, weight=weight, reduction=reduction), [scores])


# -- l1_loss ----------------------------------------------------------------------------

def _pairs(dtype=np.float64):
    """Two same-shaped arrays that differ by at least 1e-2 everywhere (|d| has a kink at 0)."""
    def pair(shape):
        return st.tuples(S.float_arrays(shape, dtype),
                         S.float_arrays(shape, dtype, exclude_near=0.0, margin=1e-2))
    return S.shapes().flatmap(pair).map(lambda ab: (ab[0], ab[0] + ab[1]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(pair=_pairs())
def test_l1_forward_and_gradient_to_both_arguments(reduction, pair):
    a, b = pair
    expected = {"none": np.abs(a - b), "sum": np.abs(a - b).sum(),
                "mean": np.abs(a - b).mean()}[reduction]
    np.testing.assert_allclose(F.l1_loss(a, b, reduction=reduction).data, expected, rtol=1e-12)
    gradcheck(lambda x, y: F.l1_loss(x, y, reduction=reduction), [a, b])


def test_l1_gradient_is_zero_where_input_equals_target():
    x = numrnn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    F.l1_loss(x, np.array([1.0, 0.0, 4.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, -1.0])


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], weight=[1.0, 2.0]), numrnn.ShapeError,
     r"cross_entropy: weight must have shape \(3,\), one per class, got \(2,\)"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], weight=["a", "b", "c"]),
     numrnn.DTypeError, "cross_entropy: weight must hold real numbers, got dtype <U1"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], weight=[1.0, np.nan, 1.0]),
     numrnn.ArgumentError, r"cross_entropy: weight must be finite, got \[1.0, nan, 1.0\]"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=1.5),
     numrnn.ArgumentError, r"cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing="0.1"),
     numrnn.ArgumentTypeError, "cross_entropy: label_smoothing must be a number, got str"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, 3]), numrnn.ShapeError,
     r"nll_loss: targets must be in 0\.\.2 or ignore_index=-100, got 3"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, 1, 2]), numrnn.ShapeError,
     r"nll_loss: targets must have shape \(2,\) \(log_probs without the class axis\), "
     r"got \(3,\)"),
    (lambda: F.nll_loss(np.zeros((2, 3)), [0, 1], reduction="avg"), numrnn.ArgumentError,
     "nll_loss: reduction must be one of"),
    (lambda: F.l1_loss(np.zeros((2, 3)), np.zeros(3)), numrnn.ShapeError,
     r"l1_loss: target must have the shape of input \(2, 3\), got \(3,\)"),
    (lambda: F.l1_loss(np.zeros(0), np.zeros(0)), numrnn.ShapeError,
     "l1_loss: reduction='mean' needs at least one element, got 0"),
])
def test_bad_arguments_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- parity with torch ----------------------------------------------------------------------

@pytest.mark.parity
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_and_nll_match_torch(reduction, smoothing, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((9, 4)) * 3
    targets = rng.integers(0, 4, 9)
    targets[[2, 5]] = IGNORE
    weight = rng.random(4) + 0.2 if weighted else None
    torch_weight = None if weight is None else torch.tensor(weight)

    ours = numrnn.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(ours, targets, weight=weight, reduction=reduction,
                           label_smoothing=smoothing)
    loss.backward(np.ones(loss.shape))
    theirs = torch.tensor(logits, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(theirs, torch.tensor(targets), torch_weight,
                                                   reduction=reduction,
                                                   label_smoothing=smoothing)
    torch_loss.backward(torch.ones_like(torch_loss))
    np.testing.assert_allclose(loss.data, torch_loss.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-14)

    log_probs = np.log(rng.dirichlet(np.ones(4), size=9))
    nll = F.nll_loss(log_probs, targets, weight=weight, reduction=reduction)
    torch_nll = torch.nn.functional.nll_loss(torch.tensor(log_probs), torch.tensor(targets),
                                             torch_weight, reduction=reduction)
    np.testing.assert_allclose(nll.data, torch_nll.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parity
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 4))
    b[0, 0] = a[0, 0]
    ours = numrnn.tensor(a, requires_grad=True)
    loss = F.l1_loss(ours, b, reduction=reduction)
    loss.backward(np.ones(loss.shape))
    theirs = torch.tensor(a, requires_grad=True)
    torch_loss = torch.nn.functional.l1_loss(theirs, torch.tensor(b), reduction=reduction)
    torch_loss.backward(torch.ones_like(torch_loss))
    np.testing.assert_allclose(loss.data, torch_loss.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-14)
