"""Frame sequences, many-to-one: a CNN on every frame feeds an LSTM that names the motion.

Each video is 4 to 10 frames of 16x16 noise in which one shape (a square, a
cross or a ring, in a random place) moves left, right, up or down by one (or,
in clips short enough, two) pixels a frame; the class is the direction. No
single frame tells it: the model must compare where the shape is from frame to
frame. Guessing scores 25%.

The same small CNN (Conv2d -> ReLU -> MaxPool2d, twice, then Flatten) turns
every frame into a vector that keeps where its features are; the LSTM reads
those vectors in order over each clip's own length (``lengths=``: the padding
frames of a short clip are never read) and ``F.last_valid_step`` hands its
last valid output to a linear classifier. The trained model is saved with
``numrnn.save`` and rebuilt with ``numrnn.load_model``, which predicts the same.

    python examples/frame_classifier.py            # about 1-2 minutes on 2 cores
    python examples/frame_classifier.py --quick    # seconds: a smoke test
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.optim import Adam, clip_grad_norm_

DIRECTIONS = ("left", "right", "up", "down")
# (row step, column step) of each direction, in pixels per frame before the speed.
MOVES = ((0, -1), (0, 1), (-1, 0), (1, 0))
SIZE = 16
SHAPE_SIDE = 5


def shape_mask(kind):
    """A SHAPE_SIDE x SHAPE_SIDE stamp: 0 a filled square, 1 a cross, 2 a ring."""
    grid = np.zeros((SHAPE_SIDE, SHAPE_SIDE), dtype=np.float32)
    middle = SHAPE_SIDE // 2
    if kind == 0:
        grid[1:-1, 1:-1] = 1.0
    elif kind == 1:
        grid[middle, :] = grid[:, middle] = 1.0
    else:
        grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = 1.0
    return grid


def make_dataset(count, max_frames, noise, rng):
    """``(videos (count, max_frames, 1, SIZE, SIZE), lengths (count,), labels (count,))``.

    Frames past a clip's length are zeros: padding, never read by the LSTM.
    """
    videos = np.zeros((count, max_frames, 1, SIZE, SIZE), dtype=np.float32)
    lengths = rng.integers(4, max_frames + 1, size=count)
    labels = rng.integers(len(DIRECTIONS), size=count)
    for index, (length, label) in enumerate(zip(lengths, labels)):
        travel = SIZE - SHAPE_SIDE
        # Two pixels a frame only where the whole path fits in the frame.
        speed = int(rng.integers(1, 3)) if 2 * (length - 1) <= travel else 1
        step_row, step_col = (speed * move for move in MOVES[label])
        # Start where the whole path stays inside the frame.
        rows = (max(0, -step_row * (length - 1)), travel - max(0, step_row * (length - 1)))
        cols = (max(0, -step_col * (length - 1)), travel - max(0, step_col * (length - 1)))
        row, col = int(rng.integers(rows[0], rows[1] + 1)), int(rng.integers(cols[0], cols[1] + 1))
        stamp = shape_mask(int(rng.integers(3)))
        frames = rng.standard_normal((length, SIZE, SIZE)).astype(np.float32) * noise
        for t in range(length):
            top, left = row + t * step_row, col + t * step_col
            frames[t, top:top + SHAPE_SIDE, left:left + SHAPE_SIDE] += stamp
        videos[index, :length, 0] = frames
    return videos, lengths.astype(np.int64), labels.astype(np.int64)


@numrnn.io.register_model
class FrameClassifier(nn.Module):
    """Per frame: (Conv2d -> ReLU -> MaxPool2d) x 2 -> Flatten; then LSTM -> last step -> Linear."""

    def __init__(self, channels=8, hidden_size=64, num_classes=4, rng=None):
        super().__init__()
        self.channels, self.hidden_size, self.num_classes = channels, hidden_size, num_classes
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, padding=1, rng=rng)
        self.conv2 = nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1, rng=rng)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        features = 2 * channels * (SIZE // 4) ** 2
        self.lstm = nn.LSTM(features, hidden_size, forget_bias=1.0, rng=rng)
        self.head = nn.Linear(hidden_size, num_classes, rng=rng)

    def get_config(self):
        return {"channels": self.channels, "hidden_size": self.hidden_size,
                "num_classes": self.num_classes}

    def forward(self, videos, lengths):
        """``videos`` (B, T, 1, H, W), ``lengths`` (B,); returns class scores (B, K)."""
        batch, steps = videos.shape[:2]
        frames = F.reshape(videos, (batch * steps,) + tuple(videos.shape[2:]))
        h = self.pool(F.relu(self.conv1(frames)))
        h = self.flatten(self.pool(F.relu(self.conv2(h))))              # (B * T, features)
        sequence = F.permute(F.reshape(h, (batch, steps, -1)), (1, 0, 2))  # (T, B, features)
        output, _ = self.lstm(sequence, lengths=lengths)
        return self.head(F.last_valid_step(output, lengths))


def predict(model, videos, lengths, batch_size=256):
    """Predicted class of each video, in order."""
    predictions = []
    model.eval()
    with numrnn.no_grad():
        for start in range(0, len(videos), batch_size):
            stop = start + batch_size
            predictions.append(model(videos[start:stop], lengths[start:stop]).data.argmax(axis=1))
    model.train()
    return np.concatenate(predictions)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--test-size", type=int, default=600)
    parser.add_argument("--max-frames", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.epochs = 96, 48, 2
        args.channels, args.hidden_size = 4, 16
    if args.max_frames < 4:
        parser.error("--max-frames must be at least 4")
    return args


def main(argv=None):
    """Train, evaluate, save and reload; returns {"accuracy", "chance", "reloaded_same",
    "seconds"}."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    train = make_dataset(args.train_size, args.max_frames, args.noise, rng)
    test_videos, test_lengths, test_labels = make_dataset(args.test_size, args.max_frames,
                                                          args.noise, rng)
    print(f"{args.train_size} training and {args.test_size} held-out clips of 4-"
          f"{args.max_frames} frames, {SIZE}x{SIZE}; directions: {', '.join(DIRECTIONS)}")
    model = FrameClassifier(args.channels, args.hidden_size, len(DIRECTIONS), rng=args.seed)
    print(model)
    optimizer = Adam(model.parameters(), lr=args.lr)
    order_rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.epochs + 1):
        order, losses = order_rng.permutation(args.train_size), []
        for start in range(0, args.train_size, args.batch_size):
            rows = order[start:start + args.batch_size]
            videos, lengths, labels = (array[rows] for array in train)
            # Frames past the longest clip of the batch are padding for every row.
            videos = videos[:, :int(lengths.max())]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(videos, lengths), labels)
            loss.backward()
            clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            losses.append(float(loss.data))
        accuracy = float(np.mean(predict(model, test_videos, test_lengths) == test_labels))
        print(f"epoch {epoch:2d}  train loss {np.mean(losses):.4f}  held-out accuracy "
              f"{accuracy:.1%}  {time.perf_counter() - started:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "frame_classifier.safetensors")
        numrnn.save(model, path)
        reloaded = numrnn.load_model(path)
    same = np.array_equal(predict(reloaded, test_videos, test_lengths),
                          predict(model, test_videos, test_lengths))
    print(f"saved and reloaded: {'the same predictions' if same else 'DIFFERENT predictions'}")
    chance = float(np.max(np.bincount(test_labels, minlength=len(DIRECTIONS))) / args.test_size)
    seconds = time.perf_counter() - started
    print(f"held-out accuracy {accuracy:.1%} (majority class: {chance:.1%})")
    print(f"total {seconds:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return {"accuracy": accuracy, "chance": chance, "reloaded_same": same, "seconds": seconds}


if __name__ == "__main__":
    main()
