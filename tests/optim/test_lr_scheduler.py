"""Learning-rate schedules: values by formula, plateau logic by hand, resume, torch parity."""

import math

import numpy as np
import pytest

import numrnn
from numrnn.errors import ArgumentError, ArgumentTypeError
from numrnn.optim import SGD
from numrnn.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    ReduceLROnPlateau,
    StepLR,
)


def make_optimizer(lrs=(0.1,)):
    groups = [{"params": [numrnn.tensor(np.zeros(2), requires_grad=True)], "lr": lr}
              for lr in lrs]
    return SGD(groups, lr=lrs[0])


def lrs_over(scheduler, epochs):
    """The rates in force during epochs 0 .. epochs-1."""
    history = [scheduler.get_last_lr()]
    for _ in range(epochs - 1):
        scheduler.step()
        history.append(scheduler.get_last_lr())
    return history


def test_step_lr_follows_its_formula_for_each_group():
    scheduler = StepLR(make_optimizer((0.1, 0.02)), step_size=3, gamma=0.5)
    history = lrs_over(scheduler, 10)
    for epoch, lrs in enumerate(history):
        np.testing.assert_allclose(lrs, [0.1 * 0.5 ** (epoch // 3), 0.02 * 0.5 ** (epoch // 3)],
                                   rtol=1e-15)
    assert scheduler.optimizer.param_groups[1]["lr"] == history[-1][1]


def test_exponential_lr_follows_its_formula():
    history = lrs_over(ExponentialLR(make_optimizer(), gamma=0.9), 8)
    np.testing.assert_allclose([lrs[0] for lrs in history], [0.1 * 0.9**e for e in range(8)],
                               rtol=1e-14)


def test_cosine_annealing_hits_start_middle_end_and_rises_after():
    optimizer = make_optimizer((0.1, 1.0))
    history = lrs_over(CosineAnnealingLR(optimizer, T_max=10, eta_min=0.001), 16)
    assert history[0] == [0.1, 1.0]
    np.testing.assert_allclose(history[5], [0.0505, 0.5005], rtol=1e-14)
    np.testing.assert_allclose(history[10], [0.001, 0.001], rtol=1e-14)
    decreasing = [lrs[0] for lrs in history[:11]]
    assert all(a > b for a, b in zip(decreasing, decreasing[1:]))
    assert history[15][0] > history[11][0]
    np.testing.assert_allclose(history[3][0],
                               0.001 + 0.099 * (1 + math.cos(math.pi * 3 / 10)) / 2, rtol=1e-14)


def test_scheduler_records_initial_lr():
    optimizer = make_optimizer((0.3,))
    scheduler = ExponentialLR(optimizer, gamma=0.5)
    scheduler.step()
    assert optimizer.param_groups[0]["initial_lr"] == 0.3
    assert scheduler.base_lrs == [0.3]


def test_plateau_min_mode_patience_cooldown_and_floor():
    optimizer = make_optimizer((1.0,))
    scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    metrics = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    # Epoch by epoch: best 4.0 at epoch 1; bad epochs 2, 3, 4 -> third bad epoch exceeds
    # patience, lr 0.5 and cooldown 1; epoch 5 is in cooldown; bad epochs 6, 7 then the
    # improvement at 8 resets; bad 9, 10, 11 -> 0.25; cooldown 12; bad 13, 14, 15 -> floor 0.2.
    expected = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25,
                0.2]
    seen = []
    for metric in metrics:
        scheduler.step(metric)
        seen.append(scheduler.get_last_lr()[0])
    assert seen == expected
    assert optimizer.param_groups[0]["lr"] == 0.2


def test_plateau_max_mode_and_thresholds():
    rel = ReduceLROnPlateau(make_optimizer((1.0,)), mode="max", factor=0.1, patience=0,
                            threshold=0.1)
    rel.step(1.0)
    rel.step(1.05)  # not 10% better than 1.0: a bad epoch, patience 0 reduces at once
    assert rel.get_last_lr() == [pytest.approx(0.1)]
    rel.step(1.2)
    assert rel.get_last_lr() == [pytest.approx(0.1)]
    absolute = ReduceLROnPlateau(make_optimizer((1.0,)), mode="min", patience=0,
                                 threshold=0.5, threshold_mode="abs")
    absolute.step(10.0)
    absolute.step(9.6)
    assert absolute.get_last_lr() == [pytest.approx(0.1)]
    absolute.step(9.0)
    assert absolute.get_last_lr() == [pytest.approx(0.1)]


def test_plateau_refuses_bad_options():
    with pytest.raises(ArgumentError, match="factor must be < 1"):
        ReduceLROnPlateau(make_optimizer(), factor=1.0)
    with pytest.raises(ArgumentError, match="mode must be"):
        ReduceLROnPlateau(make_optimizer(), mode="up")
    with pytest.raises(ArgumentError, match="min_lr has 1 entries"):
        ReduceLROnPlateau(make_optimizer((0.1, 0.2)), min_lr=[0.0])
    with pytest.raises(ArgumentTypeError, match="expected an Optimizer"):
        StepLR(object(), step_size=1)
    with pytest.raises(ArgumentError, match="step_size"):
        StepLR(make_optimizer(), step_size=0)


@pytest.mark.parametrize("make", [
    lambda opt: StepLR(opt, step_size=2, gamma=0.3),
    lambda opt: ExponentialLR(opt, gamma=0.8),
    lambda opt: CosineAnnealingLR(opt, T_max=7, eta_min=0.01),
    lambda opt: ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5),
], ids=["step", "exponential", "cosine", "plateau"])
def test_state_dict_round_trip_resumes_identically(make):
    metrics = [3.0, 2.0, 2.5, 2.5, 2.5, 1.0, 1.5, 1.5, 1.5, 1.5]

    def advance(scheduler, epochs):
        out = []
        for epoch in epochs:
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(metrics[epoch])
            else:
                scheduler.step()
            out.append(scheduler.get_last_lr())
        return out

    optimizer = make_optimizer((0.1, 0.05))
    scheduler = make(optimizer)
    advance(scheduler, range(4))
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    expected = advance(scheduler, range(4, 10))

    fresh_optimizer = make_optimizer((0.7, 0.7))
    fresh = make(fresh_optimizer)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh.load_state_dict(saved_scheduler)
    assert advance(fresh, range(4, 10)) == expected


# -- parity with torch.optim.lr_scheduler ----------------------------------------
@pytest.mark.parity
@pytest.mark.parametrize("name, kwargs", [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 6, "eta_min": 0.001}),
    ("ReduceLROnPlateau", {"mode": "max", "patience": 1, "cooldown": 2, "factor": 0.3,
                           "min_lr": 0.004}),
])
def test_matches_torch_schedulers(name, kwargs):
    torch = pytest.importorskip("torch")
    from numrnn.optim import lr_scheduler

    weights = torch.zeros(2, requires_grad=True)
    torch_optimizer = torch.optim.SGD([weights], lr=0.1)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_optimizer, **kwargs)
    ours = getattr(lr_scheduler, name)(make_optimizer((0.1,)), **kwargs)
    metrics = np.random.default_rng(0).random(20)
    for metric in metrics:
        torch_optimizer.step()
        if name == "ReduceLROnPlateau":
            theirs.step(float(metric))
            ours.step(float(metric))
        else:
            theirs.step()
            ours.step()
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
