"""fit and a finite loss whose float32 gradient is not: skipped (default) or refused, never applied.

The bad step is real, not a planted gradient: an IRNN (ReLU, identity recurrence)
driven by huge inputs over 2000 steps has a finite float32 loss, but the
gradient of ``weight_hh``, which grows like the steps cubed where the loss grows
like their square, overflows to inf in backward.
"""

import math

import numpy as np
import pytest

from numrnn import NumrnnError, nn
from numrnn import functional as F
from numrnn.optim import Adam
from numrnn.optim import clip as clip_module
from numrnn.training import NonFiniteGradError, NonFiniteGradWarning, NonFiniteLossError, fit


def irnn():
    return nn.RNN(1, 2, nonlinearity="relu", recurrent_init="identity", rng=0)


def good_batch(seed):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, (5, 2, 1)).astype(np.float32),
            rng.uniform(0, 1, (2, 2)).astype(np.float32))


# The loss is about 8e36 (float32 reaches 3.4e38); weight_hh's gradient about 1e40.
BAD = (np.full((2000, 2, 1), 1e16, dtype=np.float32), np.zeros((2, 2), dtype=np.float32))


# Small enough that the good steps keep the recurrence near the identity: 2000 steps
# of it amplify any change (Adam moves every weight by about lr per step).
LR = 1e-4


def last_state_mse(model, batch):
    x, target = batch
    _, h_n = model(x)
    return F.mse_loss(h_n[-1], target)


def weights(model):
    return {name: param.data.copy() for name, param in model.named_parameters()}


def assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype == np.float32
        np.testing.assert_array_equal(a[name].view(np.uint32), b[name].view(np.uint32),
                                      err_msg=name)


def train(batches, clip_grad_norm=None, epochs=1, **options):
    model = irnn()
    # numpy's own "overflow encountered" warning from backward's products is not under test.
    with np.errstate(over="ignore"):
        history = fit(model, batches, last_state_mse, Adam(model.parameters(), lr=LR),
                      epochs=epochs, clip_grad_norm=clip_grad_norm, progress=False, **options)
    return model, history


def test_the_bad_batch_has_a_finite_loss_and_an_overflowing_gradient():
    model = irnn()
    loss = last_state_mse(model, BAD)
    with np.errstate(over="ignore"):
        loss.backward()
    assert loss.dtype == np.float32 and math.isfinite(loss.item())
    assert np.isinf(model.weight_hh_l0.grad).any()


@pytest.mark.parametrize("clip_grad_norm", [None, 1.0])
def test_a_skipped_step_changes_nothing_and_later_steps_proceed_normally(clip_grad_norm):
    first, second = good_batch(1), good_batch(2)
    with pytest.warns(NonFiniteGradWarning) as caught:
        skipping, history = train([first, BAD, second], clip_grad_norm)
    plain, plain_history = train([first, second], clip_grad_norm)
    # Weights and Adam's moments as if the bad batch had never been there.
    assert_bit_identical(weights(skipping), weights(plain))
    assert history.skipped_steps == [1] and history.steps == [2]
    assert plain_history.skipped_steps == [0] and plain_history.steps == [2]
    assert len(caught) == 1
    assert "epoch 1: skipped 1 of 3 steps because their gradient norm was NaN or infinite" \
        in str(caught[0].message)


def test_a_skipped_step_leaves_the_weights_bit_identical():
    untouched = weights(irnn())
    with pytest.warns(NonFiniteGradWarning):
        model, history = train([BAD])
    assert_bit_identical(weights(model), untouched)
    assert all(param.grad is None for param in model.parameters())  # dropped, not kept
    assert history.steps == [0] and history.skipped_steps == [1]
    assert math.isfinite(history.train_loss[0])


def test_one_warning_per_epoch_with_the_count():
    batches = [good_batch(1), BAD, BAD, good_batch(2)]
    with pytest.warns(NonFiniteGradWarning) as caught:
        _, history = train(batches, epochs=3)
    assert history.skipped_steps == [2, 2, 2] and history.steps == [2, 2, 2]
    assert [str(warning.message).split(";")[0] for warning in caught] == [
        f"fit: epoch {epoch}: skipped 2 of 4 steps because their gradient norm was NaN or "
        "infinite (their loss was finite)" for epoch in (1, 2, 3)]
    assert issubclass(NonFiniteGradWarning, RuntimeWarning)


@pytest.mark.parametrize("clip_grad_norm", [None, 1.0])
def test_raise_refuses_the_update_and_names_the_parameters(clip_grad_norm):
    first = good_batch(1)
    after_first, _ = train([first], clip_grad_norm)
    model = irnn()
    with np.errstate(over="ignore"), pytest.raises(
            NonFiniteGradError, match=r"epoch 1, step 2 has a 2-norm of inf .* non-finite in "
                                      r"weight_hh_l0.*the update was not applied"):
        fit(model, [first, BAD], last_state_mse, Adam(model.parameters(), lr=LR),
            clip_grad_norm=clip_grad_norm, nonfinite_grad="raise", progress=False)
    assert_bit_identical(weights(model), weights(after_first))
    assert issubclass(NonFiniteGradError, NumrnnError)
    assert issubclass(NonFiniteGradError, FloatingPointError)


@pytest.mark.parametrize("clip_grad_norm", [None, 1.0])
def test_the_norm_is_computed_once_per_step(clip_grad_norm, monkeypatch):
    computed = []
    original = clip_module._total_norm
    monkeypatch.setattr(clip_module, "_total_norm",
                        lambda *args: computed.append(1) or original(*args))
    with pytest.warns(NonFiniteGradWarning):
        train([good_batch(1), BAD, good_batch(2)], clip_grad_norm, epochs=2)
    assert len(computed) == 6


def test_a_non_finite_loss_is_still_refused_and_bad_choices_too():
    model = irnn()
    nan_batch = (np.ones((3, 2, 1), dtype=np.float32), np.full((2, 2), np.nan, np.float32))
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 1"):
        fit(model, [nan_batch], last_state_mse, Adam(model.parameters()), progress=False)
    with pytest.raises(ValueError, match=r"nonfinite_grad must be one of \('skip', 'raise'\), "
                                         r"got 'ignore'"):
        fit(model, [], last_state_mse, Adam(model.parameters()), nonfinite_grad="ignore")
