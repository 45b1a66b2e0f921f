"""``numrnn demo``: a character-level LSTM language model of Python's own source code.

The whole path a real model takes, in about a minute on two cores: text from
the standard library (:func:`numrnn.data.stdlib_corpus`), a character
vocabulary, contiguous streams trained by truncated BPTT with Adam and
gradient clipping (:func:`numrnn.training.fit`), the validation loss in bits
per character after every epoch, a generated sample, a safetensors file, and
the same sample again from the model that :func:`numrnn.load_model` rebuilds
from that file.
"""

import math
import os
import tempfile
import time
from dataclasses import dataclass

import numrnn
from numrnn import functional as F
from numrnn.data import CharVocab, stdlib_corpus
from numrnn.errors import NumrnnError
from numrnn.generate import generate_text
from numrnn.language_model import CharLanguageModel
from numrnn.optim import Adam
from numrnn.training import StreamChunks, TruncatedBPTT, batchify, evaluate_stream, fit

DEFAULT_OUTPUT = os.path.join(tempfile.gettempdir(), "numrnn-demo.safetensors")
VALIDATION_EVERY = 10  # every tenth block of text is held out for validation
BLOCK_CHARS = 5_000


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
             sample_chars=240, prompt="def ", temperature=0.6, output=DEFAULT_OUTPUT,
             progress=True):
    """Train, report, sample, save, reload and sample again; returns a :class:`DemoResult`.

    The defaults were measured at 36 s on an idle two-core machine from a fresh
    install (numba compiling every kernel from a cold cache, about 11 s of it;
    5.5 s per epoch), while validation fell from 6.7 to about 2.0 bits per
    character: a high Adam rate (1e-2, with clipping) moves a small model furthest
    in few updates; 128 units and 32 streams of 64 steps keep each update cheap.

    Raises NumrnnError if the reloaded model's sample differs from the
    trained model's (same prompt, same seed).
    """
    started = time.perf_counter()
    text = stdlib_corpus(max_chars=corpus_chars)
    # Characters of the validation text must be known too, so the vocabulary sees all of it.
    vocab = CharVocab.build(text)
    train_text, valid_text = split_blocks(text)
    train_streams = batchify(vocab.encode(train_text), batch_size)
    valid_streams = batchify(vocab.encode(valid_text), batch_size)
    train_chunks = StreamChunks(train_streams[:-1], train_streams[1:], seq_length)
    # Longer chunks for validation: no backward pass, so fewer, bigger calls are cheaper.
    valid_chunks = StreamChunks(valid_streams[:-1], valid_streams[1:], 4 * seq_length)

    model = CharLanguageModel(vocab=vocab, embedding_dim=embedding_dim, hidden_size=hidden_size,
                              num_layers=num_layers, rng=seed)

    def validation_bpc(model):
        return evaluate_stream(model, valid_chunks, F.cross_entropy) / math.log(2)

    def report(history):
        print(f"epoch {history.epoch[-1]}/{epochs}: validation {history.val_metric[-1]:.3f} "
              f"bits/char (training {history.train_loss[-1] / math.log(2):.3f}), "
              f"{history.time[-1]:.1f} s", flush=True)

    print(f"numrnn {numrnn.__version__}: character-level LSTM on {len(text):,} characters of "
          f"Python's standard library ({len(vocab)} symbols)")
    print(f"model: embedding {embedding_dim}, LSTM {num_layers}x{hidden_size}; "
          f"{epochs} epochs of {len(train_chunks)} chunks ({batch_size} streams x "
          f"{seq_length} steps, truncated BPTT), Adam lr {learning_rate}")
    initial_bpc = validation_bpc(model)
    print(f"before training: validation {initial_bpc:.3f} bits/char "
          f"(uniform guessing: {math.log2(len(vocab)):.3f})", flush=True)

    history = fit(model, train_chunks, TruncatedBPTT(F.cross_entropy),
                  Adam(model.parameters(), lr=learning_rate), epochs=epochs,
                  clip_grad_norm=clip, validate=validation_bpc, on_epoch_end=report,
                  progress=progress, desc="epoch")

    sample = generate_text(model, prompt, sample_chars, temperature=temperature, rng=seed)
    print(f"\nsample (prompt {prompt!r}, temperature {temperature}, seed {seed}):\n")
    print(prompt + sample)

    numrnn.save(model, output)
    reloaded = numrnn.load_model(output)
    reloaded_sample = generate_text(reloaded, prompt, sample_chars, temperature=temperature,
                                    rng=seed)
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
