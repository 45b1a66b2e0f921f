"""The adding problem at T = 100: a tanh RNN, an IRNN and an LSTM, and why they differ.

Each input step is a pair (value in [0, 1), marker); exactly two steps are
marked, one in each half of the sequence, and the target is the sum of the two
marked values (Hochreiter & Schmidhuber, 1997). Predicting the mean scores an
MSE of 1/6 ~ 0.167; to do better a network must carry a value across up to
99 steps, which is where gradients vanish.

Three networks, each read out by a Linear layer from its last hidden state:

- a tanh RNN, PyTorch's default initialization;
- an IRNN (Le et al., 2015): ReLU units with the recurrent matrix started at
  the identity, ``nn.RNN(nonlinearity='relu', recurrent_init='identity')``, so
  a hidden state is copied forward unchanged until training says otherwise;
  a small learning rate and gradient clipping keep the unbounded ReLU stable;
- an LSTM with a forget-gate bias of 1, whose cell state is an additive path.

All train with Adam and gradient-norm clipping on fresh random batches, under
a length curriculum (Zaremba & Sutskever, 2014): sequences start 10 steps long
and grow by 40% each time the smoothed training MSE falls below 0.02, up to
``--length``; the test is always at the full length. Without the curriculum
(``--no-curriculum``) every model sits on the 0.167 plateau for far longer than
this example's two minutes. When the curriculum reaches the full length, the
learning rate drops by ``--final-lr-factor``, which steadies the last steps.

Then ``numrnn.diagnostics.hidden_gradient_norms`` measures ``‖∂L/∂h_t‖`` for
every step, before and after training: the tanh RNN's curve falls by orders
of magnitude from the last step back to the first (vanishing gradients), so
the early marked value never gets a useful signal. The curves are plotted when
matplotlib is installed (``pip install numrnn[plot]``).

    python examples/adding_problem.py              # about two minutes on two cores
    python examples/adding_problem.py --quick      # seconds: a smoke test
"""

import argparse
import math
import os
import sys
import time

import numpy as np

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.data import adding_problem
from numrnn.diagnostics import hidden_gradient_norms
from numrnn.optim import Adam, clip_grad_norm_

MEAN_BASELINE_MSE = 1.0 / 6.0
# Per model: the recurrent layer's settings and its Adam rate. The ReLU network
# needs a small rate (measured: 2e-3 trains it, 1e-2 blows it up); the tanh RNN
# gets the same, so that the two differ only in nonlinearity and initialization.
MODELS = {
    "tanh RNN": dict(kind="RNN", nonlinearity="tanh", recurrent_init="uniform", lr=2e-3),
    "IRNN": dict(kind="RNN", nonlinearity="relu", recurrent_init="identity", lr=2e-3),
    "LSTM": dict(kind="LSTM", lr=1e-2),
}


class Regressor(nn.Module):
    """A recurrent layer and a Linear read-out of its last hidden state."""

    def __init__(self, kind, hidden_size, rng, nonlinearity="tanh", recurrent_init="uniform"):
        super().__init__()
        if kind == "LSTM":
            self.rnn = nn.LSTM(2, hidden_size, forget_bias=1.0, rng=rng)
        else:
            self.rnn = nn.RNN(2, hidden_size, nonlinearity=nonlinearity,
                              recurrent_init=recurrent_init, rng=rng)
        self.head = nn.Linear(hidden_size, 1, rng=rng)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[-1])


class LengthCurriculum:
    """Sequence length that grows whenever the smoothed training loss is low enough."""

    def __init__(self, start, final, threshold=0.02, growth=1.4, smoothing=0.9):
        self.length, self.final = min(start, final), final
        self.threshold, self.growth, self.smoothing = threshold, growth, smoothing
        self.average = None

    def update(self, loss):
        """Record one training loss; returns True when the length just grew."""
        self.average = loss if self.average is None else \
            self.smoothing * self.average + (1 - self.smoothing) * loss
        if self.length >= self.final or self.average > self.threshold:
            return False
        self.length = min(self.final, math.ceil(self.length * self.growth))
        # A longer sequence is a harder task: the old average says nothing about it.
        self.average = None
        return True


def _format(mse):
    # A ReLU network trained on short sequences can blow up on long ones: 1e+11, not 11 digits.
    return f"{mse:.4f}" if mse < 1e3 else f"{mse:.1e}"


def test_mse(model, x, y):
    model.eval()
    with numrnn.no_grad():
        return F.mse_loss(model(x), y).item()


def train(name, model, args, test_x, test_y):
    """Train ``model`` for ``args.steps`` updates; returns a dict of what happened."""
    settings = MODELS[name]
    params = list(model.parameters())
    optimizer = Adam(params, lr=settings["lr"])
    # The same seed for every model: they all see the same stream of training batches.
    rng = np.random.default_rng(args.seed + 1)
    curriculum = LengthCurriculum(args.start_length if args.curriculum else args.length,
                                  args.length)
    full_length_step = 0 if curriculum.length == args.length else None
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = adding_problem(args.batch_size, curriculum.length, rng=rng)
        model.train()
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        clip_grad_norm_(params, args.clip)
        optimizer.step()
        if curriculum.update(loss.item()) and curriculum.length == args.length:
            full_length_step = step
            optimizer.param_groups[0]["lr"] *= args.final_lr_factor
        if step % args.report_every == 0 or step == args.steps:
            tested = _format(test_mse(model, test_x, test_y))
            print(f"  {name:8} step {step:5d}  length {curriculum.length:3d}  "
                  f"train MSE {loss.item():.4f}  test MSE {tested}  "
                  f"{time.perf_counter() - started:5.1f} s", flush=True)
    return {"test_mse": test_mse(model, test_x, test_y), "length": curriculum.length,
            "full_length_step": full_length_step,
            "seconds": time.perf_counter() - started}


def gradient_norms(model, x, y):
    """‖∂L/∂h_t‖ for t = 1..T of the MSE on (x, y), the model's weights as they are now."""
    return hidden_gradient_norms(model.rnn, x, lambda output: F.mse_loss(
        model.head(output[-1]), y))[0]


def save_plot(norms, path):
    """Plot the gradient-norm curves; returns False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, moment in zip(axes, ("before training", "after training")):
        for name, curves in norms.items():
            steps = np.arange(1, len(curves[moment]) + 1)
            # A vanished gradient can be exactly 0, which a log axis cannot show.
            ax.semilogy(steps, np.maximum(curves[moment], 1e-30), label=name)
        ax.set_title(f"‖∂L/∂h_t‖ {moment}")
        ax.set_xlabel("time step t (the loss is read at the last step)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("gradient norm")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=100, help="test sequence length T")
    parser.add_argument("--steps", type=int, default=1200, help="Adam updates per model")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=64,
                        help="units of the tanh RNN and the IRNN")
    parser.add_argument("--lstm-hidden-size", type=int, default=32,
                        help="LSTM units (each has four gates: 32 cost about what 64 RNN units do)")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--final-lr-factor", type=float, default=0.3,
                        help="learning-rate factor once the curriculum reaches the full length")
    parser.add_argument("--start-length", type=int, default=10)
    parser.add_argument("--no-curriculum", dest="curriculum", action="store_false",
                        help="train at the full length from the first step")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                        metavar="MODEL", help=f"a subset of {list(MODELS)}")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--report-every", type=int, default=200)
    parser.add_argument("--plot", default="adding_gradient_norms.png",
                        help="gradient-norm plot PNG ('' to skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", "--tiny", action="store_true",
                        help="short sequences and few steps, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.length, args.steps, args.test_size, args.report_every = 20, 30, 200, 10
        args.hidden_size, args.lstm_hidden_size = 16, 8
    return args


def main(argv=None):
    """Train each model, measure its gradient flow; returns {model name: results}."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    test_x, test_y = adding_problem(args.test_size, args.length, rng=args.seed + 1000)
    # A fixed batch for the diagnostics, the same for every model and both moments.
    probe_x, probe_y = test_x[:, :100], test_y[:100]
    print(f"adding problem, T = {args.length}: predicting the mean scores MSE "
          f"{MEAN_BASELINE_MSE:.3f} (this test set: {np.var(test_y):.3f}); "
          f"{args.steps} steps of batch {args.batch_size} per model"
          + (f", curriculum from length {args.start_length}" if args.curriculum else ""))

    results, norms = {}, {}
    for index, name in enumerate(args.models):
        settings = MODELS[name]
        hidden_size = args.lstm_hidden_size if settings["kind"] == "LSTM" else args.hidden_size
        model = Regressor(settings["kind"], hidden_size, rng=args.seed + index,
                          nonlinearity=settings.get("nonlinearity", "tanh"),
                          recurrent_init=settings.get("recurrent_init", "uniform"))
        print(f"{name}: {model.rnn!r}, Adam lr {settings['lr']}, clip {args.clip}")
        before = gradient_norms(model, probe_x, probe_y)
        results[name] = train(name, model, args, test_x, test_y)
        norms[name] = {"before training": before,
                       "after training": gradient_norms(model, probe_x, probe_y)}
        # How much of the last step's gradient reaches the first step: the decay over T - 1 steps.
        results[name]["gradient_ratio"] = {moment: float(curve[0] / curve[-1])
                                           for moment, curve in norms[name].items()}

    print(f"\ntest MSE at T = {args.length} (mean predictor: {MEAN_BASELINE_MSE:.3f}):")
    for name, result in results.items():
        reached = "" if result["full_length_step"] is None \
            else f", full length from step {result['full_length_step']}"
        ratios = result["gradient_ratio"]
        print(f"  {name:8} {result['test_mse']:.4f}   (trained up to length {result['length']}"
              f"{reached}; {result['seconds']:.0f} s)   ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ = "
              f"{ratios['before training']:.1e} before, {ratios['after training']:.1e} after")
    if args.plot:
        if save_plot(norms, args.plot):
            print(f"gradient norms plotted in {args.plot}")
        else:
            print("matplotlib is not installed: no plot (pip install numrnn[plot])")
    print(f"total {time.perf_counter() - started:.1f} s wall, "
          f"{time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return results


if __name__ == "__main__":
    main()
