"""fit checkpoints resume bit-identically, and a checkpoint that does not fit is refused whole."""

import json

import numpy as np
import pytest
import safetensors.numpy

import numrnn
import numrnn.defaults
from numrnn import FormatError, nn
from numrnn import functional as F
from numrnn.optim import SGD, Adam
from numrnn.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from numrnn.training import fit, load_checkpoint


class ShuffledBatches:
    """Batches in a new order every epoch, drawn from a generator outside the model."""

    def __init__(self, rng, rows=48, batch=12):
        data = np.random.default_rng(0)
        self.x = data.standard_normal((rows, 3)).astype(np.float32)
        self.y = (self.x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
        self.rng, self.batch = rng, batch

    def __len__(self):
        return len(self.x) // self.batch

    def __iter__(self):
        order = self.rng.permutation(len(self.x))
        for start in range(0, len(order), self.batch):
            rows = order[start:start + self.batch]
            yield self.x[rows], self.y[rows]


def mse_step(model, batch):
    inputs, targets = batch
    return F.mse_loss(model(inputs), targets)


def new_run(plateau=False):
    """Model with dropout (its own rng), Adam, a schedule, and a shuffling generator."""
    model = nn.Sequential(nn.Linear(3, 16, rng=0), nn.Dropout(0.3, rng=1), nn.Linear(16, 1, rng=2))
    optimizer = Adam(model.parameters(), lr=0.02)
    scheduler = (ReduceLROnPlateau(optimizer, factor=0.5, patience=0) if plateau
                 else StepLR(optimizer, step_size=1, gamma=0.8))
    shuffler = np.random.default_rng(3)
    return model, optimizer, scheduler, shuffler, ShuffledBatches(shuffler)


def assert_bit_identical(model, reference):
    for (name, value), (_, expected) in zip(model.state_dict().items(),
                                            reference.state_dict().items()):
        assert value.dtype == expected.dtype and value.tobytes() == expected.tobytes(), name


def test_interrupted_and_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path):
    model, optimizer, scheduler, shuffler, batches = new_run()
    fit(model, batches, mse_step, optimizer, epochs=6, scheduler=scheduler,
        generators=shuffler, progress=False)

    path = tmp_path / "run.safetensors"
    first, opt1, sched1, shuffler1, batches1 = new_run()
    fit(first, batches1, mse_step, opt1, epochs=3, scheduler=sched1, generators=shuffler1,
        checkpoint=path, progress=False)

    # Fresh objects, as in a new process: the same construction, then resume.
    resumed, opt2, sched2, shuffler2, batches2 = new_run()
    history = fit(resumed, batches2, mse_step, opt2, epochs=6, scheduler=sched2,
                  generators=shuffler2, resume=path, progress=False)

    assert history.epoch == [4, 5, 6]
    assert_bit_identical(resumed, model)
    assert opt2.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(opt2.state_dict()["state"][index][key], value)
    assert shuffler2.random() == shuffler.random()


class DropoutFromTheDefaultGenerator(nn.Module):
    """Dropout drawn from ``numrnn.default_generator()``: no ``rng`` anywhere in forward."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 16, rng=0)
        self.out = nn.Linear(16, 1, rng=2)

    def forward(self, inputs):
        return self.out(F.dropout(self.hidden(inputs), 0.3, training=self.training))


def default_generator_run():
    numrnn.manual_seed(0)
    model = DropoutFromTheDefaultGenerator()
    optimizer = Adam(model.parameters(), lr=0.02)
    return model, optimizer, ShuffledBatches(np.random.default_rng(3))


def test_resume_restores_the_default_generator_that_rng_none_draws_from(tmp_path, monkeypatch):
    monkeypatch.setattr(numrnn.defaults, "_default_generator", None)
    model, optimizer, batches = default_generator_run()
    fit(model, batches, mse_step, optimizer, epochs=4, generators=batches.rng, progress=False)
    after_straight_run = numrnn.default_generator().random()

    path = tmp_path / "run.safetensors"
    first, opt1, batches1 = default_generator_run()
    fit(first, batches1, mse_step, opt1, epochs=2, generators=batches1.rng, checkpoint=path,
        progress=False)

    # A new process seeds as the first one did, builds the same objects, then resumes.
    resumed, opt2, batches2 = default_generator_run()
    fit(resumed, batches2, mse_step, opt2, epochs=4, generators=batches2.rng, resume=path,
        progress=False)

    assert_bit_identical(resumed, model)
    assert numrnn.default_generator().random() == after_straight_run


def test_resume_with_validation_restores_the_best_metric_and_the_plateau_schedule(tmp_path):
    def validate(model):
        return float(np.mean([mse_step(model, batch).item() for batch in valid]))

    valid = list(ShuffledBatches(np.random.default_rng(9)))
    model, optimizer, scheduler, shuffler, batches = new_run(plateau=True)
    straight = fit(model, batches, mse_step, optimizer, epochs=5, scheduler=scheduler,
                   generators=shuffler, validate=validate, progress=False)

    path = tmp_path / "best.safetensors"
    first, opt1, sched1, shuffler1, batches1 = new_run(plateau=True)
    fit(first, batches1, mse_step, opt1, epochs=2, scheduler=sched1, generators=shuffler1,
        validate=validate, checkpoint=path, progress=False)
    resumed, opt2, sched2, shuffler2, batches2 = new_run(plateau=True)
    history = fit(resumed, batches2, mse_step, opt2, epochs=5, scheduler=sched2,
                  generators=shuffler2, validate=validate, resume=path, progress=False)

    # Validation improves every epoch here, so the checkpoint holds epoch 2.
    assert straight.best_epoch == 5 and history.epoch == [3, 4, 5]
    assert history.best_metric == straight.best_metric
    assert sched2.state_dict() == scheduler.state_dict()
    assert_bit_identical(resumed, model)


def test_a_checkpoint_still_loads_as_weights(tmp_path):
    model, optimizer, scheduler, shuffler, batches = new_run()
    path = tmp_path / "run.safetensors"
    fit(model, batches, mse_step, optimizer, epochs=1, scheduler=scheduler, checkpoint=path,
        progress=False)
    weights = numrnn.load(path)
    assert sorted(weights) == sorted(model.state_dict())
    rebuilt = numrnn.load_model(path)
    assert_bit_identical(rebuilt, model)


def snapshot(model, optimizer, scheduler, shuffler):
    return (model.state_dict(), optimizer.state_dict(), scheduler.state_dict(),
            shuffler.bit_generator.state)


def assert_unchanged(before, model, optimizer, scheduler, shuffler):
    weights, optimizer_state, scheduler_state, generator_state = before
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, weights[name])
    assert optimizer.state_dict()["param_groups"] == optimizer_state["param_groups"]
    assert optimizer.state_dict()["state"].keys() == optimizer_state["state"].keys()
    assert scheduler.state_dict() == scheduler_state
    assert shuffler.bit_generator.state == generator_state


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoint") / "run.safetensors"
    model, optimizer, scheduler, shuffler, batches = new_run()
    fit(model, batches, mse_step, optimizer, epochs=2, scheduler=scheduler, generators=shuffler,
        checkpoint=path, progress=False)
    return path


def rewritten(source, target, change):
    """``source`` with its training-state JSON passed through ``change``."""
    tensors = safetensors.numpy.load_file(str(source))
    metadata = dict(safetensors.safe_open(str(source), "numpy").metadata())
    state = json.loads(metadata["numrnn.training"])
    metadata["numrnn.training"] = json.dumps(change(state, tensors))
    safetensors.numpy.save_file(tensors, str(target), metadata=metadata)
    return target


def top(state, key, value):
    pairs = state["dict"]
    for pair in pairs:
        if pair[0] == key:
            pair[1] = value
    return state


def optimizer_group_lr(state, value):
    optimizer = dict(state["dict"])["optimizer"]
    group = dict(optimizer["dict"])["param_groups"][0]
    for pair in group["dict"]:
        if pair[0] == "lr":
            pair[1] = value
    return state


def default_generator_state(state, value):
    generators = dict(state["dict"])["generators"]
    for pair in generators["dict"]:
        if pair[0] == "numrnn.default_generator":
            pair[1] = value
    return state


HOSTILE = {
    "epoch a string": (lambda s, t: top(s, "epoch", "3"), r"epoch must be an int >= 1, got '3'"),
    "epoch negative": (lambda s, t: top(s, "epoch", -1), r"epoch must be an int >= 1, got -1"),
    "unknown tag": (lambda s, t: top(s, "epoch", {"pickle": "os.system"}),
                    r"unknown or malformed node \{'pickle': 'os.system'\}"),
    "generator state garbage": (
        lambda s, t: top(s, "generators", {"dict": [[name, {"dict": [["bit_generator", "PCG64"]]}]
                                                   for name, _ in dict(s["dict"])["generators"]
                                                   ["dict"]]}),
        r"generator 'model.0.rng': not a PCG64 state \(KeyError: 'state'\)"),
    "default generator state garbage": (
        lambda s, t: default_generator_state(s, {"dict": [["bit_generator", "PCG64"]]}),
        r"generator 'numrnn.default_generator': not a PCG64 state"),
    "generator missing": (lambda s, t: top(s, "generators", {"dict": []}),
                          r"the checkpoint holds generators \[\]"),
    "scheduler missing": (lambda s, t: top(s, "scheduler", None),
                          "written without a learning-rate scheduler"),
    "lr a string": (lambda s, t: optimizer_group_lr(s, "0.1"), r"'lr' must be a number, got '0.1'"),
    "array used twice": (lambda s, t: top(s, "epoch", {"array": "numrnn.training.0"}),
                         "a second time"),
    "missing array": (lambda s, t: top(s, "epoch", {"array": "numrnn.training.999"}),
                      "which the file does not hold"),
    "version": (lambda s, t: top(s, "version", 7), "checkpoint version 7"),
    "extra key": (lambda s, t: {"dict": s["dict"] + [["pickle", 1]]}, "training state must hold"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_malformed_training_state_is_a_format_error_and_changes_nothing(
        checkpoint_file, tmp_path, case):
    change, message = HOSTILE[case]
    path = rewritten(checkpoint_file, tmp_path / "bad.safetensors", change)
    model, optimizer, scheduler, shuffler, batches = new_run()
    before = snapshot(model, optimizer, scheduler, shuffler)
    default_before = numrnn.default_generator().bit_generator.state
    with pytest.raises(FormatError, match=message) as error:
        load_checkpoint(path, model, optimizer, scheduler=scheduler, generators=shuffler)
    assert str(path) in str(error.value)
    assert_unchanged(before, model, optimizer, scheduler, shuffler)
    assert numrnn.default_generator().bit_generator.state == default_before


def test_another_optimizer_or_model_is_refused_before_anything_changes(checkpoint_file):
    model, _, scheduler, shuffler, _ = new_run()
    sgd = SGD(model.parameters(), lr=0.1)
    with pytest.raises(FormatError, match=r"SGD parameter group 0 holds .*another optimizer"):
        load_checkpoint(checkpoint_file, model, sgd, generators=shuffler)

    wider = nn.Sequential(nn.Linear(3, 32, rng=0), nn.Dropout(0.3, rng=1),
                          nn.Linear(32, 1, rng=2))
    optimizer = Adam(wider.parameters(), lr=0.02)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.8)
    before = snapshot(wider, optimizer, scheduler, shuffler)
    with pytest.raises(FormatError, match=r"'0.weight': the module expects shape \(32, 3\)"):
        load_checkpoint(checkpoint_file, wider, optimizer, scheduler=scheduler,
                        generators=shuffler)
    assert_unchanged(before, wider, optimizer, scheduler, shuffler)


def test_a_generator_may_not_take_the_default_generators_name(checkpoint_file):
    model, optimizer, scheduler, _, _ = new_run()
    with pytest.raises(FormatError, match="'numrnn.default_generator' is kept for"):
        load_checkpoint(checkpoint_file, model, optimizer, scheduler=scheduler,
                        generators={"numrnn.default_generator": np.random.default_rng(0)})


def test_a_weight_file_is_not_a_checkpoint(tmp_path):
    model, optimizer, scheduler, shuffler, _ = new_run()
    numrnn.save(model, tmp_path / "weights.safetensors")
    with pytest.raises(FormatError, match="holds no training state"):
        fit(model, [], mse_step, optimizer, epochs=2, resume=tmp_path / "weights.safetensors",
            progress=False)
