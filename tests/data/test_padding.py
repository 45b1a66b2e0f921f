"""pad_sequences / unpad_sequences / lengths_to_mask: round trips, layouts, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numrnn.data import lengths_to_mask, pad_sequences, unpad_sequences
from numrnn.errors import ArgumentError, DTypeError, ShapeError


@st.composite
def sequence_lists(draw):
    features = draw(st.sampled_from([(), (3,), (2, 2)]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    lengths = draw(st.lists(st.integers(0, 6), min_size=1, max_size=5))
    return [draw(hnp.arrays(dtype, (length, *features),
                            elements=st.integers(-50, 50).map(float)))
            for length in lengths]


@given(sequences=sequence_lists(), batch_first=st.booleans())
def test_pad_then_unpad_recovers_the_sequences(sequences, batch_first):
    padded, lengths = pad_sequences(sequences, batch_first=batch_first, padding_value=-7)
    steps = max(len(s) for s in sequences)
    expected_shape = ((len(sequences), steps) if batch_first
                      else (steps, len(sequences))) + sequences[0].shape[1:]
    assert padded.shape == expected_shape
    assert padded.dtype == np.result_type(*sequences)
    assert lengths.dtype == np.int64
    assert lengths.tolist() == [len(s) for s in sequences]
    recovered = unpad_sequences(padded, lengths, batch_first=batch_first)
    for original, back in zip(sequences, recovered):
        np.testing.assert_array_equal(back, original)
    mask = lengths_to_mask(lengths, max_len=steps, batch_first=batch_first)
    assert mask.shape == padded.shape[:2]
    by_row = padded if batch_first else np.swapaxes(padded, 0, 1)
    row_mask = mask if batch_first else mask.T
    assert np.all(by_row[~row_mask] == -7)


@given(lengths=st.lists(st.integers(0, 20), min_size=1, max_size=8), extra=st.integers(0, 3),
       batch_first=st.booleans())
def test_mask_sums_equal_lengths_and_is_a_prefix(lengths, extra, batch_first):
    max_len = max(lengths) + extra
    mask = lengths_to_mask(np.array(lengths), max_len=max_len, batch_first=batch_first)
    assert mask.dtype == np.bool_
    assert mask.shape == ((len(lengths), max_len) if batch_first else (max_len, len(lengths)))
    time_axis = 1 if batch_first else 0
    assert mask.sum(axis=time_axis).tolist() == lengths
    # True steps come first: the mask never turns back on after padding starts.
    assert np.all(np.diff(mask.astype(np.int8), axis=time_axis) <= 0)


def test_small_example_time_major():
    padded, lengths = pad_sequences([[1, 2, 3], [4], [5, 6]])
    np.testing.assert_array_equal(padded, [[1, 4, 5], [2, 0, 6], [3, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    np.testing.assert_array_equal(lengths_to_mask(lengths),
                                  [[True, True, True], [True, False, True],
                                   [True, False, False]])
    assert lengths_to_mask(lengths).shape == (3, 3)


def test_dtype_override_and_default_max_len():
    padded, _ = pad_sequences([np.ones(2, np.int64)], dtype=np.float32, padding_value=0.5)
    assert padded.dtype == np.float32
    assert lengths_to_mask([2, 4]).shape == (4, 2)


def test_errors_name_the_problem():
    with pytest.raises(ShapeError, match="feature shape \\(3,\\) like sequence 0, sequence 1 "
                                         "has \\(4,\\)"):
        pad_sequences([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ArgumentError, match="no sequences"):
        pad_sequences([])
    with pytest.raises(ShapeError, match="scalar"):
        pad_sequences([np.float64(1.0)])
    with pytest.raises(DTypeError, match="integers"):
        lengths_to_mask(np.array([1.5]))
    with pytest.raises(ShapeError, match="does not fit in 2 steps"):
        lengths_to_mask([3], max_len=2)
    with pytest.raises(ShapeError, match="lengths has 1 entries, padded holds 2"):
        unpad_sequences(np.zeros((4, 2)), [1])
