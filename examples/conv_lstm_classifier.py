"""CNN + RNN: a Conv1d front end feeding an LSTM classifies variable-length signals.

Each sequence is 60 to 200 steps of two-channel noise with one short event
hidden at a random place; the class is the event's shape: a rising ramp, a
falling ramp, a double pulse, or a burst of oscillation (seen on both
channels, with opposite signs on the second). Guessing scores 25%.

Two Conv1d + ReLU + MaxPool1d blocks turn every 4 steps into one step of 32
local-shape features, so the LSTM reads a quarter of the steps and starts from
features rather than raw samples. Each padded row's valid length travels with
it: every layer takes ``lengths=`` (inputs past a row's end are treated as
padding) and its ``output_lengths(lengths)`` gives the next layer's, so the
LSTM runs each row over exactly the steps its unpadded signal gives, and
``F.last_valid_step`` picks its final output. Training uses ``fit`` on
length-bucketed batches and prints the held-out accuracy after every epoch.

    python examples/conv_lstm_classifier.py            # about 15 seconds
    python examples/conv_lstm_classifier.py --quick    # seconds: a smoke test
"""

import argparse
import os
import sys
import time

import numpy as np

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.data import BucketIterator, pad_sequences
from numrnn.optim import Adam
from numrnn.training import fit

EVENTS = ("rising ramp", "falling ramp", "double pulse", "oscillation")
EVENT_STEPS = 16
CHANNELS = 2


def event_shape(label):
    """The event of class ``label``: EVENT_STEPS values in about -1..1."""
    t = np.linspace(0.0, 1.0, EVENT_STEPS)
    if label == 0:
        return 2 * t - 1
    if label == 1:
        return 1 - 2 * t
    if label == 2:
        return np.exp(-((t - 0.25) / 0.08) ** 2) + np.exp(-((t - 0.75) / 0.08) ** 2)
    return np.sin(2 * np.pi * 3 * t)


def make_dataset(count, min_length, max_length, noise, rng):
    """``count`` (signal (L, 2), label) pairs, each signal holding one event."""
    signals, labels = [], rng.integers(len(EVENTS), size=count)
    for label in labels:
        length = int(rng.integers(min_length, max_length + 1))
        signal = rng.standard_normal((length, CHANNELS)) * noise
        start = int(rng.integers(length - EVENT_STEPS + 1))
        shape = event_shape(label)
        signal[start:start + EVENT_STEPS, 0] += shape
        signal[start:start + EVENT_STEPS, 1] -= shape
        signals.append(signal.astype(np.float32))
    return signals, labels.astype(np.int64)


class ConvLSTMClassifier(nn.Module):
    """(Conv1d -> ReLU -> MaxPool1d) x 2 -> LSTM over each row's length -> last step -> Linear."""

    def __init__(self, channels, hidden_size, num_classes, rng):
        super().__init__()
        self.conv1 = nn.Conv1d(CHANNELS, channels, kernel_size=5, padding=2, rng=rng)
        self.pool1 = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=5, padding=2, rng=rng)
        self.pool2 = nn.MaxPool1d(2)
        self.lstm = nn.LSTM(channels, hidden_size, forget_bias=1.0, rng=rng)
        self.head = nn.Linear(hidden_size, num_classes, rng=rng)

    def forward(self, signals, lengths):
        """``signals`` (B, T, 2) batch-first, ``lengths`` (B,); returns class scores (B, K)."""
        x = F.permute(signals, (0, 2, 1))                              # (B, 2, T)
        for conv, pool in ((self.conv1, self.pool1), (self.conv2, self.pool2)):
            x = F.relu(conv(x, lengths=lengths))
            lengths = conv.output_lengths(lengths)
            x = pool(x, lengths=lengths)
            lengths = pool.output_lengths(lengths)
        output, _ = self.lstm(F.permute(x, (2, 0, 1)), lengths=lengths)  # (T', B, C)
        return self.head(F.last_valid_step(output, lengths))


def predict(model, signals, batch_size=256):
    """Predicted class of each signal, in order."""
    predictions = []
    model.eval()
    with numrnn.no_grad():
        for start in range(0, len(signals), batch_size):
            batch, lengths = pad_sequences(signals[start:start + batch_size], batch_first=True)
            predictions.append(model(batch, lengths).data.argmax(axis=1))
    return np.concatenate(predictions)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--min-length", type=int, default=60)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=48)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", "--tiny", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.epochs = 128, 64, 2
        args.channels, args.hidden_size, args.max_length = 8, 16, 100
    if args.min_length < EVENT_STEPS or args.max_length < args.min_length:
        parser.error(f"need {EVENT_STEPS} <= --min-length <= --max-length")
    return args


def main(argv=None):
    """Train and evaluate; returns {"accuracy", "chance", "seconds"}."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    train_x, train_y = make_dataset(args.train_size, args.min_length, args.max_length,
                                    args.noise, rng)
    test_x, test_y = make_dataset(args.test_size, args.min_length, args.max_length,
                                  args.noise, rng)
    print(f"{len(train_x)} training and {len(test_x)} held-out signals of "
          f"{args.min_length}-{args.max_length} steps, {CHANNELS} channels; "
          f"events: {', '.join(EVENTS)}")

    batches = BucketIterator(train_x, args.batch_size, targets=train_y, seed=args.seed,
                             batch_first=True)
    model = ConvLSTMClassifier(args.channels, args.hidden_size, len(EVENTS), rng=args.seed)
    print(model)
    optimizer = Adam(model.parameters(), lr=args.lr)

    def step(model, batch):
        return F.cross_entropy(model(batch.inputs, batch.lengths), batch.targets)

    def accuracy(model):
        return float(np.mean(predict(model, test_x) == test_y))

    def report(history):
        print(f"epoch {history.epoch[-1]:2d}  train loss {history.train_loss[-1]:.4f}  "
              f"held-out accuracy {history.val_metric[-1]:.1%}  {history.time[-1]:.1f} s",
              flush=True)

    fit(model, batches, step, optimizer, epochs=args.epochs, clip_grad_norm=args.clip,
        validate=accuracy, mode="max", on_epoch_end=report, progress=False)

    final = float(np.mean(predict(model, test_x) == test_y))
    chance = float(np.max(np.bincount(test_y, minlength=len(EVENTS))) / len(test_y))
    seconds = time.perf_counter() - started
    print(f"held-out accuracy {final:.1%} (majority class: {chance:.1%})")
    print(f"total {seconds:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return {"accuracy": final, "chance": chance, "seconds": seconds}


if __name__ == "__main__":
    main()
