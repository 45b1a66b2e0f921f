"""binary_cross_entropy_with_logits: definition, gradients, stability, errors, torch parity."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

REDUCTIONS = ["mean", "sum", "none"]


@st.composite
def binary_problems(draw, dtype=np.float64):
    """logits, targets in [0, 1], and optional weight / pos_weight broadcast from smaller shapes."""
    shape = draw(S.shapes(min_dims=1, max_dims=3))
    logits = draw(S.float_arrays(shape, dtype))
    targets = draw(S.float_arrays(shape, dtype, 0.0, 1.0))
    weight = draw(st.one_of(st.none(), S.float_arrays(shape[-1:], np.float64, 0.0, 2.0),
                            S.float_arrays(shape, np.float64, 0.0, 2.0)))
    pos_weight = draw(st.one_of(st.none(), S.float_arrays(shape[-1:], np.float64, 0.1, 4.0)))
    return logits, targets, weight, pos_weight


def reference_bce(logits, targets, weight, pos_weight, reduction):
    probability = 1 / (1 + np.exp(-logits))
    pos = 1.0 if pos_weight is None else pos_weight
    losses = -(pos * targets * np.log(probability) + (1 - targets) * np.log(1 - probability))
    if weight is not None:
        losses = weight * losses
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=binary_problems())
def test_matches_its_definition(reduction, case):
    logits, targets, weight, pos_weight = case
    out = F.binary_cross_entropy_with_logits(logits, targets, weight=weight,
                                             pos_weight=pos_weight, reduction=reduction)
    np.testing.assert_allclose(out.data, reference_bce(logits, targets, weight, pos_weight,
                                                       reduction), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=binary_problems())
def test_gradient_to_logits_and_targets(reduction, case):
    logits, targets, weight, pos_weight = case
    gradcheck(lambda x, y: F.binary_cross_entropy_with_logits(
        x, y, weight=weight, pos_weight=pos_weight, reduction=reduction), [logits, targets])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=binary_problems(np.float32))
def test_float32_agrees_with_float64(reduction, case):
    logits32, targets32, weight, pos_weight = case
    x32 = numrnn.tensor(logits32, requires_grad=True)
    x64 = numrnn.tensor(logits32.astype(np.float64), requires_grad=True)
    y32 = F.binary_cross_entropy_with_logits(x32, targets32, weight, reduction, pos_weight)
    y64 = F.binary_cross_entropy_with_logits(x64, targets32.astype(np.float64), weight,
                                             reduction, pos_weight)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-5)
    y32.backward(np.ones(y32.shape, np.float32))
    y64.backward(np.ones(y64.shape))
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad, x64.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_and_exact_for_huge_logits(dtype):
    logits = numrnn.tensor(np.array([1e4, -1e4, 1e4, -1e4, 50.0], dtype), requires_grad=True)
    targets = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype)
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    # Confidently right costs (almost exactly) 0, confidently wrong costs |x|.
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1e4, 1e4, np.exp(-50.0)], rtol=1e-6,
                               atol=0)
    loss.backward(np.ones(5, dtype))
    np.testing.assert_allclose(logits.grad, [0.0, 0.0, 1.0, -1.0, -np.exp(-50.0)], rtol=1e-6,
                               atol=0)


def test_pos_weight_scales_only_the_positive_term():
    logits = np.array([[0.0, 0.0], [0.0, 0.0]])
    targets = np.array([[1.0, 1.0], [0.0, 0.0]])
    loss = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=[3.0, 1.0],
                                              reduction="none")
    np.testing.assert_allclose(loss.data, np.log(2) * np.array([[3.0, 1.0], [1.0, 1.0]]),
                               rtol=1e-15)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"target": np.zeros(3)}, numrnn.ShapeError,
     r"binary_cross_entropy_with_logits: target must have the shape of input \(2, 3\), "
     r"got \(3,\)"),
    ({"weight": np.ones(2)}, numrnn.ShapeError,
     r"weight must broadcast to the input's shape \(2, 3\), got shape \(2,\)"),
    ({"pos_weight": np.ones((4, 3))}, numrnn.ShapeError,
     r"pos_weight must broadcast to the input's shape \(2, 3\), got shape \(4, 3\)"),
    ({"pos_weight": np.array(["a", "b", "c"])}, numrnn.DTypeError,
     "pos_weight must hold real numbers, got dtype <U1"),
    ({"reduction": "avg"}, numrnn.ArgumentError,
     "binary_cross_entropy_with_logits: reduction must be one of"),
    ({"target": np.zeros((2, 3), np.float32)}, numrnn.DTypeError,
     "operands must share dtype float64, got float32"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    arguments = {"input": np.zeros((2, 3)), "target": np.zeros((2, 3))} | kwargs
    with pytest.raises(error, match=message):
        F.binary_cross_entropy_with_logits(**arguments)


def test_mean_over_no_element_is_refused():
    with pytest.raises(numrnn.ShapeError, match="reduction='mean' needs at least one element"):
        F.binary_cross_entropy_with_logits(np.zeros((0, 2)), np.zeros((0, 2)))


@pytest.mark.parity
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_torch(reduction, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 4)) * 8
    targets = rng.random((5, 4))
    weight = rng.random((1, 4)) if weighted else None
    pos_weight = rng.random(4) * 3 if weighted else None

    x = numrnn.tensor(logits, requires_grad=True)
    y = numrnn.tensor(targets, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, y, weight, reduction, pos_weight)
    loss.backward(np.ones(loss.shape))
    tx = torch.tensor(logits, requires_grad=True)
    ty = torch.tensor(targets, requires_grad=True)
    torch_loss = torch.nn.functional.binary_cross_entropy_with_logits(
        tx, ty, None if weight is None else torch.tensor(weight), reduction=reduction,
        pos_weight=None if pos_weight is None else torch.tensor(pos_weight))
    torch_loss.backward(torch.ones_like(torch_loss))
    np.testing.assert_allclose(loss.data, torch_loss.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.grad, ty.grad.numpy(), rtol=1e-12, atol=1e-14)
