"""A character-level LSTM language model of Python's standard library, and how to sample it.

The text is the source of a few standard-library modules
(``numrnn.data.stdlib_corpus``: no download). Every tenth block of 2,000
characters is held out, so both parts mix all the modules. The training text
is laid out as ``--batch-size`` contiguous streams and read in chunks of
``--seq-length`` characters by truncated backpropagation through time
(``TruncatedBPTT``): the LSTM state runs on from chunk to chunk, the gradient
stops at chunk boundaries. After every epoch the held-out
cross-entropy is printed in bits per character, next to two baselines: a
uniform guess, and a model that knows only how often each character occurs.

Then ``numrnn.generate.generate_text`` writes samples from the same prompt
with different sampling settings: the temperature divides the logits (low:
safe, repetitive; high: varied, error-prone), and top-k sampling draws only
among the k most likely characters, cutting off the long tail of unlikely ones.

    python examples/char_language_model.py            # about a minute
    python examples/char_language_model.py --quick    # seconds: a smoke test
"""

import argparse
import math
import os
import sys
import time

import numpy as np

from numrnn import functional as F
from numrnn.data import CharVocab, stdlib_corpus
from numrnn.generate import generate_text
from numrnn.language_model import CharLanguageModel
from numrnn.optim import Adam
from numrnn.training import StreamChunks, TruncatedBPTT, batchify, evaluate_stream, fit

BLOCK_CHARS = 2_000
HELD_OUT_EVERY = 10
# (temperature, top_k) pairs to sample with: greedy, cautious, plain, and plain but truncated.
SAMPLINGS = [(0.0, None), (0.5, None), (1.0, None), (1.0, 5)]


def split_blocks(text):
    """(training text, held-out text): every tenth block of BLOCK_CHARS characters is held out.

    Interleaved rather than a tail: the corpus is module after module, so its
    last tenth would be one module the model never saw the like of.
    """
    blocks = [text[start:start + BLOCK_CHARS] for start in range(0, len(text), BLOCK_CHARS)]
    held_out = set(range(HELD_OUT_EVERY - 1, len(blocks), HELD_OUT_EVERY))
    return ("".join(block for k, block in enumerate(blocks) if k not in held_out),
            "".join(blocks[k] for k in sorted(held_out)))


def unigram_bits(train_text, valid_text):
    """Bits per character of the held-out text under the training text's character frequencies."""
    counts = {}
    for char in train_text:
        counts[char] = counts.get(char, 0) + 1
    # Add-one smoothing: a character unseen in training must not cost infinitely many bits.
    total = len(train_text) + len(counts) + 1
    return -np.mean([math.log2(counts.get(char, 0) + 1) - math.log2(total)
                     for char in valid_text])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-chars", type=int, default=150_000,
                        help="characters of standard-library source to use")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32, help="parallel streams")
    parser.add_argument("--seq-length", type=int, default=64,
                        help="characters per truncated-BPTT chunk")
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    parser.add_argument("--prompt", default="    def ")
    parser.add_argument("--sample-length", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", "--tiny", action="store_true",
                        help="tiny corpus and model, for a smoke test in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.corpus_chars, args.epochs, args.batch_size, args.seq_length = 20_000, 1, 16, 32
        args.embedding_dim, args.hidden_size, args.sample_length = 8, 32, 40
    return args


def main(argv=None):
    """Train, report, sample; returns {"bpc": per-epoch held-out bits/char, "samples": {...}}."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    text = stdlib_corpus(max_chars=args.corpus_chars)
    train_text, valid_text = split_blocks(text)
    # Built from all the text, so that no held-out character is unknown to the model.
    vocab = CharVocab.build(text)
    train_streams = batchify(vocab.encode(train_text), args.batch_size)
    valid_streams = batchify(vocab.encode(valid_text), args.batch_size)
    # Next-character targets: the same streams shifted by one step.
    train_chunks = StreamChunks(train_streams[:-1], train_streams[1:], args.seq_length)
    # Validation has no backward pass, so longer chunks are cheaper (fewer calls).
    valid_chunks = StreamChunks(valid_streams[:-1], valid_streams[1:], 4 * args.seq_length)

    model = CharLanguageModel(vocab=vocab, embedding_dim=args.embedding_dim,
                              hidden_size=args.hidden_size, num_layers=args.num_layers,
                              rng=args.seed)

    def held_out_bpc(model):
        return evaluate_stream(model, valid_chunks, F.cross_entropy) / math.log(2)

    def report(history):
        print(f"epoch {history.epoch[-1]}/{args.epochs}: held-out {history.val_metric[-1]:.3f} "
              f"bits/char, training {history.train_loss[-1] / math.log(2):.3f} "
              f"({history.steps[-1]} updates, {history.time[-1]:.1f} s)", flush=True)

    print(f"{len(text):,} characters of Python source ({len(vocab)} symbols), "
          f"{len(valid_text):,} held out; LSTM {args.num_layers}x{args.hidden_size}, "
          f"{args.batch_size} streams x {args.seq_length}-step chunks")
    print(f"baselines: uniform {math.log2(len(vocab)):.3f} bits/char, character frequencies "
          f"{unigram_bits(train_text, valid_text):.3f} bits/char; untrained model "
          f"{held_out_bpc(model):.3f}", flush=True)
    history = fit(model, train_chunks, TruncatedBPTT(F.cross_entropy),
                  Adam(model.parameters(), lr=args.lr), epochs=args.epochs,
                  clip_grad_norm=args.clip, validate=held_out_bpc, on_epoch_end=report,
                  progress=False)

    samples = {}
    for temperature, top_k in SAMPLINGS:
        label = "greedy" if temperature == 0 else f"temperature {temperature}" + (
            f", top-{top_k}" if top_k else "")
        samples[label] = generate_text(model, args.prompt, args.sample_length,
                                       temperature=temperature, top_k=top_k, rng=args.seed)
        print(f"\n--- {label} ---\n{args.prompt}{samples[label]}")
    seconds = time.perf_counter() - started
    print(f"\ntotal {seconds:.1f} s wall, {time.process_time() - cpu_started:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return {"bpc": list(history.val_metric), "samples": samples, "seconds": seconds}


if __name__ == "__main__":
    main()
