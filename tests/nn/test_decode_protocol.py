"""greedy_search and beam_search decode any model with Seq2Seq's encode/decode_step/output."""

import numpy as np
import pytest

from numrnn import ArgumentError, nn
from numrnn.nn.seq2seq_decode import beam_search, greedy_search


class FixedLengthSources:
    """Not a Seq2Seq: every source has all its steps, so ``encode`` takes no lengths."""

    def __init__(self, model):
        self.model = model
        self.output = model.output
        self.decode_step = model.decode_step
        self.bos_index, self.eos_index = model.bos_index, model.eos_index
        self.pad_index, self.dtype = model.pad_index, model.dtype

    def encode(self, src, src_lengths):
        assert src_lengths is None
        return self.model.encode(src, np.full(src.shape[1], src.shape[0]))


def seq2seq():
    encoder = nn.GRU(3, 4, dtype=np.float64, rng=0)
    return nn.Seq2Seq(encoder, 9, 7, attention="additive", rng=0).eval()


def sources():
    return np.random.default_rng(0).integers(4, 9, size=(5, 3))


@pytest.mark.parametrize("search, options", [(greedy_search, {}),
                                             (beam_search, {"beam_size": 3})])
def test_a_model_without_source_lengths_decodes_like_seq2seq(search, options):
    model, src = seq2seq(), sources()
    ours = search(FixedLengthSources(model), src, None, max_length=6, **options)
    reference = search(model, src, np.full(3, 5), max_length=6, **options)
    for got, expected in zip(ours, reference):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_no_source_lengths_needs_a_max_length(search):
    with pytest.raises(ArgumentError, match="max_length is needed when src_lengths is None"):
        search(FixedLengthSources(seq2seq()), sources(), None)
