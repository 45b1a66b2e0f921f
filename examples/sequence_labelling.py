"""Many-to-many: tag every digit of a variable-length sequence as a peak, a valley or a slope.

A digit is a *peak* (``^``) when it is larger than each of its neighbours, a
*valley* (``v``) when it is smaller than each, and a *slope* (``-``) otherwise;
the first and last digits have one neighbour only::

    digits  3 8 2 5 5 9 4
    tags    v ^ v - - ^ v

The tag depends on the next digit as much as on the previous one, so a
left-to-right LSTM must guess half of its evidence, while a bidirectional LSTM
sees both sides. The batches are padded to their longest sequence; ``lengths``
makes the reverse direction start at each row's own last digit (not in the
padding), which is what lets it tag the last digit right, and
``F.sequence_cross_entropy(..., lengths=)`` leaves the padded steps out of the
loss. Both models are trained and their per-token held-out accuracy printed.

    python examples/sequence_labelling.py            # about a minute
    python examples/sequence_labelling.py --quick    # seconds: a smoke test
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

DIGITS = 10
PAD = DIGITS
TAGS = "-^v"
SLOPE, PEAK, VALLEY = range(3)


def tag(digits):
    """The tag of every digit: PEAK, VALLEY or SLOPE, comparing it with the neighbours it has."""
    digits = np.asarray(digits)
    # A missing neighbour must not decide anything: as -inf it loses every "larger
    # than" comparison for the peak test, and as +inf every one for the valley test.
    left_low = np.concatenate([[-np.inf], digits[:-1]])
    right_low = np.concatenate([digits[1:], [-np.inf]])
    left_high = np.concatenate([[np.inf], digits[:-1]])
    right_high = np.concatenate([digits[1:], [np.inf]])
    tags = np.full(len(digits), SLOPE, dtype=np.int64)
    tags[(digits > left_low) & (digits > right_low)] = PEAK
    tags[(digits < left_high) & (digits < right_high)] = VALLEY
    return tags


def make_dataset(count, min_length, max_length, rng):
    sequences = [rng.integers(DIGITS, size=int(rng.integers(min_length, max_length + 1)))
                 for _ in range(count)]
    return sequences, [tag(digits) for digits in sequences]


def left_context_bound(train_x, train_y, test_x, test_y):
    """Held-out accuracy of the best tag for each (previous digit, digit) seen in training.

    That is about the best any left-to-right tagger can do: the next digit,
    which decides the tag as much as the previous one, is not read yet.
    """
    counts = {}
    for digits, tags in zip(train_x, train_y):
        for key, label in zip(zip([None, *digits[:-1]], digits), tags):
            counts.setdefault(key, np.zeros(len(TAGS)))[label] += 1
    hits = [counts[key].argmax() == label if key in counts else False
            for digits, tags in zip(test_x, test_y)
            for key, label in zip(zip([None, *digits[:-1]], digits), tags)]
    return float(np.mean(hits))


class Tagger(nn.Module):
    """Embedding -> (bi)LSTM over each row's own length -> Linear tag scores at every step."""

    def __init__(self, embedding_dim, hidden_size, bidirectional, rng):
        super().__init__()
        self.embedding = nn.Embedding(DIGITS + 1, embedding_dim, padding_idx=PAD, rng=rng)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, bidirectional=bidirectional,
                            forget_bias=1.0, rng=rng)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), len(TAGS), rng=rng)

    def forward(self, digits, lengths):
        output, _ = self.lstm(self.embedding(digits), lengths=lengths)
        return self.head(output)


def token_accuracy(model, sequences, tags, batch_size=256):
    """Fraction of the real (unpadded) steps tagged right."""
    correct = total = 0
    model.eval()
    with numrnn.no_grad():
        for start in range(0, len(sequences), batch_size):
            digits, lengths = pad_sequences(sequences[start:start + batch_size],
                                            padding_value=PAD)
            targets, _ = pad_sequences(tags[start:start + batch_size])
            predicted = model(digits, lengths).data.argmax(axis=2)
            valid = F.sequence_mask(lengths, digits.shape[0])
            correct += int(((predicted == targets) & valid).sum())
            total += int(valid.sum())
    return correct / total


def train(name, model, batches, args, test_x, test_y):
    """Fit ``model``; returns its held-out per-token accuracy."""
    def step(model, batch):
        return F.sequence_cross_entropy(model(batch.inputs, batch.lengths), batch.targets,
                                        lengths=batch.lengths)

    def report(history):
        print(f"  {name:13} epoch {history.epoch[-1]:2d}  train loss {history.train_loss[-1]:.4f}"
              f"  held-out token accuracy {history.val_metric[-1]:.1%}  "
              f"{history.time[-1]:.1f} s", flush=True)

    fit(model, batches, step, Adam(model.parameters(), lr=args.lr), epochs=args.epochs,
        clip_grad_norm=args.clip, validate=lambda m: token_accuracy(m, test_x, test_y),
        mode="max", on_epoch_end=report, progress=False)
    return token_accuracy(model, test_x, test_y)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--min-length", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=32, help="per direction")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--bidirectional-only", action="store_true",
                        help="skip the left-to-right LSTM the bidirectional one is compared with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", "--tiny", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.epochs = 256, 64, 2
        args.embedding_dim, args.hidden_size = 8, 8
    if args.min_length < 2 or args.max_length < args.min_length:
        parser.error("need 2 <= --min-length <= --max-length")
    return args


def main(argv=None):
    """Train and evaluate; returns {model name: held-out per-token accuracy, "seconds": ...}."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    train_x, train_y = make_dataset(args.train_size, args.min_length, args.max_length, rng)
    test_x, test_y = make_dataset(args.test_size, args.min_length, args.max_length, rng)
    shares = np.bincount(np.concatenate(test_y), minlength=len(TAGS)) / sum(map(len, test_y))
    print(f"{len(train_x)} training and {len(test_x)} held-out sequences of "
          f"{args.min_length}-{args.max_length} digits; held-out tags: "
          + ", ".join(f"{TAGS[k]} {shares[k]:.0%}" for k in range(len(TAGS))))
    print(f"  digits {' '.join(map(str, train_x[0]))}\n  tags   "
          + " ".join(TAGS[t] for t in train_y[0]))

    batches = BucketIterator(train_x, args.batch_size, targets=train_y, per_step_targets=True,
                             seed=args.seed, padding_value=PAD)
    variants = [("bidirectional", True)] + ([] if args.bidirectional_only
                                            else [("left-to-right", False)])
    results, models = {}, {}
    for name, bidirectional in variants:
        models[name] = Tagger(args.embedding_dim, args.hidden_size, bidirectional,
                              rng=args.seed)
        results[name] = train(name, models[name], batches, args, test_x, test_y)

    print("held-out per-token accuracy: "
          + ", ".join(f"{name} {accuracy:.1%}" for name, accuracy in results.items())
          + f" (always '{TAGS[int(shares.argmax())]}': {shares.max():.1%}; best guess from the "
          f"previous and current digit only: "
          f"{left_context_bound(train_x, train_y, test_x, test_y):.1%})")
    digits, lengths = pad_sequences(test_x[:3], padding_value=PAD)
    with numrnn.no_grad():
        predicted = models["bidirectional"](digits, lengths).data.argmax(axis=2)
    for row, length in enumerate(lengths):
        print(f"  digits    {' '.join(str(d) for d in test_x[row])}\n"
              f"  true      {' '.join(TAGS[t] for t in test_y[row])}\n"
              f"  predicted {' '.join(TAGS[t] for t in predicted[:length, row])}")
    results["seconds"] = time.perf_counter() - started
    print(f"total {results['seconds']:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return results


if __name__ == "__main__":
    main()
