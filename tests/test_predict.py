"""numrnn.predict: length-bucketed batches, outputs back in input order, bad input refused."""

import numpy as np
import pytest

import numrnn
from numrnn import nn
from numrnn.inference import plan_batches


def sequences(lengths, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((length, features)) for length in lengths]


def test_batches_group_similar_lengths_pool_by_pool():
    data = sequences([2, 9, 4, 7, 1, 8])
    planned = list(plan_batches(iter(data), batch_size=2, bucket_size_multiplier=2))
    # Pools of 4 then 2; within a pool, longest first.
    assert [indices.tolist() for indices, _ in planned] == [[1, 3], [2, 0], [5, 4]]
    assert all(batch[0] is not None for _, batch in planned)


def test_outputs_come_back_in_input_order_and_match_each_sequence_alone():
    numrnn.manual_seed(0)
    model = nn.GRU(3, 4, dtype=np.float64)
    data = sequences([5, 1, 7, 3, 6])
    got = numrnn.predict(model, (item for item in data), batch_size=2, per_step=True)
    for sequence, output in zip(data, got):
        alone, _ = model(sequence[:, None, :])
        assert output.shape == (len(sequence), 4)
        np.testing.assert_allclose(output, alone.data[:, 0], rtol=1e-12, atol=1e-12)


def test_per_sequence_outputs_take_one_row_each():
    numrnn.manual_seed(0)
    model = nn.LSTM(3, 4, dtype=np.float64)

    class LastStep(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = model

        def forward(self, inputs, lengths=None):
            return numrnn.functional.last_valid_step(self.lstm(inputs, lengths=lengths)[0],
                                                     lengths)

    data = sequences([4, 2, 6])
    per_step = numrnn.predict(model, data, 2, per_step=True)
    last = numrnn.predict(LastStep(), data, 2)
    for steps, final in zip(per_step, last):
        np.testing.assert_array_equal(final, steps[-1])


@pytest.mark.parametrize("data, options, error, message", [
    ([np.zeros((0, 3))], {}, numrnn.ShapeError, r"sequence 0 must have shape \(L, \*features\) "
                                                r"with L >= 1, got shape \(0, 3\)"),
    ([np.zeros((2, 3)), np.float64(1.0)], {}, numrnn.ShapeError, "sequence 1 .* got a scalar"),
    ([np.zeros((2, 3))], {"batch_size": 0}, numrnn.ArgumentError,
     "batch_size must be a positive int, got 0"),
])
def test_bad_input_is_refused(data, options, error, message):
    with pytest.raises(error, match=message):
        numrnn.predict(nn.LSTM(3, 4, dtype=np.float64), data, **options)


def test_a_model_output_of_the_wrong_layout_is_named():
    with pytest.raises(numrnn.ShapeError, match=r"must be \(B, \.\.\.\) with B = 2 sequences, "
                                                r"got shape \(5, 2, 4\)"):
        numrnn.predict(nn.LSTM(3, 4, dtype=np.float64), sequences([5, 3]))
