"""Many-to-one: classify variable-length sequences by which hidden motif they contain.

Every sequence is a random string of letters ``a``..``j``, 8 to 40 long, with
exactly one of four three-letter motifs (``cab``, ``jig``, ...) planted at a
random place; the class is which motif. The motif can sit anywhere, so the
model must spot it as it reads and remember it until the end: guessing scores
25%.

An Embedding feeds an LSTM that runs each padded row over its own length
(``lengths=``); ``F.last_valid_step`` picks each row's output at its last real
character (the padded tail holds nothing) and a Linear layer scores the four
classes. Training uses ``fit`` on length-bucketed batches (``BucketIterator``)
and prints the held-out accuracy after every epoch.

    python examples/sequence_classification.py            # about a minute
    python examples/sequence_classification.py --quick    # seconds: a smoke test
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

LETTERS = "abcdefghij"
PAD = len(LETTERS)
MOTIF_LENGTH = 3


def make_motifs(count, rng):
    """``count`` distinct motifs of three letters, as token-id arrays."""
    motifs = set()
    while len(motifs) < count:
        motifs.add(tuple(rng.integers(len(LETTERS), size=MOTIF_LENGTH)))
    return [np.array(motif) for motif in sorted(motifs)]


def contains(tokens, motif):
    windows = np.lib.stride_tricks.sliding_window_view(tokens, len(motif))
    return bool((windows == motif).all(axis=1).any())


def make_dataset(count, motifs, min_length, max_length, rng):
    """``count`` (tokens, label) pairs: each sequence holds motif ``label`` and no other motif."""
    sequences, labels = [], []
    while len(sequences) < count:
        label = int(rng.integers(len(motifs)))
        tokens = rng.integers(len(LETTERS), size=int(rng.integers(min_length, max_length + 1)))
        start = int(rng.integers(len(tokens) - MOTIF_LENGTH + 1))
        tokens[start:start + MOTIF_LENGTH] = motifs[label]
        # Rejecting the rare accidental second motif keeps every label unambiguous.
        if any(contains(tokens, motif) for k, motif in enumerate(motifs) if k != label):
            continue
        sequences.append(tokens)
        labels.append(label)
    return sequences, np.array(labels, dtype=np.int64)


def as_text(tokens):
    return "".join(LETTERS[t] for t in tokens)


class MotifClassifier(nn.Module):
    """Embedding -> LSTM over each row's own length -> output at the last valid step -> Linear."""

    def __init__(self, num_classes, embedding_dim, hidden_size, rng):
        super().__init__()
        self.embedding = nn.Embedding(len(LETTERS) + 1, embedding_dim, padding_idx=PAD, rng=rng)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, forget_bias=1.0, rng=rng)
        self.head = nn.Linear(hidden_size, num_classes, rng=rng)

    def forward(self, tokens, lengths):
        output, _ = self.lstm(self.embedding(tokens), lengths=lengths)
        return self.head(F.last_valid_step(output, lengths))


def predict(model, sequences, batch_size=256):
    """Predicted class of each sequence, in order."""
    predictions = []
    model.eval()
    with numrnn.no_grad():
        for start in range(0, len(sequences), batch_size):
            tokens, lengths = pad_sequences(sequences[start:start + batch_size],
                                            padding_value=PAD)
            predictions.append(model(tokens, lengths).data.argmax(axis=1))
    return np.concatenate(predictions)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=4, help="number of motifs")
    parser.add_argument("--min-length", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=48)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", "--tiny", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.epochs = 256, 128, 2
        args.embedding_dim, args.hidden_size = 8, 16
    if args.min_length < MOTIF_LENGTH or args.max_length < args.min_length:
        parser.error(f"need {MOTIF_LENGTH} <= --min-length <= --max-length")
    return args


def main(argv=None):
    """Train and evaluate; returns {"accuracy", "chance", "seconds"}."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    motifs = make_motifs(args.classes, rng)
    train_x, train_y = make_dataset(args.train_size, motifs, args.min_length, args.max_length,
                                    rng)
    test_x, test_y = make_dataset(args.test_size, motifs, args.min_length, args.max_length, rng)
    print(f"{args.classes} motifs: {', '.join(as_text(m) for m in motifs)}; "
          f"{len(train_x)} training and {len(test_x)} held-out sequences of "
          f"{args.min_length}-{args.max_length} letters, e.g. "
          f"{as_text(train_x[0])!r} -> {as_text(motifs[train_y[0]])}")

    batches = BucketIterator(train_x, args.batch_size, targets=train_y, seed=args.seed,
                             padding_value=PAD)
    model = MotifClassifier(args.classes, args.embedding_dim, args.hidden_size, rng=args.seed)
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

    predictions = predict(model, test_x)
    final = float(np.mean(predictions == test_y))
    chance = float(np.max(np.bincount(test_y, minlength=args.classes)) / len(test_y))
    print(f"held-out accuracy {final:.1%} (majority class: {chance:.1%})")
    for tokens, label, guess in list(zip(test_x, test_y, predictions))[:4]:
        print(f"  {as_text(tokens):42} motif {as_text(motifs[label])}, "
              f"predicted {as_text(motifs[guess])}")
    seconds = time.perf_counter() - started
    print(f"total {seconds:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return {"accuracy": final, "chance": chance, "seconds": seconds}


if __name__ == "__main__":
    main()
