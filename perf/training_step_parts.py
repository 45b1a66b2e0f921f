"""Where the adding problem's training step goes, part by part, in numrnn or PyTorch.

Run: ``python perf/training_step_parts.py [--library numrnn|torch] [--steps 300]``,
one library per process (run it twice to compare). It builds the step of
``perf/training_step.py`` (``perf/adding_step.py``'s models: LSTM H = 64, B = 64,
T = 100, a Linear head, MSE, Adam, clipping to 1.0) on one fixed random batch
and prints the median milliseconds of each part: zero_grad, forward, loss,
backward, clipping, the optimiser's step. For numrnn it also times the LSTM
layer alone, forward and forward + backward, so that a run with
``NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` shows how each scales with threads.
Warm-up steps are excluded; the library runs with its defaults.

``--clock process`` times each part in the process's CPU time instead of wall
time (on a loaded machine the wall clock measures the other work; CPU time
still shows where the work goes, and with several threads, what spinning
costs). For numrnn it then also splits the step between the recurrent stack op
(the LSTM's forward and backward, kernels and their Python wrappers: what
``perf/training_step.py`` cannot make cheaper outside ``numrnn/kernels``) and
everything else (the tape, getitem, the Linear head, the loss, clipping, Adam),
as means over the timed steps.
"""

import argparse
import contextlib
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import adding_step  # noqa: E402

PARTS = ("zero_grad", "forward", "loss", "backward", "clip", "step")


def numrnn_parts(x, y, clock):
    """``(run one step and return each part's seconds, the LSTM layer alone)``."""
    import numrnn
    from numrnn import functional as F
    from numrnn.optim import Adam, clip_grad_norm_

    model = adding_step.numrnn_model(adding_step.SHAPE[3])
    params = list(model.parameters())
    optimizer = Adam(params, lr=adding_step.LEARNING_RATE)
    model.train()

    def parts():
        marks = [clock()]
        optimizer.zero_grad()
        marks.append(clock())
        output = model(x)
        marks.append(clock())
        loss = F.mse_loss(output, y)
        marks.append(clock())
        loss.backward()
        marks.append(clock())
        clip_grad_norm_(params, adding_step.MAX_NORM)
        marks.append(clock())
        optimizer.step()
        marks.append(clock())
        return np.diff(marks)

    layer = model.rnn
    inputs = numrnn.Tensor(x)

    def layer_forward():
        layer(inputs)

    def layer_step():
        for parameter in layer.parameters():
            parameter.grad = None
        output = layer(inputs)[0]
        output.backward(np.ones(output.shape, np.float32))

    return parts, {"LSTM layer forward": layer_forward, "LSTM layer forward + backward": layer_step}


def torch_parts(x, y, clock):
    """The PyTorch twin's ``parts`` (no layer-alone timings)."""
    import torch

    hidden = adding_step.SHAPE[3]
    rnn, head = torch.nn.LSTM(adding_step.SHAPE[2], hidden), torch.nn.Linear(hidden, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=adding_step.LEARNING_RATE)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def parts():
        marks = [clock()]
        optimizer.zero_grad()
        marks.append(clock())
        output = head(rnn(inputs)[0][-1])
        marks.append(clock())
        loss = torch.nn.functional.mse_loss(output, targets)
        marks.append(clock())
        loss.backward()
        marks.append(clock())
        torch.nn.utils.clip_grad_norm_(params, adding_step.MAX_NORM)
        marks.append(clock())
        optimizer.step()
        marks.append(clock())
        return np.diff(marks)

    return parts, {}


def median_ms(function, steps, clock):
    """Median milliseconds of ``steps`` calls of ``function`` after ten warm-up calls."""
    for _ in range(10):
        function()
    times = []
    for _ in range(steps):
        start = clock()
        function()
        times.append(clock() - start)
    return statistics.median(times) * 1e3


class _RecurrentOpTimer:
    """Adds up the ``clock`` time spent in the recurrent stack op's forward and backward.

    It wraps the op's two static methods for as long as it is entered (a
    measurement aid: they run unchanged inside).
    """

    def __init__(self, clock):
        from numrnn.functional.recurrent_stack import RecurrentStack

        self.op, self.clock, self.seconds = RecurrentStack, clock, 0.0

    def __enter__(self):
        self.originals = {name: self.op.__dict__[name] for name in ("forward", "backward")}
        for name, original in self.originals.items():
            setattr(self.op, name, staticmethod(self._timed(original.__func__)))
        return self

    def _timed(self, function):
        def timed(*args, **kwargs):
            start = self.clock()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += self.clock() - start
        return timed

    def __exit__(self, *exc):
        for name, original in self.originals.items():
            setattr(self.op, name, original)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", choices=("numrnn", "torch"), default="numrnn")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--clock", choices=("wall", "process"), default="wall",
                        help="wall time (default) or the process's CPU time")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    batch, steps, n_in, _ = adding_step.SHAPE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, n_in)).astype(np.float32)
    y = rng.standard_normal((batch, 1)).astype(np.float32)
    parts, alone = (numrnn_parts if args.library == "numrnn" else torch_parts)(x, y, clock)
    for _ in range(20):
        parts()
    split = args.clock == "process" and args.library == "numrnn"
    recurrent = _RecurrentOpTimer(clock) if split else contextlib.nullcontext()
    cpu, wall = time.process_time(), time.perf_counter()
    with recurrent:
        rows = np.array([parts() for _ in range(args.steps)])
    cores = (time.process_time() - cpu) / (time.perf_counter() - wall)
    medians = np.median(rows, axis=0) * 1e3
    print(f"{args.library}: adding-problem step, median ms per part, {args.clock} clock "
          f"({args.steps} steps, {cores:.2f} cores busy)")
    for name, value in zip(PARTS, medians):
        print(f"  {name:10s} {value:8.3f}")
    print(f"  {'sum':10s} {medians.sum():8.3f}")
    if split:
        mean = rows.sum() / args.steps * 1e3
        inside = recurrent.seconds / args.steps * 1e3
        print(f"mean ms per step {mean:.3f}: the recurrent stack op {inside:.3f}, "
              f"everything else {mean - inside:.3f}")
    for name, function in alone.items():
        print(f"{name}: {median_ms(function, args.steps, clock):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
