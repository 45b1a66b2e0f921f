"""MultiStepLR, LambdaLR, LinearLR, OneCycleLR and SequentialLR: formulas, resume, errors, torch."""

import math

import numpy as np
import pytest

import numrnn
from numrnn.errors import ArgumentError, ArgumentTypeError, ShapeError
from numrnn.optim import SGD, Adagrad, Adam, lr_scheduler
from numrnn.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)


def make_optimizer(lrs=(0.1,), cls=SGD, **options):
    groups = [{"params": [numrnn.tensor(np.zeros(2), requires_grad=True)], "lr": lr}
              for lr in lrs]
    return cls(groups, lr=lrs[0], **options)


def lrs_over(scheduler, epochs):
    """The rates in force during epochs 0 .. epochs-1."""
    history = [scheduler.get_last_lr()]
    for _ in range(epochs - 1):
        scheduler.step()
        history.append(scheduler.get_last_lr())
    return history


def test_multistep_drops_at_each_milestone_and_twice_at_a_repeated_one():
    history = lrs_over(MultiStepLR(make_optimizer((1.0, 0.5)), milestones=[6, 2, 6], gamma=0.5),
                       9)
    expected = [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.125, 0.125, 0.125]
    assert [lrs[0] for lrs in history] == expected
    assert [lrs[1] for lrs in history] == [lr / 2 for lr in expected]


def test_lambda_scales_each_groups_initial_rate():
    optimizer = make_optimizer((0.2, 0.1))
    scheduler = LambdaLR(optimizer, [lambda e: 1.0 / (e + 1), lambda e: e])
    history = lrs_over(scheduler, 5)
    np.testing.assert_allclose(history, [[0.2 / (e + 1), 0.1 * e] for e in range(5)], rtol=1e-15)
    assert "lr_lambdas" not in scheduler.state_dict()


def test_linear_warmup_reaches_the_end_factor_then_stays():
    history = lrs_over(LinearLR(make_optimizer((0.5,)), start_factor=0.2, end_factor=1.0,
                                total_iters=4), 8)
    expected = [0.5 * (0.2 + 0.8 * min(e, 4) / 4) for e in range(8)]
    np.testing.assert_allclose([lrs[0] for lrs in history], expected, rtol=1e-14)


def test_one_cycle_rises_to_max_lr_then_falls_to_its_floor_and_cycles_momentum():
    optimizer = make_optimizer((0.1,), momentum=0.9)
    scheduler = OneCycleLR(optimizer, max_lr=2.0, total_steps=10, pct_start=0.5,
                           div_factor=10.0, final_div_factor=100.0)
    history = [lrs[0] for lrs in lrs_over(scheduler, 10)]
    peak = int(np.argmax(history))
    assert history[0] == pytest.approx(0.2)
    assert peak == 4 and history[peak] == pytest.approx(2.0)  # phase one ends at step 0.5 * 10 - 1
    assert history[-1] == pytest.approx(0.2 / 100)
    assert all(a < b for a, b in zip(history[:peak], history[1:peak + 1]))
    assert all(a > b for a, b in zip(history[peak:], history[peak + 1:]))
    # Momentum runs the other way: lowest where the rate peaks, back at its maximum at the end.
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.95)


def test_one_cycle_sets_beta1_of_adam_and_refuses_a_step_too_many():
    optimizer = make_optimizer((0.1,), cls=Adam, betas=(0.9, 0.99))
    scheduler = OneCycleLR(optimizer, max_lr=1.0, epochs=2, steps_per_epoch=2)
    assert optimizer.param_groups[0]["betas"] == (0.95, 0.99)
    for _ in range(4):
        scheduler.step()
    before = scheduler.get_last_lr()
    with pytest.raises(ArgumentError, match="OneCycleLR: stepped 5 times, but total_steps is 4"):
        scheduler.step()
    assert scheduler.get_last_lr() == before and scheduler.last_epoch == 4


def test_sequential_warmup_then_cosine_restarts_the_second_at_its_epoch_zero():
    optimizer = make_optimizer((1.0,))
    warmup = LinearLR(optimizer, start_factor=0.25, total_iters=3)
    cosine = CosineAnnealingLR(optimizer, T_max=4)
    history = [lrs[0] for lrs in lrs_over(SequentialLR(optimizer, [warmup, cosine], [3]), 8)]
    expected = [0.25, 0.5, 0.75] + [(1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    np.testing.assert_allclose(history, expected, rtol=1e-14, atol=1e-15)


def test_sequential_state_dict_round_trip_resumes_identically():
    def make(optimizer):
        return SequentialLR(optimizer, [LinearLR(optimizer, total_iters=3),
                                        MultiStepLR(optimizer, [2, 4], gamma=0.5)], [3])

    optimizer = make_optimizer((0.1, 0.05))
    scheduler = make(optimizer)
    lrs_over(scheduler, 4)
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    assert [type(s) for s in saved_scheduler["_schedulers"]] == [dict, dict]
    expected = lrs_over(scheduler, 7)

    fresh_optimizer = make_optimizer((0.7, 0.7))
    fresh = make(fresh_optimizer)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh.load_state_dict(saved_scheduler)
    assert lrs_over(fresh, 7) == expected


@pytest.mark.parametrize("make", [
    lambda opt: MultiStepLR(opt, [2, 3]),
    lambda opt: LambdaLR(opt, lambda e: 0.9 ** e),
    lambda opt: LinearLR(opt, total_iters=6),
    lambda opt: OneCycleLR(opt, max_lr=1.0, total_steps=12),
], ids=["multistep", "lambda", "linear", "one-cycle"])
def test_state_dict_round_trip_resumes_identically(make):
    optimizer = make_optimizer((0.1, 0.05), momentum=0.9)
    scheduler = make(optimizer)
    lrs_over(scheduler, 4)
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    expected = lrs_over(scheduler, 7)

    fresh_optimizer = make_optimizer((0.7, 0.7), momentum=0.9)
    fresh = make(fresh_optimizer)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh.load_state_dict(saved_scheduler)
    assert lrs_over(fresh, 7) == expected


@pytest.mark.parametrize("make, error, message", [
    (lambda opt: MultiStepLR(opt, [0, 3]), ArgumentError,
     r"MultiStepLR: milestones must be a list of positive integers \(epochs\), got \[0, 3\]"),
    (lambda opt: MultiStepLR(opt, "12"), ArgumentError,
     "milestones must be a list of positive integers .*got '12'"),
    (lambda opt: MultiStepLR(opt, 5), ArgumentError,
     "milestones must be a list of positive integers .*got 5"),
    (lambda opt: LambdaLR(opt, 0.5), ArgumentTypeError,
     r"LambdaLR: lr_lambda must be callable \(epoch -> factor\), got float"),
    (lambda opt: LambdaLR(opt, [abs, abs, abs]), ArgumentError,
     "LambdaLR: lr_lambda has 3 functions, the optimizer has 2 parameter groups"),
    (lambda opt: LambdaLR(opt, lambda e: "1"), ArgumentTypeError,
     r"LambdaLR: lr_lambda\(0\) must return a real number, got str"),
    (lambda opt: LinearLR(opt, start_factor=0.0), ArgumentError,
     r"LinearLR: start_factor must be in \(0, 1\], got 0.0"),
    (lambda opt: LinearLR(opt, end_factor=1.5), ArgumentError,
     r"LinearLR: end_factor must be in \[0, 1\], got 1.5"),
    (lambda opt: LinearLR(opt, total_iters=0), ArgumentError,
     "LinearLR: total_iters must be a positive integer, got 0"),
    (lambda opt: OneCycleLR(opt, max_lr=1.0), ArgumentError,
     "OneCycleLR: give total_steps, or both epochs and steps_per_epoch"),
    (lambda opt: OneCycleLR(opt, max_lr=1.0, total_steps=2.5), ArgumentError,
     "OneCycleLR: total_steps must be a positive integer, got 2.5"),
    (lambda opt: OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=0), ArgumentError,
     "OneCycleLR: steps_per_epoch must be a positive integer, got 0"),
    (lambda opt: OneCycleLR(opt, max_lr=[1.0], total_steps=10), ArgumentError,
     "OneCycleLR: max_lr has 1 entries, the optimizer has 2 parameter groups"),
    (lambda opt: OneCycleLR(opt, max_lr="1", total_steps=10), ArgumentTypeError,
     "OneCycleLR: max_lr must be a number or a list of numbers, got str"),
    (lambda opt: OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=1.5), ArgumentError,
     r"OneCycleLR: pct_start must be a number in \[0, 1\], got 1.5"),
    (lambda opt: OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.1), ArgumentError,
     "OneCycleLR: pct_start=0.1 with total_steps=10 gives a phase of zero steps"),
    (lambda opt: OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="exp"),
     ArgumentError, "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda opt: OneCycleLR(opt, max_lr=1.0, total_steps=10, div_factor=0), ArgumentError,
     "OneCycleLR: div_factor must be > 0, got 0"),
    (lambda opt: SequentialLR(opt, [StepLR(opt, 2)], 0), ArgumentTypeError,
     "SequentialLR: milestones must be a list, got int"),
    (lambda opt: SequentialLR(opt, [], []), ArgumentError,
     "SequentialLR: needs at least one scheduler, got none"),
    (lambda opt: SequentialLR(opt, [ReduceLROnPlateau(opt)], []), ArgumentTypeError,
     "SequentialLR: scheduler 0 must be an LRScheduler other than ReduceLROnPlateau and "
     "SequentialLR, got ReduceLROnPlateau"),
    (lambda opt: SequentialLR(opt, [StepLR(opt, 2), SequentialLR(opt, [StepLR(opt, 3)], [])],
                              [2]), ArgumentTypeError,
     "SequentialLR: scheduler 1 must be an LRScheduler other than .*got SequentialLR"),
    (lambda opt: SequentialLR(opt, [StepLR(make_optimizer((0.1, 0.1)), 2)], []), ArgumentError,
     r"SequentialLR: scheduler 0 \(StepLR\) drives a different optimizer"),
    (lambda opt: SequentialLR(opt, [StepLR(opt, 2), StepLR(opt, 3)], []), ArgumentError,
     "SequentialLR: needs 1 milestones for 2 schedulers, got 0"),
    (lambda opt: SequentialLR(opt, [StepLR(opt, 2)] * 3, [4, 2]), ArgumentError,
     r"SequentialLR: milestones must be increasing positive integers, got \[4, 2\]"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make(make_optimizer((0.1, 0.05)))


def test_one_cycle_needs_momentum_or_betas_to_cycle():
    with pytest.raises(ArgumentError, match="OneCycleLR: cycle_momentum needs an optimizer with "
                                            "momentum or betas, got Adagrad"):
        OneCycleLR(make_optimizer(cls=Adagrad), max_lr=1.0, total_steps=5)
    OneCycleLR(make_optimizer(cls=Adagrad), max_lr=1.0, total_steps=5, cycle_momentum=False)


def test_sequential_refuses_a_state_dict_with_another_number_of_schedulers():
    optimizer = make_optimizer()
    one = SequentialLR(optimizer, [StepLR(optimizer, 2)], [])
    two = SequentialLR(optimizer, [StepLR(optimizer, 2), StepLR(optimizer, 3)], [2])
    with pytest.raises(ShapeError, match="holds 2 schedulers, this SequentialLR has 1"):
        one.load_state_dict(two.state_dict())


# -- parity with torch.optim.lr_scheduler over 20 steps ----------------------------
TORCH_CASES = {
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.5),
    "LambdaLR": lambda m, o: m.LambdaLR(o, [lambda e: 0.95**e, lambda e: 1.0 + 0.1 * (e % 3)]),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=6),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=20),
    "OneCycleLR-three-phase-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, total_steps=20, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, base_momentum=0.8, max_momentum=0.9),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=4), m.CosineAnnealingLR(o, T_max=6),
            m.MultiStepLR(o, [2, 5], gamma=0.3), m.ExponentialLR(o, 0.9)],
        milestones=[4, 9, 15]),
}


@pytest.mark.parity
@pytest.mark.parametrize("optimizer_name", ["SGD", "Adam"])
@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch_over_20_steps(name, optimizer_name):
    torch = pytest.importorskip("torch")
    make = TORCH_CASES[name]
    options = {"momentum": 0.9} if optimizer_name == "SGD" else {}
    torch_groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr}
                    for lr in (0.1, 0.05)]
    torch_optimizer = getattr(torch.optim, optimizer_name)(torch_groups, lr=0.1, **options)
    theirs = make(torch.optim.lr_scheduler, torch_optimizer)
    ours_optimizer = make_optimizer((0.1, 0.05), cls={"SGD": SGD, "Adam": Adam}[optimizer_name],
                                    **options)
    ours = make(lr_scheduler, ours_optimizer)
    momentum_key = "momentum" if optimizer_name == "SGD" else "betas"
    for _ in range(20):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
        for group, torch_group in zip(ours_optimizer.param_groups, torch_optimizer.param_groups):
            np.testing.assert_allclose(group[momentum_key], torch_group[momentum_key],
                                       rtol=1e-12)
        torch_optimizer.step()
        theirs.step()
        ours.step()
