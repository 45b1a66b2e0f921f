"""The standard-library corpus: present, deterministic, truncatable, clear when missing."""

import pytest

from numrnn.data import CharVocab, CorpusNotFoundError, stdlib_corpus
from numrnn.data import corpus as corpus_module
from numrnn.errors import NumrnnError


def test_default_corpus_is_large_and_deterministic():
    text = stdlib_corpus()
    assert len(text) > 200_000
    assert "def " in text and "class " in text
    assert stdlib_corpus(max_chars=5000) == text[:5000]
    assert len(CharVocab.build(text[:100_000])) > 60


def test_named_modules_in_order():
    text = stdlib_corpus(modules=["bisect", "heapq"])
    assert text.index("def bisect_right") < text.index("def heappush")
    assert stdlib_corpus(modules="bisect") == stdlib_corpus(modules=["bisect"])


def test_missing_source_is_a_clear_numrnn_error(monkeypatch, tmp_path):
    with pytest.raises(CorpusNotFoundError, match="no source for module 'no_such_module'"):
        stdlib_corpus(modules=["no_such_module"])
    monkeypatch.setattr(corpus_module, "stdlib_dir", lambda: str(tmp_path / "missing"))
    with pytest.raises(NumrnnError, match="does not exist"):
        stdlib_corpus()
