"""Length-bucketed batching: every sequence once, similar lengths together, deterministic."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numrnn.data import BucketIterator, bucket_batches, lengths_to_mask
from numrnn.errors import ArgumentError, ShapeError


@given(lengths=st.lists(st.integers(1, 30), min_size=0, max_size=60),
       batch_size=st.integers(1, 9), multiplier=st.integers(1, 5), shuffle=st.booleans(),
       seed=st.integers(0, 1000), drop_last=st.booleans())
def test_every_index_exactly_once_and_deterministic(lengths, batch_size, multiplier, shuffle,
                                                    seed, drop_last):
    batches = bucket_batches(lengths, batch_size, shuffle=shuffle, seed=seed,
                             bucket_size_multiplier=multiplier, drop_last=drop_last)
    flat = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    expected = len(lengths) - (len(lengths) % batch_size if drop_last else 0)
    assert len(flat) == expected
    assert len(set(flat.tolist())) == expected
    assert all(batch.dtype == np.int64 for batch in batches)
    assert all(len(batch) == batch_size for batch in batches[:-1] if not shuffle)
    assert sum(len(batch) < batch_size for batch in batches) <= (0 if drop_last else 1)
    for batch in batches:
        batch_lengths = np.asarray(lengths)[batch]
        assert np.all(np.diff(batch_lengths) <= 0)
    again = bucket_batches(lengths, batch_size, shuffle=shuffle, seed=seed,
                           bucket_size_multiplier=multiplier, drop_last=drop_last)
    assert [b.tolist() for b in batches] == [b.tolist() for b in again]


def test_bucketing_reduces_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=1000)

    def padding(batches):
        return sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches)

    bucketed = padding(bucket_batches(lengths, 20, seed=0, bucket_size_multiplier=50))
    unsorted = padding(bucket_batches(lengths, 20, seed=0, bucket_size_multiplier=1))
    assert bucketed < unsorted / 10


def test_batch_order_is_shuffled_even_when_one_pool_sorts_everything():
    lengths = np.arange(1, 401)
    batches = bucket_batches(lengths, 4, seed=0, bucket_size_multiplier=1000)
    longest = [int(lengths[b].max()) for b in batches]
    assert longest != sorted(longest, reverse=True)
    in_order = bucket_batches(lengths, 4, shuffle=False, bucket_size_multiplier=1000)
    assert [int(lengths[b].max()) for b in in_order] == list(range(400, 0, -4))
    assert sorted(longest) == sorted(int(lengths[b].max()) for b in in_order)


def test_seeds_and_epochs_shuffle_differently():
    lengths = np.arange(1, 41)
    first = [b.tolist() for b in bucket_batches(lengths, 4, seed=1, bucket_size_multiplier=2)]
    other = [b.tolist() for b in bucket_batches(lengths, 4, seed=2, bucket_size_multiplier=2)]
    assert first != other


def test_iterator_yields_padded_batches_with_targets():
    rng = np.random.default_rng(3)
    sequences = [rng.standard_normal((length, 2)) for length in rng.integers(1, 12, size=23)]
    labels = np.arange(23) * 10
    iterator = BucketIterator(sequences, batch_size=5, targets=labels, seed=7,
                              bucket_size_multiplier=2)
    assert len(iterator) == 5
    seen = []
    for batch in iterator:
        assert batch.inputs.shape == (batch.lengths.max(), len(batch.indices), 2)
        np.testing.assert_array_equal(batch.targets, labels[batch.indices])
        mask = lengths_to_mask(batch.lengths)
        for column, index in enumerate(batch.indices):
            assert batch.lengths[column] == len(sequences[index])
            np.testing.assert_array_equal(batch.inputs[mask[:, column], column],
                                          sequences[index])
        seen += batch.indices.tolist()
    assert sorted(seen) == list(range(23))


def test_iterator_epochs_differ_but_repeat_for_the_same_seed():
    sequences = [np.zeros(length) for length in range(1, 31)]

    def orders(iterator, epochs):
        return [[batch.indices.tolist() for batch in iterator] for _ in range(epochs)]

    first = orders(BucketIterator(sequences, 4, seed=5, bucket_size_multiplier=2), 3)
    second = orders(BucketIterator(sequences, 4, seed=5, bucket_size_multiplier=2), 3)
    assert first == second
    assert first[0] != first[1]
    resumed = BucketIterator(sequences, 4, seed=5, bucket_size_multiplier=2)
    resumed.epoch = 2
    assert orders(resumed, 1)[0] == first[2]


def test_per_step_targets_batch_first_and_drop_last():
    sequences = [np.arange(length) for length in (3, 1, 4, 2, 5)]
    targets = [s + 100 for s in sequences]
    iterator = BucketIterator(sequences, 2, targets=targets, per_step_targets=True,
                              shuffle=False, batch_first=True, drop_last=True,
                              target_padding_value=-1)
    batches = list(iterator)
    assert len(batches) == len(iterator) == 2
    first = batches[0]
    np.testing.assert_array_equal(first.indices, [4, 2])
    np.testing.assert_array_equal(first.inputs, [[0, 1, 2, 3, 4], [0, 1, 2, 3, 0]])
    np.testing.assert_array_equal(first.targets, [[100, 101, 102, 103, 104],
                                                  [100, 101, 102, 103, -1]])


def test_errors():
    with pytest.raises(ArgumentError, match="batch_size must be a positive integer"):
        bucket_batches([1, 2], 0)
    with pytest.raises(ShapeError, match="got 2 sequences but 3 targets"):
        BucketIterator([[1], [2]], 1, targets=[0, 1, 2])
    with pytest.raises(ShapeError, match="time axis"):
        BucketIterator([1.0, 2.0], 1)
