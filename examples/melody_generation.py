"""One-to-many from a vector: a GRU writes melodies from a key, a mode and a contour.

Each training melody follows a small grammar. A *condition* names a key (one of
12 roots), a mode (major or natural minor) and a contour (rising, falling,
arch or valley); the melody starts on the key's root in the middle octave and
moves by one or two steps of the key's scale at a time, chosen at random, up
or down as the contour says (an arch rises for its first half and falls for the
rest, a valley the other way round). So one condition has many melodies, and
every one of them keeps to the key and the contour::

    C major, arch   C4 E4 G4 A4 C5 D5 C5 A4 F4 E4 D4 C4
    A minor, falling A4 G4 E4 D4 C4 B3 G3 F3 E3 C3 B2 A2

The condition enters once, as a vector: a linear layer turns it into the
decoder's initial hidden state (``h0 = tanh(W c + b)``), the one-to-many shape
with no input sequence at all. The GRU then reads its own previous note at every
step (teacher forcing while training, its own sample while generating). The
script trains on random melodies of all 96 conditions, then generates melodies
for every condition and counts those that keep the whole grammar: every note in
the key, the first on the root, every move one or two scale steps in the
contour's direction. It saves the model with ``numrnn.save`` and reloads it with
``numrnn.load_model``, which gives the same melodies.

    python examples/melody_generation.py            # 12 epochs, minutes on 2 cores
    python examples/melody_generation.py --quick    # seconds: a smoke test
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

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
MODES = tuple(SCALES)
CONTOURS = ("rising", "falling", "arch", "valley")
# Nine octaves of semitones, pitch 0 being C0: room for a 12-note melody of
# two-step moves (22 scale steps, at most 38 semitones) up or down from C4..B4.
PITCHES = 108
START = PITCHES       # the token the decoder reads before the first note
MIDDLE_OCTAVE = 48    # the root is played in the octave starting at C4
CONDITION_SIZE = len(NAMES) + len(MODES) + len(CONTOURS)


def note_name(pitch):
    return f"{NAMES[pitch % 12]}{pitch // 12}"


def condition_vector(root, mode, contour):
    """The one-hot encodings of root, mode and contour side by side."""
    vector = np.zeros(CONDITION_SIZE, dtype=np.float32)
    vector[root] = 1
    vector[len(NAMES) + MODES.index(mode)] = 1
    vector[len(NAMES) + len(MODES) + CONTOURS.index(contour)] = 1
    return vector


def directions(contour, moves):
    """+1 or -1 for each move of a melody with this contour."""
    half = moves // 2
    up = {"rising": [1] * moves, "falling": [-1] * moves,
          "arch": [1] * half + [-1] * (moves - half),
          "valley": [-1] * half + [1] * (moves - half)}[contour]
    return np.array(up)


def scale_pitches(root, mode):
    """Every pitch of the key in the playable range, in ascending order."""
    return np.array([pitch for pitch in range(PITCHES) if (pitch - root) % 12 in SCALES[mode]])


def melody(root, mode, contour, length, rng):
    """A random melody of the condition: scale steps of 1 or 2 in the contour's directions."""
    scale = scale_pitches(root, mode)
    degree = int(np.searchsorted(scale, MIDDLE_OCTAVE + root))
    notes = [int(scale[degree])]
    for direction in directions(contour, length - 1):
        degree += direction * int(rng.integers(1, 3))
        notes.append(int(scale[degree]))
    return notes


def keeps_grammar(notes, root, mode, contour):
    """Whether ``notes`` is a melody the grammar could have written for this condition."""
    scale = list(scale_pitches(root, mode))
    if notes[0] != MIDDLE_OCTAVE + root or any(note not in scale for note in notes):
        return False
    steps = np.diff([scale.index(note) for note in notes])
    wanted = directions(contour, len(notes) - 1)
    return bool(np.all(steps * wanted >= 1) and np.all(np.abs(steps) <= 2))


def all_conditions():
    return [(root, mode, contour) for root in range(len(NAMES)) for mode in MODES
            for contour in CONTOURS]


def make_dataset(count, length, rng):
    """``count`` (condition vectors (N, C), melodies (N, length)) drawn over every condition."""
    conditions = all_conditions()
    chosen = [conditions[i] for i in rng.integers(len(conditions), size=count)]
    vectors = np.stack([condition_vector(*condition) for condition in chosen])
    melodies = np.array([melody(*condition, length, rng) for condition in chosen])
    return vectors, melodies


@numrnn.io.register_model
class MelodyWriter(nn.Module):
    """Condition vector -> initial state of a GRU that writes one note per step."""

    def __init__(self, hidden_size=96, embedding_dim=24, rng=None):
        super().__init__()
        self.hidden_size, self.embedding_dim = hidden_size, embedding_dim
        self.to_state = nn.Linear(CONDITION_SIZE, hidden_size, rng=rng)
        self.embedding = nn.Embedding(PITCHES + 1, embedding_dim, rng=rng)
        self.gru = nn.GRU(embedding_dim, hidden_size, rng=rng)
        self.head = nn.Linear(hidden_size, PITCHES, rng=rng)

    def get_config(self):
        return {"hidden_size": self.hidden_size, "embedding_dim": self.embedding_dim}

    def initial_state(self, conditions):
        """(1, B, H): the condition, once, as the GRU's starting state."""
        return F.tanh(self.to_state(conditions)).unsqueeze(0)

    def forward(self, conditions, previous):
        """Note scores (T, B, PITCHES) given each step's previous note (T, B)."""
        output, _ = self.gru(self.embedding(previous), self.initial_state(conditions))
        return self.head(output)

    def generate(self, conditions, length, temperature=0.0, rng=None):
        """(B, length) melodies, greedy (``temperature=0``) or sampled, one step at a time."""
        batch = len(conditions)
        notes = np.empty((batch, length), dtype=np.int64)
        previous = np.full(batch, START, dtype=np.int64)
        with numrnn.no_grad():
            state = self.initial_state(numrnn.Tensor(conditions))
            for step in range(length):
                output, state = self.gru(self.embedding(previous[None]), state)
                scores = self.head(output[0]).data.astype(np.float64)
                if temperature > 0:
                    scores = scores / temperature
                    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
                    probabilities /= probabilities.sum(axis=1, keepdims=True)
                    previous = np.array([rng.choice(PITCHES, p=row) for row in probabilities])
                else:
                    previous = scores.argmax(axis=1)
                notes[:, step] = previous
        return notes


def train(model, vectors, melodies, args, rng):
    optimizer = Adam(model.parameters(), lr=args.lr)
    # Teacher forcing: step t reads the true note t - 1 (START before the first).
    previous = np.concatenate([np.full((len(melodies), 1), START), melodies[:, :-1]], axis=1)
    for epoch in range(1, args.epochs + 1):
        started, losses = time.perf_counter(), []
        order = rng.permutation(len(melodies))
        for first in range(0, len(order), args.batch_size):
            rows = order[first:first + args.batch_size]
            scores = model(numrnn.Tensor(vectors[rows]), previous[rows].T)
            loss = F.sequence_cross_entropy(scores, melodies[rows].T)
            optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            losses.append(float(loss.data))
        print(f"  epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
              f"{time.perf_counter() - started:.1f} s", flush=True)


def grammar_share(model, length, samples, temperature, rng):
    """Share of generated melodies, over every condition, that keep the whole grammar."""
    conditions = all_conditions() * samples
    vectors = np.stack([condition_vector(*condition) for condition in conditions])
    notes = model.generate(vectors, length, temperature, rng)
    kept = [keeps_grammar(list(row), *condition) for row, condition in zip(notes, conditions)]
    return float(np.mean(kept)), notes, conditions


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--length", type=int, default=12, help="notes per melody")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=96)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--temperature", type=float, default=0.7,
                        help="sampling temperature of the second count (0: greedy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.epochs, args.hidden_size = 512, 2, 16
    if args.length < 3 or args.length > 12:
        parser.error("--length must be in 3..12 (longer melodies leave the playable range)")
    return args


def main(argv=None):
    """Train, count grammatical melodies, save and reload; returns the shares and seconds."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    vectors, melodies = make_dataset(args.train_size, args.length, rng)
    print(f"{len(melodies)} melodies of {args.length} notes over {len(all_conditions())} "
          f"conditions (12 keys x 2 modes x 4 contours)")
    model = MelodyWriter(args.hidden_size, rng=args.seed)
    train(model, vectors, melodies, args, rng)
    model.eval()

    greedy, notes, conditions = grammar_share(model, args.length, 1, 0.0, rng)
    sampled, _, _ = grammar_share(model, args.length, 4, args.temperature,
                                  np.random.default_rng(args.seed))
    print(f"melodies keeping the whole grammar: greedy {greedy:.1%} of "
          f"{len(conditions)}, sampled at temperature {args.temperature} {sampled:.1%}")
    for index in (0, 13, 42, 95):
        root, mode, contour = conditions[index]
        print(f"  {NAMES[root]:2} {mode} {contour:8}"
              f" {' '.join(note_name(note) for note in notes[index])}")

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "melody.safetensors")
        numrnn.save(model, path)
        reloaded = numrnn.load_model(path).eval()
    vectors = np.stack([condition_vector(*condition) for condition in conditions])
    same = np.array_equal(reloaded.generate(vectors, args.length), notes)
    print(f"saved and reloaded: {'the same melodies' if same else 'DIFFERENT melodies'}")
    seconds = time.perf_counter() - started
    print(f"total {seconds:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return {"greedy": greedy, "sampled": sampled, "reloaded_same": same, "seconds": seconds}


if __name__ == "__main__":
    main()
