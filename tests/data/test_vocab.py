"""Vocabularies: fixed special ids, frequency order, encode/decode and save round trips."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numrnn.data import CharVocab, WordVocab
from numrnn.errors import ArgumentError, FormatError, ShapeError


@given(text=st.text(max_size=60))
def test_char_round_trip(text):
    vocab = CharVocab.build(text)
    ids = vocab.encode(text, add_bos=True, add_eos=True)
    assert ids.dtype == np.int64
    assert len(ids) == len(text) + 2
    assert ids[0] == vocab.bos_index and ids[-1] == vocab.eos_index
    assert vocab.decode(ids) == text


words = st.text(alphabet=st.characters(blacklist_categories=("Zs", "Cc", "Zl", "Zp")),
                min_size=1, max_size=6)


@given(tokens=st.lists(words, max_size=12))
def test_word_round_trip_and_save(tokens):
    text = " ".join(tokens)
    vocab = WordVocab.build(text)
    assert vocab.decode(vocab.encode(text)) == " ".join(text.split())
    restored = WordVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored.itos == vocab.itos
    np.testing.assert_array_equal(restored.encode(text), vocab.encode(text))


def test_specials_first_then_by_frequency():
    vocab = CharVocab.build("abracadabra")
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (vocab.pad_index, vocab.unk_index, vocab.bos_index, vocab.eos_index) == (0, 1, 2, 3)
    # a:5, b:2, r:2, c:1, d:1 -- ties alphabetical.
    assert vocab.itos[4:] == ["a", "b", "r", "c", "d"]
    assert len(vocab) == 9 and "a" in vocab and "z" not in vocab


def test_unknown_tokens_min_freq_and_max_size():
    vocab = WordVocab.build(["the cat the dog", "the cat"], min_freq=2)
    assert vocab.itos[4:] == ["the", "cat"]
    np.testing.assert_array_equal(vocab.encode("the dog"), [4, vocab.unk_index])
    assert vocab.decode([4, 1]) == "the <unk>"
    assert vocab.decode([0, 4, 3], skip_specials=False) == "<pad> the <eos>"
    assert WordVocab.build("a a a b b c", max_size=2).itos[4:] == ["a", "b"]
    assert vocab["cat"] == 5 and vocab["horse"] == vocab.unk_index


def test_custom_specials_and_errors():
    vocab = CharVocab.build("xy", specials=["<unk>"])
    assert vocab.pad_index is None
    with pytest.raises(ArgumentError, match="no <bos>"):
        vocab.encode("x", add_bos=True)
    with pytest.raises(ArgumentError, match="unk_token"):
        CharVocab("ab", specials=["<pad>"])
    with pytest.raises(ShapeError, match="ids must be in 0..2"):
        vocab.decode([5])
    with pytest.raises(FormatError, match="'word'"):
        CharVocab.from_dict(WordVocab.build("a").to_dict())
    with pytest.raises(FormatError, match="expected a dict"):
        CharVocab.from_dict({"tokens": []})
