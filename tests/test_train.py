"""fit: the loss falls, early stopping stops and restores, checkpoints load, history, quiet mode."""

import math

import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.optim import SGD, Adam
from numrnn.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from numrnn.training import NonFiniteLossError, fit


def regression_data(seed=0, rows=64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3
    return [(x[start:start + 16], y[start:start + 16]) for start in range(0, rows, 16)]


def mse_step(model, batch):
    inputs, targets = batch
    return F.mse_loss(model(inputs), targets)


def validation_mse(batches):
    def validate(model):
        return float(np.mean([mse_step(model, batch).item() for batch in batches]))
    return validate


def test_loss_decreases_on_a_tiny_task():
    batches = regression_data()
    model = nn.Linear(3, 1, rng=0)
    history = fit(model, batches, mse_step, Adam(model.parameters(), lr=0.05), epochs=30,
                  progress=False)
    assert history.train_loss[-1] < 0.05 * history.train_loss[0]
    assert history.steps == [4] * 30


def test_history_records_every_epoch():
    batches = regression_data()
    model = nn.Linear(3, 1, rng=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    history = fit(model, batches, mse_step, optimizer, epochs=4,
                  scheduler=StepLR(optimizer, step_size=2, gamma=0.5),
                  validate=validation_mse(batches), progress=False)
    assert history.epoch == [1, 2, 3, 4]
    assert history.lr == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert len(history.train_loss) == len(history.val_metric) == len(history.time) == 4
    assert all(t > 0 for t in history.time)
    assert history.best_metric == min(history.val_metric)
    assert history.val_metric[history.best_epoch - 1] == history.best_metric
    assert not history.stopped_early and len(history) == 4


def test_early_stopping_stops_and_restores_the_best_weights():
    batches = regression_data()
    model = nn.Linear(3, 1, rng=0)
    # A metric that improves for two epochs, then only worsens: best is epoch 2.
    metrics = iter([5.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    snapshots = []

    def validate(model):
        snapshots.append(model.state_dict())
        return next(metrics)

    history = fit(model, batches, mse_step, SGD(model.parameters(), lr=0.01), epochs=8,
                  validate=validate, patience=2, restore_best=True, progress=False)
    assert history.stopped_early
    assert history.epoch == [1, 2, 3, 4]
    assert history.best_epoch == 2 and history.best_metric == 3.0
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[1][name])
        assert not np.array_equal(value, snapshots[-1][name])


def test_without_restore_best_the_last_weights_stay():
    batches = regression_data()
    model = nn.Linear(3, 1, rng=0)
    metrics = iter([1.0, 2.0, 3.0])
    last = {}

    def validate(model):
        last.update(model.state_dict())
        return next(metrics)

    fit(model, batches, mse_step, SGD(model.parameters(), lr=0.01), epochs=3, validate=validate,
        patience=5, progress=False)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, last[name])


def test_checkpoint_holds_the_best_model_and_loads(tmp_path):
    batches = regression_data()
    model = nn.Linear(3, 1, rng=0)
    path = tmp_path / "best.safetensors"
    metrics = iter([2.0, 1.0, 3.0])
    weights = []

    def validate(model):
        weights.append(model.state_dict())
        return next(metrics)

    fit(model, batches, mse_step, SGD(model.parameters(), lr=0.05), epochs=3, validate=validate,
        checkpoint=path, progress=False)
    reloaded = numrnn.load_model(path)
    assert isinstance(reloaded, nn.Linear)
    for name, value in reloaded.state_dict().items():
        np.testing.assert_array_equal(value, weights[1][name])
    assert list(tmp_path.iterdir()) == [path], "the atomic write left a temporary file"


def test_checkpoint_without_validation_is_the_last_model(tmp_path):
    model = nn.Linear(3, 1, rng=0)
    path = tmp_path / "last.safetensors"
    fit(model, regression_data(), mse_step, SGD(model.parameters(), lr=0.05), epochs=2,
        checkpoint=path, progress=False)
    for name, value in numrnn.load(path).items():
        np.testing.assert_array_equal(value, model.state_dict()[name])


def test_reduce_lr_on_plateau_gets_the_metric():
    batches = regression_data()
    model = nn.Linear(3, 1, rng=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    history = fit(model, batches, mse_step, optimizer, epochs=4,
                  scheduler=ReduceLROnPlateau(optimizer, factor=0.5, patience=0),
                  validate=lambda model: 1.0, progress=False)
    assert history.lr == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_callable_batches_get_the_epoch_and_clipping_bounds_the_update():
    seen = []
    model = nn.Linear(3, 1, rng=0)
    before = model.weight.data.copy()

    def batches(epoch):
        seen.append(epoch)
        x = np.full((4, 3), 100.0, dtype=np.float32)
        return [(x, np.zeros((4, 1), dtype=np.float32))]

    fit(model, batches, mse_step, SGD(model.parameters(), lr=1.0), epochs=2,
        clip_grad_norm=0.01, progress=False)
    assert seen == [0, 1]
    # Two SGD steps of gradients clipped to norm 0.01 (weight and bias together).
    assert np.linalg.norm(model.weight.data - before) <= 0.02 + 1e-6


def test_progress_false_prints_nothing_and_true_shows_a_bar(capsys):
    model = nn.Linear(3, 1, rng=0)
    fit(model, regression_data(), mse_step, SGD(model.parameters(), lr=0.01), epochs=2,
        validate=validation_mse(regression_data()), progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    fit(model, regression_data(), mse_step, SGD(model.parameters(), lr=0.01), epochs=1,
        progress=True, desc="train")
    captured = capsys.readouterr()
    assert "train 1/1" in captured.err and "loss=" in captured.err


def test_non_finite_loss_is_refused_before_the_update():
    model = nn.Linear(3, 1, rng=0)
    before = model.weight.data.copy()
    x = np.full((2, 3), np.nan, dtype=np.float32)
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 1"):
        fit(model, [(x, np.zeros((2, 1), dtype=np.float32))], mse_step,
            SGD(model.parameters(), lr=0.1), progress=False)
    np.testing.assert_array_equal(model.weight.data, before)


def test_bad_arguments_are_refused():
    model = nn.Linear(3, 1, rng=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="patience needs a validation metric"):
        fit(model, [], mse_step, optimizer, patience=2)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit(model, [], mse_step, optimizer, epochs=0)
    with pytest.raises(ValueError, match="one-element loss Tensor"):
        fit(model, regression_data(), lambda model, batch: 1.0, optimizer, progress=False)


def test_an_epoch_without_batches_has_nan_loss():
    model = nn.Linear(3, 1, rng=0)
    history = fit(model, [], mse_step, SGD(model.parameters(), lr=0.1), progress=False)
    assert math.isnan(history.train_loss[0]) and history.steps == [0]
