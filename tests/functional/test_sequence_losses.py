"""Losses over padded sequences: NumPy references, gradients, and that padding is inert."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

REDUCTIONS = ["mean", "sum", "none"]
# Past this many (input x output) elements gradcheck switches from the full Jacobian to
# random directional checks, which cover 'none' (one output per step) just as well.
JACOBIAN_LIMIT = 200


@st.composite
def padded_batches(draw, feature_shape, min_length=0):
    """``(values, lengths)``: values (T, B, *features) float64, lengths (B,) in min_length..T."""
    steps = draw(st.integers(1, 5))
    batch = draw(st.integers(1, 4))
    features = draw(feature_shape)  # a strategy of feature shapes, () for none
    values = draw(S.float_arrays((steps, batch) + tuple(features)))
    lengths = draw(hnp.arrays(np.int64, (batch,), elements=st.integers(min_length, steps)))
    return values, lengths


@st.composite
def classification_batches(draw):
    """``(logits (T, B, C), targets (T, B), lengths (B,))`` with targets valid everywhere."""
    n_classes = draw(st.integers(1, 4))
    logits, lengths = draw(padded_batches(feature_shape=st.just((n_classes,))))
    targets = draw(hnp.arrays(np.int64, logits.shape[:2], elements=st.integers(0, n_classes - 1)))
    return logits, targets, lengths


def numpy_sequence_cross_entropy(logits, targets, lengths, reduction):
    losses = np.zeros(targets.shape)
    for b, length in enumerate(lengths):
        for t in range(length):
            row = logits[t, b]
            top = row.max()
            losses[t, b] = top + np.log(np.exp(row - top).sum()) - row[targets[t, b]]
    if reduction == "none":
        return losses
    total = losses.sum()
    count = int(np.sum(lengths))
    return total / count if reduction == "mean" and count else total


def numpy_sequence_mse(pred, target, lengths, reduction):
    squared = np.zeros(pred.shape)
    for b, length in enumerate(lengths):
        squared[:length, b] = (pred[:length, b] - target[:length, b]) ** 2
    if reduction == "none":
        return squared
    count = int(np.sum(lengths)) * int(np.prod(pred.shape[2:]))
    return squared.sum() / count if reduction == "mean" and count else squared.sum()


def padded(lengths, steps):
    return np.arange(steps)[:, None] >= np.asarray(lengths)[None, :]


def grads_of(fn, *arrays):
    """The loss value and each array's gradient (the loss seeded with ones)."""
    leaves = [numrnn.tensor(a, requires_grad=True) for a in arrays]
    loss = fn(*leaves)
    loss.backward(np.ones_like(loss.data))
    return loss.data, [t.grad if t.grad is not None else np.zeros_like(t.data) for t in leaves]


# -- sequence_cross_entropy ----------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(classification_batches())
def test_cross_entropy_matches_numpy(reduction, case):
    logits, targets, lengths = case
    got = F.sequence_cross_entropy(logits, targets, lengths, reduction=reduction)
    expected = numpy_sequence_cross_entropy(logits, targets, lengths, reduction)
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(classification_batches())
def test_cross_entropy_gradient_matches_central_differences(reduction, case):
    logits, targets, lengths = case
    gradcheck(lambda x: F.sequence_cross_entropy(x, targets, lengths, reduction=reduction),
              [logits], full_jacobian_limit=JACOBIAN_LIMIT)


@given(classification_batches(), st.data())
def test_cross_entropy_padding_has_no_influence(case, data):
    logits, targets, lengths = case
    steps, batch, n_classes = logits.shape
    pad = padded(lengths, steps)
    junk_logits = data.draw(S.float_arrays(logits.shape, min_value=-50, max_value=50))
    junk_logits[0, 0, 0] = np.nan  # NaN in a padded step must not leak either
    changed_logits = np.where(pad[..., None], junk_logits, logits)
    changed_targets = np.where(pad, n_classes + 7, targets)  # out of range: never read

    def loss_with(target_ids):
        return lambda x: F.sequence_cross_entropy(x, target_ids, lengths)

    value, (grad,) = grads_of(loss_with(targets), logits)
    changed_value, (changed_grad,) = grads_of(loss_with(changed_targets), changed_logits)
    assert changed_value == value
    np.testing.assert_array_equal(changed_grad, grad)
    np.testing.assert_array_equal(grad[pad], 0.0)


@given(classification_batches(), st.booleans())
def test_cross_entropy_mask_and_batch_first_agree_with_lengths(case, batch_first):
    logits, targets, lengths = case
    expected = F.sequence_cross_entropy(logits, targets, lengths).data
    mask = ~padded(lengths, logits.shape[0])
    if batch_first:
        logits, targets, mask = logits.transpose(1, 0, 2), targets.T, mask.T
    by_mask = F.sequence_cross_entropy(logits, targets, mask=mask, batch_first=batch_first)
    by_lengths = F.sequence_cross_entropy(logits, targets, lengths, batch_first=batch_first)
    np.testing.assert_allclose(by_mask.data, expected, rtol=1e-14)
    np.testing.assert_allclose(by_lengths.data, expected, rtol=1e-14)


def test_cross_entropy_without_lengths_is_plain_cross_entropy_and_keeps_float32():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3, 5)).astype(np.float32)
    targets = rng.integers(0, 5, (4, 3))
    loss = F.sequence_cross_entropy(logits, targets)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.data, F.cross_entropy(logits, targets).data, rtol=1e-6)


def test_no_valid_step_gives_zero_loss_and_zero_gradient():
    logits = numrnn.tensor(np.ones((2, 2, 3)), requires_grad=True)
    loss = F.sequence_cross_entropy(logits, np.zeros((2, 2), np.int64), lengths=[0, 0])
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(logits.grad, 0.0)
    pred = numrnn.tensor(np.ones((2, 2)), requires_grad=True)
    loss = F.sequence_mse_loss(pred, np.zeros((2, 2)), mask=np.zeros((2, 2), bool))
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(pred.grad, 0.0)


def test_cross_entropy_refuses_bad_input_naming_expected_and_got():
    logits, targets = np.zeros((3, 2, 4)), np.zeros((3, 2), np.int64)
    op = F.sequence_cross_entropy
    with pytest.raises(ShapeError, match=r"lengths must have shape \(2,\), one per batch row, "
                                         r"got \(3,\)"):
        op(logits, targets, lengths=[1, 2, 3])
    with pytest.raises(ShapeError, match=r"every length must be in 0..3 .*got \[1, 4\]"):
        op(logits, targets, lengths=[1, 4])
    with pytest.raises(ArgumentError, match="lengths or mask, not both"):
        op(logits, targets, lengths=[1, 1], mask=np.ones((3, 2), bool))
    with pytest.raises(ShapeError, match=r"mask must have shape \(2, 3\) \(B, T\), got \(3, 2\)"):
        op(logits.transpose(1, 0, 2), targets.T, mask=np.ones((3, 2), bool), batch_first=True)
    with pytest.raises(DTypeError, match="mask must be a boolean array, got dtype int64"):
        op(logits, targets, mask=np.ones((3, 2), np.int64))
    with pytest.raises(ShapeError, match=r"targets at valid steps must be in 0..3, got 4"):
        op(logits, np.where(np.arange(3)[:, None] == 0, 4, targets), lengths=[1, 1])
    with pytest.raises(ShapeError, match=r"targets must have shape \(3, 2\)"):
        op(logits, targets.T)
    with pytest.raises(DTypeError, match="targets must be an integer array"):
        op(logits, targets.astype(np.float64))
    with pytest.raises(ShapeError, match=r"logits must be at least 3-D \(T, B, C\)"):
        op(np.zeros((3, 4)), np.zeros(3, np.int64))
    with pytest.raises(ArgumentError, match="reduction must be one of"):
        op(logits, targets, reduction="avg")


# -- sequence_mse_loss ---------------------------------------------------------------------

feature_shapes = st.sampled_from([(), (2,), (2, 2)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(padded_batches(feature_shapes), st.data())
def test_mse_matches_numpy(reduction, case, data):
    pred, lengths = case
    target = data.draw(S.float_arrays(pred.shape))
    got = F.sequence_mse_loss(pred, target, lengths, reduction=reduction)
    np.testing.assert_allclose(got.data, numpy_sequence_mse(pred, target, lengths, reduction),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(padded_batches(feature_shapes), st.data())
def test_mse_gradient_matches_central_differences(reduction, case, data):
    pred, lengths = case
    target = data.draw(S.float_arrays(pred.shape))
    gradcheck(lambda p, t: F.sequence_mse_loss(p, t, lengths, reduction=reduction),
              [pred, target], full_jacobian_limit=JACOBIAN_LIMIT)


@given(padded_batches(feature_shapes), st.data())
def test_mse_padding_has_no_influence(case, data):
    pred, lengths = case
    target = data.draw(S.float_arrays(pred.shape))
    pad = padded(lengths, pred.shape[0]).reshape(pred.shape[:2] + (1,) * (pred.ndim - 2))
    junk = np.full(pred.shape, np.nan)
    changed_pred, changed_target = np.where(pad, junk, pred), np.where(pad, 1e6, target)

    def loss(p, t):
        return F.sequence_mse_loss(p, t, lengths)

    value, grads = grads_of(loss, pred, target)
    changed_value, changed_grads = grads_of(loss, changed_pred, changed_target)
    assert changed_value == value
    for grad, changed_grad in zip(grads, changed_grads):
        np.testing.assert_array_equal(changed_grad, grad)
        np.testing.assert_array_equal(grad[np.broadcast_to(pad, grad.shape)], 0.0)


def test_mse_batch_first_and_errors():
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((2, 4, 3, 2))
    lengths = np.array([4, 1, 2])
    time_major = F.sequence_mse_loss(pred, target, lengths).data
    batch_first = F.sequence_mse_loss(pred.transpose(1, 0, 2), target.transpose(1, 0, 2),
                                      lengths, batch_first=True).data
    np.testing.assert_allclose(batch_first, time_major, rtol=1e-14)
    with pytest.raises(ShapeError, match=r"target must have the shape of pred \(4, 3, 2\), "
                                         r"got \(4, 3\)"):
        F.sequence_mse_loss(pred, target[..., 0], lengths)
    with pytest.raises(ShapeError, match=r"pred must be at least 2-D \(T, B, \.\.\.\)"):
        F.sequence_mse_loss(pred[0, 0, 0], target[0, 0, 0])


# -- last_valid_step -----------------------------------------------------------------------

@given(padded_batches(feature_shapes, min_length=1), st.booleans())
def test_last_valid_step_matches_numpy_and_its_gradient(case, batch_first):
    output, lengths = case
    expected = np.stack([output[length - 1, b] for b, length in enumerate(lengths)])
    if batch_first:
        output = np.swapaxes(output, 0, 1).copy()
    got = F.last_valid_step(output, lengths, batch_first=batch_first)
    np.testing.assert_array_equal(got.data, expected)
    gradcheck(lambda x: F.last_valid_step(x, lengths, batch_first=batch_first), [output],
              full_jacobian_limit=JACOBIAN_LIMIT)


def test_last_valid_step_sends_gradient_only_to_the_last_valid_steps():
    output = numrnn.tensor(np.ones((4, 3, 2)), requires_grad=True)
    F.last_valid_step(output, np.array([4, 1, 2])).sum().backward()
    expected = np.zeros((4, 3, 2))
    expected[3, 0] = expected[0, 1] = expected[1, 2] = 1.0
    np.testing.assert_array_equal(output.grad, expected)


def test_last_valid_step_refuses_lengths_outside_one_to_steps():
    with pytest.raises(ShapeError, match=r"every length must be in 1..4 .*got \[0, 2\]"):
        F.last_valid_step(np.zeros((4, 2, 3)), [0, 2])
    with pytest.raises(ShapeError, match=r"lengths must have shape \(2,\)"):
        F.last_valid_step(np.zeros((4, 2, 3)), [1, 2, 3])


def test_sequence_mask_layouts():
    np.testing.assert_array_equal(F.sequence_mask([2, 0, 3], 3),
                                  [[1, 0, 1], [1, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(F.sequence_mask([2, 0, 3], 3, batch_first=True),
                                  [[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    with pytest.raises(ShapeError, match=r"sequence_mask: every length must be in 0..3 .*\[-1\]"):
        F.sequence_mask([-1], 3)
