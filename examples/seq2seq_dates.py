"""Normalise dates written many ways into ISO 8601 with a character-level seq2seq model.

    "22 Nov 2026", "november 22, 2026", "22/11/26", "2026.11.22", "the 22nd of NOVEMBER 2026"
        -> "2026-11-22"

A bidirectional LSTM encoder reads the characters, an LSTM decoder with Luong
attention writes the ten ISO characters; training uses numrnn's ``fit`` loop
with gradient clipping and a teacher-forcing ratio that anneals from 1 towards
``--final-teacher-forcing`` (scheduled sampling). Held-out exact-match accuracy
is printed for greedy decoding and beam search, and an attention heat-map is
saved when matplotlib is installed (``pip install numrnn[plot]``): the ISO
year attends to the year digits wherever they stand in the input.

    python examples/seq2seq_dates.py                 # the full run (a few minutes)
    python examples/seq2seq_dates.py --tiny          # seconds: a smoke test

Slash dates are always day first (22/11/26), so no input is ambiguous; two-digit
years mean 1950-2049.
"""

import argparse
import datetime
import os
import sys
import time

import numpy as np

import numrnn
from numrnn import nn
from numrnn.data import BucketIterator, CharVocab, pad_sequences
from numrnn.optim import Adam
from numrnn.training import fit

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
FIRST_DAY = datetime.date(1950, 1, 1)
DAYS_SPANNED = (datetime.date(2049, 12, 31) - FIRST_DAY).days + 1
# Every character any format can produce, so the vocabulary never depends on the sample.
SOURCE_CHARS = "0123456789 ,./-" + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TARGET_CHARS = "0123456789-"


def _ordinal(day):
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month_name(month, rng, short):
    name = MONTHS[month - 1][:3] if short else MONTHS[month - 1]
    return [name, name.title(), name.upper()][rng.integers(3)]


def render_date(date, rng):
    """``date`` in one of many human spellings, picked with ``rng``."""
    d, m, y = date.day, date.month, date.year
    day = f"{d:02d}" if rng.random() < 0.5 else str(d)
    month = f"{m:02d}" if rng.random() < 0.5 else str(m)
    long_name, short_name = _month_name(m, rng, False), _month_name(m, rng, True)
    formats = [
        lambda: f"{day} {short_name} {y}",
        lambda: f"{day} {long_name} {y}",
        lambda: f"{long_name} {d}, {y}",
        lambda: f"{short_name} {d}, {y}",
        lambda: f"{short_name}. {d}, {y}",
        lambda: f"{short_name} {d} {y}",
        lambda: f"{day}-{short_name}-{y}",
        lambda: f"{_ordinal(d)} {long_name} {y}",
        lambda: f"the {_ordinal(d)} of {long_name} {y}",
        lambda: f"{long_name} {_ordinal(d)}, {y}",
        lambda: f"{day}/{month}/{y % 100:02d}",
        lambda: f"{day}/{month}/{y}",
        lambda: f"{day}.{month}.{y}",
        lambda: f"{day}-{month}-{y}",
        lambda: f"{y}-{m:02d}-{d:02d}",
        lambda: f"{y}/{m:02d}/{d:02d}",
        lambda: f"{y}.{month}.{day}",
        lambda: f"{y}{m:02d}{d:02d}",
    ]
    return formats[rng.integers(len(formats))]()


def make_pairs(count, rng, exclude=()):
    """``count`` distinct (source text, ISO text) pairs whose sources are not in ``exclude``."""
    seen, pairs = set(exclude), []
    while len(pairs) < count:
        date = FIRST_DAY + datetime.timedelta(days=int(rng.integers(DAYS_SPANNED)))
        source = render_date(date, rng)
        if source not in seen:
            seen.add(source)
            pairs.append((source, date.isoformat()))
    return pairs


def encode_pairs(pairs, src_vocab, tgt_vocab):
    sources = [src_vocab.encode(source) for source, _ in pairs]
    targets = [tgt_vocab.encode(target, add_bos=True, add_eos=True) for _, target in pairs]
    return sources, targets


def exact_match(model, pairs, src_vocab, tgt_vocab, beam_size=1, batch_size=256):
    """Fraction of ``pairs`` decoded exactly right (greedy when ``beam_size`` is 1)."""
    correct = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        src, lengths = pad_sequences([src_vocab.encode(s) for s, _ in chunk],
                                     padding_value=src_vocab.pad_index)
        result = model.greedy_decode(src, lengths, max_length=12) if beam_size == 1 else \
            model.beam_search(src, lengths, beam_size=beam_size, max_length=12, alpha=0.6)
        correct += sum(tgt_vocab.decode(tokens[:length]) == target
                       for tokens, length, (_, target) in zip(result.tokens, result.lengths,
                                                              chunk))
    return correct / len(pairs)


def save_heatmap(model, source, src_vocab, tgt_vocab, path):
    """Plot the attention of one greedy decoding; returns False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src = src_vocab.encode(source)[:, None]
    result = model.greedy_decode(src, np.array([len(src)]), max_length=12)
    length = int(result.lengths[0])
    labels = [tgt_vocab.itos[i] for i in result.tokens[0, :length]]
    fig, ax = plt.subplots(figsize=(0.35 * len(source) + 2, 0.35 * length + 1.5))
    ax.imshow(result.attention[0, :length], cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(source)), list(source))
    ax.set_yticks(range(length), labels)
    ax.set_xlabel("source characters")
    ax.set_ylabel("output characters")
    ax.set_title(f"{source!r} -> {tgt_vocab.decode(result.tokens[0, :length])!r}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--embedding-dim", type=int, default=24)
    parser.add_argument("--hidden-size", type=int, default=64,
                        help="encoder size per direction; the decoder gets twice this")
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--final-teacher-forcing", type=float, default=0.8,
                        help="teacher-forcing ratio of the last epoch (1 = always)")
    parser.add_argument("--beam-size", type=int, default=3, help="0 skips beam search")
    parser.add_argument("--plot", default="dates_attention.png",
                        help="attention heat-map PNG ('' to skip)")
    parser.add_argument("--plot-text", default="November 22, 2026",
                        help="the date whose attention is plotted")
    parser.add_argument("--save", default="", help="write the trained model to this file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true",
                        help="tiny data and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.tiny:
        args.train_size, args.test_size, args.epochs = 256, 64, 2
        args.embedding_dim, args.hidden_size, args.beam_size = 8, 16, 2
    return args


def main(argv=None):
    """Train, evaluate and report; returns the held-out greedy exact-match accuracy."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    src_vocab, tgt_vocab = CharVocab(SOURCE_CHARS), CharVocab(TARGET_CHARS)
    train_pairs = make_pairs(args.train_size, rng)
    test_pairs = make_pairs(args.test_size, rng, exclude=[s for s, _ in train_pairs])
    sources, targets = encode_pairs(train_pairs, src_vocab, tgt_vocab)
    target_lengths = np.array([len(t) for t in targets], dtype=np.int64)
    batches = BucketIterator(sources, args.batch_size, targets=targets, per_step_targets=True,
                             seed=args.seed, padding_value=src_vocab.pad_index,
                             target_padding_value=tgt_vocab.pad_index)

    encoder = nn.LSTM(args.embedding_dim, args.hidden_size, bidirectional=True,
                      forget_bias=1.0, rng=args.seed)
    model = nn.Seq2Seq(encoder, len(src_vocab), len(tgt_vocab),
                       decoder_hidden_size=2 * args.hidden_size, attention="general",
                       pad_index=src_vocab.pad_index, bos_index=tgt_vocab.bos_index,
                       eos_index=tgt_vocab.eos_index, rng=args.seed)
    optimizer = Adam(model.parameters(), lr=args.lr)
    sampling_rng = np.random.default_rng(args.seed + 1)
    schedule = {"ratio": 1.0}

    def epoch_batches(epoch):
        # Scheduled sampling: lean on the model's own predictions more as it improves.
        fraction = epoch / max(args.epochs - 1, 1)
        schedule["ratio"] = 1.0 - fraction * (1.0 - args.final_teacher_forcing)
        return batches

    def step(model, batch):
        return model.loss(batch.inputs, batch.lengths, batch.targets,
                          target_lengths[batch.indices],
                          teacher_forcing_ratio=schedule["ratio"], rng=sampling_rng)

    def report(history):
        print(f"epoch {history.epoch[-1]:2d}  loss {history.train_loss[-1]:.4f}  "
              f"teacher forcing {schedule['ratio']:.2f}  {history.time[-1]:.1f} s", flush=True)

    print(f"{len(train_pairs)} training pairs, {len(test_pairs)} held out; e.g. "
          + "; ".join(f"{s!r} -> {t}" for s, t in train_pairs[:3]))
    fit(model, epoch_batches, step, optimizer, epochs=args.epochs, clip_grad_norm=args.clip,
        on_epoch_end=report, progress=False)
    model.eval()
    accuracy = exact_match(model, test_pairs, src_vocab, tgt_vocab)
    print(f"held-out exact match, greedy: {accuracy:.2%}")
    if args.beam_size > 1:
        beam_accuracy = exact_match(model, test_pairs, src_vocab, tgt_vocab, args.beam_size)
        print(f"held-out exact match, beam {args.beam_size}: {beam_accuracy:.2%}")
    for source, target in test_pairs[:5]:
        src = src_vocab.encode(source)[:, None]
        tokens = model.greedy_decode(src, np.array([len(src)]), max_length=12).tokens[0]
        print(f"  {source!r:32} -> {tgt_vocab.decode(tokens)}  (want {target})")
    if args.plot:
        if save_heatmap(model, args.plot_text, src_vocab, tgt_vocab, args.plot):
            print(f"attention heat-map saved to {args.plot}")
        else:
            print("matplotlib is not installed: no heat-map (pip install numrnn[plot])")
    if args.save:
        numrnn.save(model, args.save)
        print(f"model saved to {args.save}")
    print(f"total {time.perf_counter() - started:.1f} s wall, "
          f"{time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return accuracy


if __name__ == "__main__":
    main()
