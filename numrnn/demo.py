"""``numrnn demo``: a character-level LSTM language model of Python's own source code.

The whole path a real model takes, in about a minute on two cores: text from
the standard library (:func:`numrnn.data.stdlib_corpus`), a character
vocabulary, contiguous streams trained by truncated BPTT with Adam and
gradient clipping (:func:`numrnn.training.fit`), the validation loss after
every epoch, a generated sample, a safetensors file, and the same sample again
from the model that :func:`numrnn.load_model` rebuilds from that file.

Every loss it shows (the progress bar's, the epoch lines', the summary's) is
in bits per character: the model is trained on the cross-entropy in bits,
which differs from the one in nats only by the constant factor 1/ln 2.
"""

import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numrnn
from numrnn import functional as F
from numrnn.commands.output import check_writable
from numrnn.data import CharVocab, stdlib_corpus
from numrnn.errors import ArgumentError, NumrnnError
from numrnn.generate import generate_text
from numrnn.language_model import CharLanguageModel
from numrnn.optim import Adam
from numrnn.training import StreamChunks, TruncatedBPTT, batchify, evaluate_stream, fit

DEFAULT_OUTPUT = os.path.join(tempfile.gettempdir(), "numrnn-demo.safetensors")
VALIDATION_EVERY = 10  # every tenth block of text is held out for validation
BLOCK_CHARS = 5_000
LN2 = math.log(2)


@dataclass
class DemoResult:
    """What :func:`run_demo` measured: bits per character before and after each epoch, samples."""

    initial_bpc: float
    epoch_bpc: list
    sample: str
    reloaded_sample: str
    path: str
    seconds: float


def run_demo(epochs=4, hidden_size=128, embedding_dim=32, num_layers=1, seq_length=64,
             batch_size=32, corpus_chars=300_000, learning_rate=1e-2, clip=1.0, seed=0,
             sample_chars=240, prompt="def ", temperature=1.0, top_k=5, output=DEFAULT_OUTPUT,
             progress=None):
    """Train, report, sample, save, reload and sample again; returns a :class:`DemoResult`.

    The defaults were measured at 20 s on an idle two-core machine from a fresh
    install (numba compiling every kernel from a cold cache, about 10 s of it; 10 s
    warm; December 2026, ``perf/cold_start.py``), while validation fell from 6.7 to
    about 2.0 bits per character: a high Adam rate (1e-2, with clipping) moves a
    small model furthest in few updates; 128 units and 32 streams of 64 steps keep
    each update cheap. On a shared two-core machine under load (December 2026) compiling the
    demo's kernels from a cold cache took 48 s of CPU time, and training in
    bits rather than nats left the final validation at 2.04 against 2.02
    bits per character (a fifth epoch would gain 0.02 for a quarter more time).

    The sample is drawn at temperature 1 among the 5 likeliest characters. A
    model this small cannot count the spaces of an indentation, so after a few
    spaces "one more space" stays its likeliest guess, and a temperature below
    1 sharpens that into a near-certainty: greedy decoding makes 93% of 240
    characters blank, temperature 0.6 a run of 40 or more blanks in 6 of 20
    seeds. Temperature 1 keeps the model's own odds, and top-k 5 cuts the tail
    of unlikely characters that misspells words at temperature 1 alone (59% of
    the generated words occur in the corpus, 76% with top-k 5): whitespace is
    30% of the sample, as it is 32% of the corpus, with no such run in 20
    seeds (``perf/demo_sampling.py`` measures this).

    ``progress`` None shows fit's progress bar when stderr is a terminal and
    nothing else (the epoch lines on stdout are the log); True always shows
    it, False never.

    Raises NumrnnError if the reloaded model's sample differs from the
    trained model's (same prompt, same seed); ArgumentError, before any
    training, for options it cannot use; OSError, before any training, when
    ``output`` cannot be written.
    """
    started = time.perf_counter()
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ArgumentError(f"demo: epochs must be a positive int, got {epochs!r}")
    if not isinstance(prompt, str) or not prompt:
        raise ArgumentError(f"demo: prompt must be a str of at least one character, got "
                            f"{prompt!r}")
    check_writable(output, "demo output")
    text = stdlib_corpus(max_chars=corpus_chars)
    # Characters of the validation text must be known too, so the vocabulary sees all of it.
    vocab = CharVocab.build(text)
    train_text, valid_text = split_blocks(text)
    _check_streams(valid_text, batch_size, corpus_chars)
    train_streams = batchify(vocab.encode(train_text), batch_size)
    valid_streams = batchify(vocab.encode(valid_text), batch_size)
    train_chunks = StreamChunks(train_streams[:-1], train_streams[1:], seq_length)
    # Longer chunks for validation: no backward pass, so fewer, bigger calls are cheaper.
    valid_chunks = StreamChunks(valid_streams[:-1], valid_streams[1:], 4 * seq_length)

    model = CharLanguageModel(vocab=vocab, embedding_dim=embedding_dim, hidden_size=hidden_size,
                              num_layers=num_layers, rng=seed)
    optimizer = Adam(model.parameters(), lr=learning_rate)
    # Sampling no characters runs no kernel but checks prompt, temperature and top_k,
    # so that a value generation would refuse is refused before training.
    generate_text(model, prompt, 0, temperature=temperature, top_k=top_k, rng=seed)

    def validation_bpc(model):
        return evaluate_stream(model, valid_chunks, bits_per_char)

    def report(history):
        print(f"epoch {history.epoch[-1]}/{epochs}: validation {history.val_metric[-1]:.3f} "
              f"bits/char (training {history.train_loss[-1]:.3f}), "
              f"{history.time[-1]:.1f} s", flush=True)

    print(f"numrnn {numrnn.__version__}: character-level LSTM on {len(text):,} characters of "
          f"Python's standard library ({len(vocab)} symbols)")
    print(f"model: embedding {embedding_dim}, LSTM {num_layers}x{hidden_size}; "
          f"{epochs} epochs of {len(train_chunks)} chunks ({batch_size} streams x "
          f"{seq_length} steps, truncated BPTT), Adam lr {learning_rate}; "
          "losses in bits per character")
    initial_bpc = validation_bpc(model)
    print(f"before training: validation {initial_bpc:.3f} bits/char "
          f"(uniform guessing: {math.log2(len(vocab)):.3f})", flush=True)

    if progress is None:
        progress = _stderr_is_terminal()
    history = fit(model, train_chunks, TruncatedBPTT(bits_per_char), optimizer, epochs=epochs,
                  clip_grad_norm=clip, validate=validation_bpc, on_epoch_end=report,
                  progress=progress, desc="epoch")

    sampling = dict(temperature=temperature, top_k=top_k, rng=seed)
    sample = generate_text(model, prompt, sample_chars, **sampling)
    print(f"\nsample (prompt {prompt!r}, temperature {temperature}, top-k {top_k}, "
          f"seed {seed}):\n")
    print(prompt + sample)

    numrnn.save(model, output)
    reloaded = numrnn.load_model(output)
    reloaded_sample = generate_text(reloaded, prompt, sample_chars, **sampling)
    if reloaded_sample != sample:
        raise NumrnnError(f"demo: the model reloaded from {output} generated a different "
                          f"sample:\n{prompt + reloaded_sample}")
    print(f"\nsaved to {output} ({os.path.getsize(output) / 1e6:.1f} MB); "
          f"numrnn.load_model reloaded it and generated the same sample with seed {seed}: "
          "identical")
    seconds = time.perf_counter() - started
    print(f"total {seconds:.1f} s")
    return DemoResult(initial_bpc, list(history.val_metric), sample, reloaded_sample, output,
                      seconds)


def bits_per_char(logits, targets):
    """The mean cross-entropy of ``logits`` (T, B, V) against ``targets`` (T, B), in bits."""
    return F.cross_entropy(logits, targets) / LN2


def _check_streams(valid_text, batch_size, corpus_chars):
    # Each validation stream needs an input and a target step; the training text is
    # nine times longer, so it has them when validation does.
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"demo: batch_size must be a positive int, got {batch_size!r}")
    if len(valid_text) < 2 * batch_size:
        raise ArgumentError(f"demo: corpus_chars={corpus_chars} holds out {len(valid_text)} "
                            f"characters for validation, fewer than 2 for each of the "
                            f"{batch_size} streams (batch_size); raise corpus_chars or lower "
                            "batch_size")


def _stderr_is_terminal():
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


def split_blocks(text):
    """(training text, validation text): every tenth block of text is held out.

    The corpus is module after module; holding out its tail would validate on
    one module's style only, while interleaved blocks sample every module.
    Blocks are 5,000 characters, smaller for short texts so that at least four
    are held out.
    """
    size = max(1, min(BLOCK_CHARS, len(text) // (4 * VALIDATION_EVERY)))
    blocks = [text[start:start + size] for start in range(0, len(text), size)]
    held_out = set(range(VALIDATION_EVERY - 1, len(blocks), VALIDATION_EVERY))
    train = "".join(block for index, block in enumerate(blocks) if index not in held_out)
    valid = "".join(blocks[index] for index in sorted(held_out))
    return train, valid
