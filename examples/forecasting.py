"""Forecast noisy sine waves many steps ahead, feeding each prediction back as the next input.

Each series is ``a sin(w t + phi)`` plus Gaussian noise, with a random
amplitude, frequency (periods of 13 to 63 steps) and phase
(``numrnn.data.noisy_sines``). A GRU reads the series and a Linear layer
predicts the next value; training is one step ahead, on fresh series every
epoch (``fit`` with a ``batches(epoch)`` callable), with
``F.sequence_mse_loss``.

The forecast is one-to-many generation: the GRU reads ``--context`` observed
steps, then for ``--horizon`` steps its own prediction becomes its next input,
its state carried from step to step. The result is compared with the naive
"persistence" forecast (the last observed value, repeated) and with always
predicting 0, the series' mean; the noise itself (std 0.1) puts a floor of
0.01 under any forecast's MSE. When matplotlib is installed
(``pip install numrnn[plot]``), a few held-out forecasts are plotted.

    python examples/forecasting.py            # under a minute
    python examples/forecasting.py --quick    # seconds: a smoke test
"""

import argparse
import os
import sys
import time

import numpy as np

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.data import noisy_sines
from numrnn.optim import Adam
from numrnn.training import fit


class Forecaster(nn.Module):
    """GRU -> Linear: the next value of the series at every step."""

    def __init__(self, hidden_size, num_layers, rng):
        super().__init__()
        self.gru = nn.GRU(1, hidden_size, num_layers, rng=rng)
        self.head = nn.Linear(hidden_size, 1, rng=rng)

    def forward(self, series, state=None):
        """``series`` (T, B, 1) -> next-value predictions (T, B, 1) and the final state."""
        output, state = self.gru(series, state)
        return self.head(output), state

    def forecast(self, context, horizon):
        """Read ``context`` (T, B, 1), then predict ``horizon`` steps, each fed back as input."""
        steps = []
        self.eval()
        with numrnn.no_grad():
            predictions, state = self(context)
            value = predictions.data[-1:]
            for _ in range(horizon):
                steps.append(value)
                predictions, state = self(value, state)
                value = predictions.data
        return np.concatenate(steps)


def save_plot(context, truth, forecast, persistence, path, rows=3):
    """Plot the first ``rows`` held-out forecasts; returns False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    observed = np.arange(len(context))
    ahead = np.arange(len(context), len(context) + len(truth))
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.4 * rows), sharex=True)
    for row, ax in enumerate(np.atleast_1d(axes)):
        ax.plot(observed, context[:, row, 0], color="0.5", label="observed")
        ax.plot(ahead, truth[:, row, 0], color="black", linestyle="--", label="truth")
        ax.plot(ahead, forecast[:, row, 0], color="tab:red", label="GRU forecast")
        ax.plot(ahead, persistence[:, row, 0], color="tab:blue", linestyle=":",
                label="persistence")
        ax.axvline(len(context) - 0.5, color="0.8")
    np.atleast_1d(axes)[0].legend(loc="upper left", ncol=4, fontsize="small")
    np.atleast_1d(axes)[-1].set_xlabel("time step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", type=int, default=60, help="observed steps before forecasting")
    parser.add_argument("--horizon", type=int, default=30, help="steps forecast")
    parser.add_argument("--train-length", type=int, default=90,
                        help="length of the training series")
    parser.add_argument("--series-per-epoch", type=int, default=1024)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--plot", default="forecast.png", help="forecast plot PNG ('' to skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", "--tiny", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.context, args.horizon, args.train_length = 20, 10, 30
        args.series_per_epoch, args.test_size, args.epochs, args.hidden_size = 64, 32, 2, 8
    return args


def main(argv=None):
    """Train, forecast held-out series; returns the MSEs of the forecast and the baselines."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()

    def epoch_batches(epoch):
        # Fresh series every epoch: the model can never memorise them.
        inputs, targets = noisy_sines(args.series_per_epoch, args.train_length,
                                      rng=[args.seed, epoch], noise=args.noise)
        starts = range(0, args.series_per_epoch, args.batch_size)
        return [(inputs[:, start:start + args.batch_size],
                 targets[:, start:start + args.batch_size]) for start in starts]

    def step(model, batch):
        inputs, targets = batch
        predictions, _ = model(inputs)
        return F.sequence_mse_loss(predictions, targets)

    # noisy_sines(n, T) gives series steps 0..T-1 as inputs and 1..T as targets, so with
    # T = context + horizon - 1 the horizon's truth, steps context..T, is targets[context - 1:].
    test_inputs, test_targets = noisy_sines(args.test_size, args.context + args.horizon - 1,
                                            rng=args.seed + 10_000, noise=args.noise)
    context, truth = test_inputs[:args.context], test_targets[args.context - 1:]

    def one_step_mse(model):
        predictions, _ = model(test_inputs)
        return F.mse_loss(predictions, test_targets).item()

    def report(history):
        print(f"epoch {history.epoch[-1]:2d}  train MSE {history.train_loss[-1]:.4f}  "
              f"held-out one-step MSE {history.val_metric[-1]:.4f}  {history.time[-1]:.1f} s",
              flush=True)

    model = Forecaster(args.hidden_size, args.num_layers, rng=args.seed)
    print(f"{args.series_per_epoch} fresh noisy sines of {args.train_length} steps per epoch; "
          f"forecasting {args.horizon} steps after {args.context} observed "
          f"(noise floor {args.noise ** 2:.4f})")
    fit(model, epoch_batches, step, Adam(model.parameters(), lr=args.lr), epochs=args.epochs,
        clip_grad_norm=args.clip, validate=one_step_mse, on_epoch_end=report, progress=False)

    forecast = model.forecast(context, args.horizon)
    persistence = np.broadcast_to(context[-1:], truth.shape)
    errors = {"forecast": float(np.mean((forecast - truth) ** 2)),
              "persistence": float(np.mean((persistence - truth) ** 2)),
              "zero": float(np.mean(truth ** 2))}
    print(f"\n{args.horizon}-step forecast MSE on {args.test_size} held-out series: "
          f"GRU {errors['forecast']:.4f}, persistence {errors['persistence']:.4f}, "
          f"always 0 {errors['zero']:.4f} (noise floor {args.noise ** 2:.4f})")
    thirds = [part for part in np.array_split(np.arange(args.horizon), 3) if len(part)]
    print("  by lead time: " + ", ".join(
        f"steps {part[0] + 1}-{part[-1] + 1}: GRU {np.mean((forecast[part] - truth[part])**2):.4f}"
        f" vs persistence {np.mean((persistence[part] - truth[part])**2):.4f}"
        for part in thirds))
    if args.plot:
        if save_plot(context, truth, forecast, persistence, args.plot):
            print(f"forecasts plotted in {args.plot}")
        else:
            print("matplotlib is not installed: no plot (pip install numrnn[plot])")
    errors["seconds"] = time.perf_counter() - started
    print(f"total {errors['seconds']:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return errors


if __name__ == "__main__":
    main()
