"""One-to-many from an image: a CNN reads a picture, an LSTM with attention describes it.

Each 24x24 picture holds one to three coloured shapes (red, green or blue;
square, circle or triangle), each in its own cell of a 3x3 grid, a little off
the cell's centre, on a noisy background. Its caption names the shapes in
reading order (top to bottom, left to right) and says how each stands to the
one before it::

    a blue circle
    a red square above a green triangle
    a green circle left of a green square above a blue triangle

so a picture has exactly one right caption, and only an exact match counts.

The model is an encoder and a decoder in one Module. The encoder, three times
Conv2d -> ReLU -> MaxPool2d, turns a picture into a 3x3 feature map, one
position per grid cell. Its mean over the positions initialises the decoder
LSTM's state; at every step the decoder attends over the nine positions
(additive attention) and combines what it read with its own state before
naming the next word (Luong's attentional state, fed back as input). Training
uses teacher forcing; captions are generated with greedy and beam search, by
the same :func:`numrnn.nn.seq2seq_decode.greedy_search` and ``beam_search``
that decode a Seq2Seq, since the model offers the same ``encode`` /
``decode_step`` / ``output`` steps.

The script prints the held-out exact-match rate of both searches, saves the
model with ``numrnn.save`` and reloads it with ``numrnn.load_model`` (the
encoder and decoder together), checks that the reloaded model writes the same
captions, and draws a PNG sheet of held-out pictures with their beam-search
captions (white when right, orange when wrong) without any imaging library.

    python examples/image_captioning.py            # a few minutes on 2 cores
    python examples/image_captioning.py --quick    # seconds: a smoke test
"""

import argparse
import os
import pathlib
import sys
import time

import numpy as np

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.nn.seq2seq_decode import beam_search, greedy_search
from numrnn.optim import Adam, clip_grad_norm_
from numrnn.optim.lr_scheduler import CosineAnnealingLR

# The PNG drawing lives beside this script, in examples/caption_sheet.py.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from caption_sheet import caption_sheet, write_png  # noqa: E402

SIZE, CELL, GRID, SIDE = 24, 8, 3, 6
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.3, 1.0)}
SHAPES = ("square", "circle", "triangle")
SPECIALS = ("<pad>", "<bos>", "<eos>")
WORDS = SPECIALS + ("a",) + tuple(COLOURS) + SHAPES + ("above", "left", "of")
PAD, BOS, EOS = range(3)
INDEX = {word: index for index, word in enumerate(WORDS)}
# Three shapes and two relations of two words, then <eos>.
MAX_WORDS = 3 * 3 + 2 * 2 + 1


def stamp(shape):
    """A SIDE x SIDE boolean mask of ``shape``."""
    rows, cols = np.mgrid[:SIDE, :SIDE] - (SIDE - 1) / 2
    if shape == "square":
        return np.ones((SIDE, SIDE), dtype=bool)
    if shape == "circle":
        return rows ** 2 + cols ** 2 <= 2.9 ** 2
    # A triangle pointing up: each row half a pixel wider on both sides than the one above.
    return np.abs(cols) <= (rows + (SIDE - 1) / 2 + 1) / 2


def caption(objects):
    """The words describing ``objects``, a list of (cell, colour, shape) in reading order."""
    words = []
    for index, (cell, colour, shape) in enumerate(objects):
        if index:
            same_row = cell // GRID == objects[index - 1][0] // GRID
            words += ["left", "of"] if same_row else ["above"]
        words += ["a", colour, shape]
    return words


def render(objects, noise, rng):
    """A (3, SIZE, SIZE) float32 picture of ``objects`` on a noisy dark background."""
    image = np.full((3, SIZE, SIZE), 0.1, dtype=np.float32)
    image += rng.standard_normal(image.shape).astype(np.float32) * noise
    for cell, colour, shape in objects:
        top = cell // GRID * CELL + int(rng.integers(CELL - SIDE + 1))
        left = cell % GRID * CELL + int(rng.integers(CELL - SIDE + 1))
        mask = stamp(shape)
        for channel, value in enumerate(COLOURS[colour]):
            image[channel, top:top + SIDE, left:left + SIDE][mask] = value
    return image


def make_dataset(count, noise, rng):
    """``(images (N, 3, SIZE, SIZE), captions (MAX_WORDS + 1, N), lengths (N,))``.

    Captions are time-major ``<bos> words <eos>`` padded with ``<pad>``;
    ``lengths`` counts both markers.
    """
    images = np.empty((count, 3, SIZE, SIZE), dtype=np.float32)
    tokens = np.full((MAX_WORDS + 1, count), PAD, dtype=np.int64)
    lengths = np.empty(count, dtype=np.int64)
    for row in range(count):
        cells = np.sort(rng.choice(GRID * GRID, size=int(rng.integers(1, 4)), replace=False))
        objects = [(int(cell), str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)))
                   for cell in cells]
        images[row] = render(objects, noise, rng)
        ids = [BOS] + [INDEX[word] for word in caption(objects)] + [EOS]
        tokens[:len(ids), row] = ids
        lengths[row] = len(ids)
    return images, tokens, lengths


def words_of(ids):
    """The caption text of a row of ids, up to its ``<eos>``."""
    words = []
    for index in ids:
        if index in (EOS, PAD):
            break
        words.append(WORDS[index])
    return " ".join(words)


@numrnn.io.register_model
class ImageCaptioner(nn.Module):
    """A CNN encoder whose 3x3 feature map an attentive LSTM decoder describes."""

    pad_index, bos_index, eos_index = PAD, BOS, EOS
    dtype = np.dtype(np.float32)

    def __init__(self, channels=16, hidden_size=96, embedding_dim=32, rng=None):
        super().__init__()
        self.channels, self.hidden_size, self.embedding_dim = channels, hidden_size, embedding_dim
        features = 2 * channels
        self.conv1 = nn.Conv2d(3, channels, kernel_size=3, padding=1, rng=rng)
        self.conv2 = nn.Conv2d(channels, features, kernel_size=3, padding=1, rng=rng)
        self.conv3 = nn.Conv2d(features, features, kernel_size=3, padding=1, rng=rng)
        self.pool = nn.MaxPool2d(2)
        self.to_hidden = nn.Linear(features, hidden_size, rng=rng)
        self.to_cell = nn.Linear(features, hidden_size, rng=rng)
        self.embedding = nn.Embedding(len(WORDS), embedding_dim, padding_idx=PAD, rng=rng)
        self.cell = nn.LSTMCell(embedding_dim + hidden_size, hidden_size, rng=rng)
        self.attention = nn.Attention(hidden_size, features, method="additive",
                                      batch_first=True, rng=rng)
        self.combine = nn.Linear(features + hidden_size, hidden_size, rng=rng)
        self.output = nn.Linear(hidden_size, len(WORDS), rng=rng)

    def get_config(self):
        return {"channels": self.channels, "hidden_size": self.hidden_size,
                "embedding_dim": self.embedding_dim}

    def encode(self, images, lengths=None):
        """``(memory, state)``: the attention memory of the 3x3 feature map and the
        decoder's first state. ``lengths`` is unused: every picture has nine positions."""
        h = self.pool(F.relu(self.conv1(images)))
        h = self.pool(F.relu(self.conv2(h)))
        h = self.pool(F.relu(self.conv3(h)))                                 # (B, C, 3, 3)
        batch, features = h.shape[:2]
        positions = F.permute(F.reshape(h, (batch, features, -1)), (0, 2, 1))  # (B, 9, C)
        summary = F.mean(positions, axis=1)
        state = nn.DecoderState((F.tanh(self.to_hidden(summary)),),
                                (F.tanh(self.to_cell(summary)),),
                                numrnn.Tensor(np.zeros((batch, self.hidden_size), np.float32)))
        return self.attention.prepare(positions), state

    def decode_step(self, tokens, state, memory):
        """``(attentional (B, H), next state, attention weights (B, 9))`` for words ``(B,)``."""
        x = F.concatenate([self.embedding(tokens), state.feed], axis=1)
        h, c = self.cell(x, (state.hidden[0], state.cell[0]))
        context, weights = self.attention.attend(h, memory)
        attentional = F.tanh(self.combine(F.concatenate([context, h], axis=1)))
        return attentional, nn.DecoderState((h,), (c,), attentional), weights

    def forward(self, images, words_in):
        """Word scores ``(T, B, V)`` given each step's previous word ``(T, B)``."""
        memory, state = self.encode(images)
        attentionals = []
        for tokens in words_in:
            attentional, state, _ = self.decode_step(tokens, state, memory)
            attentionals.append(attentional)
        return self.output(F.stack(attentionals, axis=0))


def train(model, data, args, rng):
    images, tokens, lengths = data
    optimizer = Adam(model.parameters(), lr=args.lr)
    # Annealed batch by batch to a twentieth: the last epochs polish what the first found.
    schedule = CosineAnnealingLR(optimizer, T_max=args.epochs * -(-len(images) // args.batch_size),
                                 eta_min=args.lr / 20)
    for epoch in range(1, args.epochs + 1):
        started, losses = time.perf_counter(), []
        order = rng.permutation(len(images))
        for first in range(0, len(order), args.batch_size):
            rows = order[first:first + args.batch_size]
            steps = int(lengths[rows].max())
            batch_tokens = tokens[:steps, rows]
            scores = model(images[rows], batch_tokens[:-1])
            loss = F.sequence_cross_entropy(scores, batch_tokens[1:], lengths=lengths[rows] - 1)
            optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.data))
        print(f"  epoch {epoch:2d}  loss {np.mean(losses):.4f}  {len(losses)} batches of "
              f"{args.batch_size}  {time.perf_counter() - started:.1f} s", flush=True)


def captions_by(search, model, images, **options):
    """The captions ``search`` (greedy_search or beam_search) writes for ``images``."""
    texts = []
    for first in range(0, len(images), 256):
        result = search(model, images[first:first + 256], None, max_length=MAX_WORDS, **options)
        texts += [words_of(row) for row in result.tokens]
    return texts


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=96)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--output-dir", default=str(pathlib.Path(__file__).resolve()
                                                    .parents[1] / "out" / "image_captioning"),
                        help="where the PNG sheet and the saved model go (default: out/ of "
                             "the repository, which git ignores)")
    # One thread by default: the products of a batch of 50 are too small to split, and on
    # a shared 2-core machine two threads made a training step five times slower
    # (0.67 s against 0.13 s of wall time, measured with the load average at 7).
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for numrnn's kernels and BLAS (numrnn.set_num_threads)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size, args.epochs = 200, 24, 1
        args.channels, args.hidden_size = 4, 16
    return args


def main(argv=None):
    """Train, caption held-out pictures, save and reload, draw the sheet.

    Returns {"greedy", "beam", "reloaded_same", "png", "model", "captioner", "seconds",
    "cpu_seconds"}: the exact-match shares, paths, the trained model and the times.
    """
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The BLAS thread count is process-wide: put it back for whoever called main().
    threads = numrnn.get_num_threads()
    numrnn.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        numrnn.set_num_threads(threads)


def run(args):
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    data = make_dataset(args.train_size, args.noise, rng)
    test_images, test_tokens, _ = make_dataset(args.test_size, args.noise, rng)
    truths = [words_of(row) for row in test_tokens[1:].T]
    print(f"{args.train_size} training and {args.test_size} held-out {SIZE}x{SIZE} pictures "
          f"of 1-3 shapes; {len(WORDS)} words")
    model = ImageCaptioner(args.channels, args.hidden_size, rng=args.seed)
    print(model)
    train(model, data, args, rng)
    model.eval()

    greedy = captions_by(greedy_search, model, test_images)
    beam = captions_by(beam_search, model, test_images, beam_size=args.beam_size)
    scores = {name: float(np.mean([text == truth for text, truth in zip(texts, truths)]))
              for name, texts in (("greedy", greedy), ("beam", beam))}
    print(f"held-out exact-match captions: greedy {scores['greedy']:.1%}, beam search "
          f"(beam {args.beam_size}) {scores['beam']:.1%} of {args.test_size}")
    for index in range(3):
        print(f"  truth: {truths[index]}\n  beam:  {beam[index]}")

    os.makedirs(args.output_dir, exist_ok=True)
    model_path = os.path.join(args.output_dir, "image_captioning.safetensors")
    numrnn.save(model, model_path)
    reloaded = numrnn.load_model(model_path).eval()
    same = captions_by(beam_search, reloaded, test_images, beam_size=args.beam_size) == beam
    print(f"saved and reloaded {model_path}: "
          f"{'the same captions' if same else 'DIFFERENT captions'}")

    shown = min(12, args.test_size)
    png_path = os.path.join(args.output_dir, "captions.png")
    sheet = caption_sheet(test_images[:shown], beam[:shown], truths[:shown])
    write_png(png_path, sheet, {"Title": "numrnn image captioning, beam search",
                                "Description": "\n".join(beam[:shown])})
    print(f"wrote {png_path} ({sheet.shape[1]}x{sheet.shape[0]})")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"total {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return {**scores, "reloaded_same": same, "png": png_path, "model": model_path,
            "captioner": model, "seconds": seconds, "cpu_seconds": cpu_seconds}


if __name__ == "__main__":
    main()
