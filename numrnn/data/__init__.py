"""Data for sequence models: padding, length-bucketed batches, vocabularies, tasks, corpora."""

from numrnn.data.batching import Batch, BucketIterator, bucket_batches
from numrnn.data.corpus import DEFAULT_MODULES, CorpusNotFoundError, stdlib_corpus, stdlib_dir
from numrnn.data.padding import lengths_to_mask, pad_sequences, unpad_sequences
from numrnn.data.tasks import adding_problem, copy_task, noisy_sines
from numrnn.data.vocab import CharVocab, Vocab, WordVocab

__all__ = [
    "DEFAULT_MODULES",
    "Batch",
    "BucketIterator",
    "CharVocab",
    "CorpusNotFoundError",
    "Vocab",
    "WordVocab",
    "adding_problem",
    "bucket_batches",
    "copy_task",
    "lengths_to_mask",
    "noisy_sines",
    "pad_sequences",
    "stdlib_corpus",
    "stdlib_dir",
    "unpad_sequences",
]
