"""Loss modules: PyTorch parity of values and gradients, the lengths route, repr and errors."""

import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError

REDUCTIONS = ["mean", "sum", "none"]


def classification(seed=0, rows=8, classes=4):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((rows, classes)) * 2
    targets = rng.integers(0, classes, rows)
    targets[1] = -100
    return logits, targets, rng.random(classes) + 0.3


def regression(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((5, 3)) * 3, rng.random((5, 3))


# Each case: (our module, torch's module name, its keyword arguments, how to make the inputs).
# Inputs are (input, target, target_is_float).
CASES = {
    "CrossEntropyLoss": (lambda kw: nn.CrossEntropyLoss(**kw), "CrossEntropyLoss",
                         lambda weight: {"weight": weight, "label_smoothing": 0.15},
                         lambda: classification()[:2] + (False,)),
    "NLLLoss": (lambda kw: nn.NLLLoss(**kw), "NLLLoss", lambda weight: {"weight": weight},
                lambda: (np.log(np.random.default_rng(2).dirichlet(np.ones(4), size=8)),
                         classification()[1], False)),
    "MSELoss": (lambda kw: nn.MSELoss(**kw), "MSELoss", lambda weight: {},
                lambda: regression() + (True,)),
    "L1Loss": (lambda kw: nn.L1Loss(**kw), "L1Loss", lambda weight: {},
               lambda: regression() + (True,)),
    "BCEWithLogitsLoss": (lambda kw: nn.BCEWithLogitsLoss(**kw), "BCEWithLogitsLoss",
                          lambda weight: {"weight": weight[:3], "pos_weight": weight[1:]},
                          lambda: regression() + (True,)),
}


@pytest.mark.parity
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_options", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_module(name, with_options, reduction):
    torch = pytest.importorskip("torch")
    make_ours, torch_name, options_from, inputs = CASES[name]
    options = options_from(classification()[2]) if with_options else {}
    input, target, float_target = inputs()
    ours = make_ours({**options, "reduction": reduction})
    theirs = getattr(torch.nn, torch_name)(
        **{key: torch.tensor(value) for key, value in options.items() if key != "label_smoothing"},
        **({"label_smoothing": options["label_smoothing"]} if "label_smoothing" in options
           else {}), reduction=reduction)

    x = numrnn.tensor(input, requires_grad=True)
    loss = ours(x, target)
    loss.backward(np.ones(loss.shape))
    torch_x = torch.tensor(input, requires_grad=True)
    torch_loss = theirs(torch_x, torch.tensor(target))
    torch_loss.backward(torch.ones_like(torch_loss))
    np.testing.assert_allclose(loss.data, torch_loss.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad, torch_x.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert list(ours.parameters()) == []


@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_route_through_the_sequence_losses(batch_first):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 3, 4))
    targets = rng.integers(0, 4, (5, 3))
    lengths = np.array([5, 2, 3])
    weight = np.array([1.0, 2.0, 0.5, 1.5])
    expected = F.sequence_cross_entropy(logits, targets, lengths, weight=weight,
                                        ignore_index=-100, label_smoothing=0.1).data
    if batch_first:
        logits, targets = logits.transpose(1, 0, 2), targets.T
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1, batch_first=batch_first)
    np.testing.assert_allclose(criterion(logits, targets, lengths=lengths).data, expected,
                               rtol=1e-14)
    # Without lengths every step counts: the plain loss over all rows.
    np.testing.assert_allclose(criterion(logits, targets).data,
                               F.cross_entropy(logits, targets, weight=weight,
                                               label_smoothing=0.1).data, rtol=1e-14)


def test_every_module_masks_padded_steps():
    rng = np.random.default_rng(4)
    pred, target = rng.standard_normal((2, 4, 3, 2))
    lengths = np.array([4, 1, 2])
    mask = np.arange(4)[:, None] < lengths[None, :]
    pad = ~mask
    for criterion in (nn.MSELoss(), nn.L1Loss(), nn.BCEWithLogitsLoss(pos_weight=[2.0, 1.0])):
        clean = criterion(pred, target, lengths=lengths).item()
        junk = pred.copy()
        junk[pad] = np.nan
        assert criterion(junk, target, lengths=lengths).item() == clean
        assert criterion(junk, target, mask=mask).item() == clean
    log_probs = np.log(rng.dirichlet(np.ones(3), size=(4, 3)))
    classes = rng.integers(0, 3, (4, 3))
    junk = np.where(pad[..., None], np.nan, log_probs)
    np.testing.assert_array_equal(nn.NLLLoss()(junk, classes, lengths=lengths).data,
                                  nn.NLLLoss()(log_probs, classes, lengths=lengths).data)


def test_repr_shows_only_options_that_differ_from_the_defaults():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
    assert (repr(nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1, batch_first=True))
            == "CrossEntropyLoss(ignore_index=0, label_smoothing=0.1, batch_first=True)")
    assert repr(nn.BCEWithLogitsLoss(pos_weight=[2.0])) == (
        "BCEWithLogitsLoss(pos_weight=array([2.]))")


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.MSELoss(reduction="avg"), ArgumentError,
     r"MSELoss: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"),
    (lambda: nn.L1Loss(batch_first=1), ArgumentTypeError,
     "L1Loss: batch_first must be a bool, got int"),
    (lambda: nn.CrossEntropyLoss(weight=np.ones((2, 2))), ArgumentError,
     r"CrossEntropyLoss: weight must be 1-D, one per class, got shape \(2, 2\)"),
    (lambda: nn.NLLLoss(weight=[1.0, np.inf]), ArgumentError,
     r"NLLLoss: weight must be finite, got \[1.0, inf\]"),
    (lambda: nn.NLLLoss(ignore_index=None), ArgumentTypeError,
     "NLLLoss: ignore_index must be an int, got NoneType"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=-0.1), ArgumentError,
     r"CrossEntropyLoss: label_smoothing must be in \[0, 1\], got -0.1"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=["a"]), DTypeError,
     "BCEWithLogitsLoss: pos_weight must hold real numbers, got dtype <U1"),
])
def test_bad_options_are_refused_at_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_class_count_mismatch_is_refused_when_called():
    with pytest.raises(numrnn.ShapeError, match=r"cross_entropy: weight must have shape \(3,\)"):
        nn.CrossEntropyLoss(weight=[1.0, 2.0])(np.zeros((2, 3)), [0, 1])
