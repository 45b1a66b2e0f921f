"""Weighted, smoothed and ignoring sequence_cross_entropy; sequence NLL, L1 and BCE-with-logits.

Each is checked against the plain loss on the valid steps gathered into rows
(itself checked against its definition and torch), for gradients by central
differences, and for padding that has no influence at all.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn import ArgumentTypeError, ShapeError
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

REDUCTIONS = ["mean", "sum", "none"]
JACOBIAN_LIMIT = 200  # past it, random directional checks (see test_sequence_losses.py)
IGNORE = -100


@st.composite
def padded(draw, feature_shape):
    """``(values (T, B, *features), lengths (B,) in 0..T)``."""
    steps, batch = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    values = draw(S.float_arrays((steps, batch) + feature_shape))
    lengths = draw(hnp.arrays(np.int64, (batch,), elements=st.integers(0, steps)))
    return values, lengths


@st.composite
def class_batches(draw):
    """logits (T, B, C), targets (T, B) with some IGNORE, lengths, class weights, smoothing."""
    n_classes = draw(st.integers(1, 4))
    logits, lengths = draw(padded((n_classes,)))
    targets = draw(hnp.arrays(np.int64, logits.shape[:2],
                              elements=st.sampled_from([IGNORE, *range(n_classes)])))
    weight = draw(st.one_of(st.none(), S.float_arrays((n_classes,), np.float64, 0.1, 3.0)))
    smoothing = draw(st.sampled_from([0.0, 0.2]))
    return logits, targets, lengths, weight, smoothing


@st.composite
def binary_batches(draw):
    """logits and targets (T, B, F), lengths, optional weight (F,) and pos_weight (F,)."""
    features = draw(st.integers(1, 3))
    logits, lengths = draw(padded((features,)))
    targets = draw(S.float_arrays(logits.shape, np.float64, 0.0, 1.0))
    weight = draw(st.one_of(st.none(), S.float_arrays((features,), np.float64, 0.1, 2.0)))
    pos_weight = draw(st.one_of(st.none(), S.float_arrays((features,), np.float64, 0.1, 3.0)))
    return logits, targets, lengths, weight, pos_weight


def valid_mask(lengths, steps):
    return np.arange(steps)[:, None] < np.asarray(lengths)[None, :]


def on_valid_steps(values, lengths):
    """The valid steps of a (T, B, ...) array as rows, in (t, b) order."""
    return values[valid_mask(lengths, values.shape[0])]


def scatter_rows(rows, lengths, shape):
    """The inverse of on_valid_steps for 'none' results: zeros at padded steps."""
    out = np.zeros(shape)
    out[valid_mask(lengths, shape[0])] = rows
    return out


def grads_of(fn, *arrays):
    leaves = [numrnn.tensor(a, requires_grad=True) for a in arrays]
    loss = fn(*leaves)
    loss.backward(np.ones_like(loss.data))
    return loss.data, [t.grad if t.grad is not None else np.zeros_like(t.data) for t in leaves]


# -- class losses ----------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=class_batches())
def test_weighted_smoothed_cross_entropy_is_the_plain_loss_on_the_valid_steps(reduction, case):
    logits, targets, lengths, weight, smoothing = case
    got = F.sequence_cross_entropy(logits, targets, lengths, reduction=reduction, weight=weight,
                                   ignore_index=IGNORE, label_smoothing=smoothing)
    rows = F.cross_entropy(on_valid_steps(logits, lengths), on_valid_steps(targets, lengths),
                           weight=weight, ignore_index=IGNORE, reduction=reduction,
                           label_smoothing=smoothing).data
    expected = scatter_rows(rows, lengths, targets.shape) if reduction == "none" else rows
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=class_batches())
def test_weighted_smoothed_cross_entropy_gradient(reduction, case):
    logits, targets, lengths, weight, smoothing = case
    gradcheck(lambda x: F.sequence_cross_entropy(x, targets, lengths, reduction=reduction,
                                                 weight=weight, ignore_index=IGNORE,
                                                 label_smoothing=smoothing),
              [logits], full_jacobian_limit=JACOBIAN_LIMIT)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=class_batches())
def test_nll_is_the_plain_loss_on_the_valid_steps_and_its_gradient(reduction, case):
    scores, targets, lengths, weight, _ = case
    got = F.sequence_nll_loss(scores, targets, lengths, reduction=reduction, weight=weight,
                              ignore_index=IGNORE)
    rows = F.nll_loss(on_valid_steps(scores, lengths), on_valid_steps(targets, lengths),
                      weight=weight, reduction=reduction).data
    expected = scatter_rows(rows, lengths, targets.shape) if reduction == "none" else rows
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-12)
    gradcheck(lambda x: F.sequence_nll_loss(x, targets, lengths, reduction=reduction,
                                            weight=weight, ignore_index=IGNORE),
              [scores], full_jacobian_limit=JACOBIAN_LIMIT)


@given(case=class_batches(), data=st.data())
def test_class_loss_padding_has_no_influence(case, data):
    logits, targets, lengths, weight, smoothing = case
    pad = ~valid_mask(lengths, logits.shape[0])
    junk = data.draw(S.float_arrays(logits.shape, min_value=-50, max_value=50))
    junk[0, 0, 0] = np.nan
    changed_logits = np.where(pad[..., None], junk, logits)
    changed_targets = np.where(pad, logits.shape[-1] + 3, targets)
    for loss in (F.sequence_cross_entropy, F.sequence_nll_loss):
        options = {"label_smoothing": smoothing} if loss is F.sequence_cross_entropy else {}

        def loss_of(target_ids, loss=loss, options=options):
            return lambda x: loss(x, target_ids, lengths, weight=weight, ignore_index=IGNORE,
                                  **options)

        value, (grad,) = grads_of(loss_of(targets), logits)
        changed_value, (changed_grad,) = grads_of(loss_of(changed_targets), changed_logits)
        assert changed_value == value
        np.testing.assert_array_equal(changed_grad, grad)
        np.testing.assert_array_equal(grad[pad], 0.0)


def test_weighted_mean_divides_by_the_weights_of_the_valid_steps():
    logits = np.zeros((3, 2, 2))  # log 2 per step before weighting
    targets = np.array([[0, 1], [1, 1], [0, 0]])
    loss = F.sequence_cross_entropy(logits, targets, lengths=[2, 1], weight=[1.0, 5.0])
    # Valid: row 0 steps 0, 1 (classes 0, 1), row 1 step 0 (class 1): weights 1 + 5 + 5.
    np.testing.assert_allclose(loss.item(), np.log(2), rtol=1e-15)
    lopsided = np.zeros((3, 2, 2))
    lopsided[0, 0] = [3.0, 0.0]  # the class-0 step now costs log(1 + e^-3)
    loss = F.sequence_cross_entropy(lopsided, targets, lengths=[2, 1], weight=[1.0, 5.0])
    np.testing.assert_allclose(loss.item(), (np.log1p(np.exp(-3.0)) + 10 * np.log(2)) / 11,
                               rtol=1e-14)


# -- elementwise losses ------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=binary_batches())
def test_bce_is_the_plain_loss_on_the_valid_steps_and_its_gradient(reduction, case):
    logits, targets, lengths, weight, pos_weight = case
    got = F.sequence_binary_cross_entropy_with_logits(logits, targets, lengths,
                                                      reduction=reduction, weight=weight,
                                                      pos_weight=pos_weight)
    valid_logits, valid_targets = on_valid_steps(logits, lengths), on_valid_steps(targets, lengths)
    if valid_logits.size or reduction != "mean":
        rows = F.binary_cross_entropy_with_logits(valid_logits, valid_targets, weight,
                                                  reduction, pos_weight).data
    else:
        rows = 0.0
    expected = scatter_rows(rows, lengths, logits.shape) if reduction == "none" else rows
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-12)
    gradcheck(lambda x, y: F.sequence_binary_cross_entropy_with_logits(
        x, y, lengths, reduction=reduction, weight=weight, pos_weight=pos_weight),
        [logits, targets], full_jacobian_limit=JACOBIAN_LIMIT)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(case=padded((2,)), data=st.data())
def test_l1_is_the_plain_loss_on_the_valid_steps_and_its_gradient(reduction, case, data):
    pred, lengths = case
    offset = data.draw(S.float_arrays(pred.shape, exclude_near=0.0, margin=1e-2))
    target = pred + offset
    got = F.sequence_l1_loss(pred, target, lengths, reduction=reduction)
    absolute = np.abs(offset) * valid_mask(lengths, pred.shape[0])[..., None]
    count = int(np.sum(lengths)) * 2
    expected = {"none": absolute, "sum": absolute.sum(),
                "mean": absolute.sum() / count if count else 0.0}[reduction]
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-12)
    gradcheck(lambda p, t: F.sequence_l1_loss(p, t, lengths, reduction=reduction),
              [pred, target], full_jacobian_limit=JACOBIAN_LIMIT)


@given(case=binary_batches(), data=st.data())
def test_elementwise_padding_has_no_influence(case, data):
    logits, targets, lengths, weight, pos_weight = case
    pad = ~valid_mask(lengths, logits.shape[0])[..., None]
    junk = data.draw(S.float_arrays(logits.shape, min_value=-50, max_value=50))
    junk[0, 0, 0] = np.nan
    changed_logits = np.where(pad, junk, logits)
    changed_targets = np.where(pad, np.inf, targets)
    for loss in (F.sequence_l1_loss, lambda x, y, n: F.sequence_binary_cross_entropy_with_logits(
            x, y, n, weight=weight, pos_weight=pos_weight)):
        value, grads = grads_of(lambda x, y, loss=loss: loss(x, y, lengths), logits, targets)
        changed_value, changed_grads = grads_of(lambda x, y, loss=loss: loss(x, y, lengths),
                                                changed_logits, changed_targets)
        assert changed_value == value
        for grad, changed_grad in zip(grads, changed_grads):
            np.testing.assert_array_equal(changed_grad, grad)
            np.testing.assert_array_equal(grad[np.broadcast_to(pad, grad.shape)], 0.0)


def test_bce_mean_counts_valid_elements_not_weights():
    logits, targets = np.zeros((2, 2, 3)), np.ones((2, 2, 3))
    loss = F.sequence_binary_cross_entropy_with_logits(logits, targets, lengths=[2, 1],
                                                       weight=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(loss.item(), np.log(2) * (1 + 2 + 3) * 3 / 9, rtol=1e-15)


# -- errors and parity ---------------------------------------------------------------------------

def test_bad_arguments_are_refused():
    logits, targets = np.zeros((3, 2, 4)), np.zeros((3, 2), np.int64)
    with pytest.raises(ArgumentTypeError, match="sequence_cross_entropy: ignore_index must be an "
                                                "int or None, got float"):
        F.sequence_cross_entropy(logits, targets, ignore_index=-1.0)
    with pytest.raises(ShapeError, match=r"sequence_nll_loss: targets at valid steps must be in "
                                         r"0\.\.3 or ignore_index=-1, got 4"):
        F.sequence_nll_loss(logits, np.where(targets == 0, 4, 0), ignore_index=-1)
    with pytest.raises(ShapeError, match=r"sequence_cross_entropy: weight must have shape \(4,\)"):
        F.sequence_cross_entropy(logits, targets, weight=[1.0, 2.0])
    with pytest.raises(ShapeError, match=r"sequence_nll_loss: log_probs must be at least 3-D"):
        F.sequence_nll_loss(np.zeros((3, 4)), np.zeros(3, np.int64))
    with pytest.raises(ShapeError, match=r"sequence_binary_cross_entropy_with_logits: weight "
                                         r"must broadcast to the input's shape \(3, 2, 4\)"):
        F.sequence_binary_cross_entropy_with_logits(logits, logits, weight=np.ones(3))
    with pytest.raises(ShapeError, match=r"sequence_l1_loss: target must have the shape of pred"):
        F.sequence_l1_loss(logits, logits[0])


@pytest.mark.parity
def test_sequence_cross_entropy_matches_torch_on_the_packed_valid_steps():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 3, 5))
    targets = rng.integers(0, 5, (6, 3))
    lengths = np.array([6, 2, 4])
    weight = rng.random(5) + 0.5
    ours = numrnn.tensor(logits, requires_grad=True)
    loss = F.sequence_cross_entropy(ours, targets, lengths, weight=weight, label_smoothing=0.1)
    loss.backward()
    valid = valid_mask(lengths, 6)
    theirs = torch.tensor(logits, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(
        theirs[torch.tensor(valid)], torch.tensor(targets[valid]), torch.tensor(weight),
        label_smoothing=0.1)
    torch_loss.backward()
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)
