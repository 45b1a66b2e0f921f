"""fit: one plain line per epoch off a terminal, callbacks at step and epoch ends, StopTraining."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numrnn import ArgumentTypeError, nn
from numrnn import functional as F
from numrnn.optim import SGD
from numrnn.training import Callback, StopTraining, fit

ROOT = Path(__file__).resolve().parents[1]


def regression_data(rows=64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    return [(x[start:start + 16], y[start:start + 16]) for start in range(0, rows, 16)]


def mse_step(model, batch):
    inputs, targets = batch
    return F.mse_loss(model(inputs), targets)


def run_fit(**options):
    model = nn.Linear(3, 1, rng=0)
    return fit(model, regression_data(), mse_step, SGD(model.parameters(), lr=0.01), **options)


def test_off_a_terminal_fit_writes_one_plain_line_per_epoch(capsys):
    history = run_fit(epochs=3, validate=lambda model: 0.25)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 3
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {epoch}/3: loss {history.train_loss[epoch - 1]:.4f}, "
                               "val 0.2500, lr 0.01, 4 steps, ")
        assert line.endswith(" s") and "\r" not in line and "it/s" not in line


def test_progress_false_stays_silent_and_the_lines_carry_desc(capsys):
    run_fit(epochs=2, progress=False)
    assert capsys.readouterr().err == ""
    run_fit(epochs=1, desc="warm-up")
    assert capsys.readouterr().err.startswith("warm-up 1/1: loss ")


def test_a_job_with_output_to_a_file_logs_its_epochs(tmp_path):
    # The nohup case: stderr is a file, so isatty() is False in the child.
    script = ("import numpy as np\n"
              "from numrnn import nn, functional as F\n"
              "from numrnn.optim import SGD\n"
              "from numrnn.training import fit\n"
              "x = np.ones((8, 3), np.float32)\n"
              "model = nn.Linear(3, 1, rng=0)\n"
              "fit(model, [(x, x[:, :1])], lambda m, b: F.mse_loss(m(b[0]), b[1]),\n"
              "    SGD(model.parameters(), lr=0.1), epochs=2)\n")
    log = tmp_path / "train.log"
    with open(log, "w") as stream:
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, stdout=stream, stderr=stream,
                       env={"PYTHONPATH": str(ROOT), "PATH": "", "NUMBA_CACHE_DIR":
                            str(tmp_path / "numba")}, check=True, timeout=300)
    lines = log.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]


class Recorder(Callback):
    def __init__(self):
        self.steps, self.epochs = [], []

    def on_step_end(self, step, loss):
        self.steps.append((step, loss))

    def on_epoch_end(self, epoch, history):
        self.epochs.append((epoch, len(history)))


def test_callbacks_see_every_step_and_epoch():
    recorder = Recorder()
    calls = []
    only_epochs = type("OnlyEpochs", (), {"on_epoch_end": lambda self, e, h: calls.append(e)})()
    history = run_fit(epochs=2, progress=False, callbacks=[recorder, only_epochs])
    assert [step for step, _ in recorder.steps] == list(range(1, 9))
    assert all(isinstance(loss, float) for _, loss in recorder.steps)
    assert np.mean([loss for _, loss in recorder.steps[:4]]) == pytest.approx(
        history.train_loss[0])
    assert recorder.epochs == [(1, 1), (2, 2)] and calls == [1, 2]
    assert not history.stopped_early


def test_stop_training_from_a_step_finishes_that_epoch_and_stops():
    class StopAtStep(Callback):
        def on_step_end(self, step, loss):
            if step == 6:
                raise StopTraining("enough")

    recorder = Recorder()
    history = run_fit(epochs=5, progress=False, callbacks=[StopAtStep(), recorder],
                      validate=lambda model: 1.0)
    assert history.epoch == [1, 2] and history.steps == [4, 2]
    assert history.val_metric == [1.0, 1.0], "the cut epoch is still validated and recorded"
    assert recorder.epochs == [(1, 1), (2, 2)] and history.stopped_early


def test_stop_training_from_an_epoch_end_stops_after_it():
    class StopAfterEpoch(Callback):
        def on_epoch_end(self, epoch, history):
            if history.train_loss[-1] < 10.0:
                raise StopTraining

    history = run_fit(epochs=5, progress=False, callbacks=StopAfterEpoch())
    assert history.epoch == [1] and history.stopped_early


def test_other_exceptions_from_callbacks_propagate_and_bad_callbacks_are_refused():
    class Broken(Callback):
        def on_step_end(self, step, loss):
            raise RuntimeError("callback bug")

    with pytest.raises(RuntimeError, match="callback bug"):
        run_fit(progress=False, callbacks=[Broken()])
    with pytest.raises(ArgumentTypeError, match=r"callbacks\[1\] \(int\) has neither "
                                                r"on_step_end\(step, loss\) nor on_epoch_end"):
        run_fit(progress=False, callbacks=[Recorder(), 3])
    with pytest.raises(ArgumentTypeError, match="callbacks must be a list .* got function"):
        run_fit(progress=False, callbacks=lambda step, loss: None)
