"""Vocabularies: map characters or words to integer ids and back.

Special tokens come first, in a fixed order, so their ids never depend on the
text: ``<pad>`` = 0 (what :func:`~numrnn.data.pad_sequences` pads with by
default), ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3. Ordinary tokens follow
by decreasing frequency, ties broken alphabetically, so building from the same
text always gives the same ids.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, FormatError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from typing_extensions import Self

    from numrnn.typing import IntArray

DEFAULT_SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")


class Vocab:
    """A fixed list of tokens and their ids; :class:`CharVocab` and :class:`WordVocab` split text.

    Parameters
    ----------
    tokens : iterable of str
        Ordinary tokens, in id order (after the specials). Duplicates and
        tokens equal to a special are dropped.
    specials : sequence of str, default ("<pad>", "<unk>", "<bos>", "<eos>")
        Given ids ``0 .. len(specials) - 1``. Must include ``unk_token``.
    unk_token : str, default "<unk>"
        What unknown tokens are encoded as.
    """

    kind = "tokens"

    def __init__(self, tokens: Iterable[str] = (), specials: Sequence[str] = DEFAULT_SPECIALS,
                 unk_token: str = "<unk>") -> None:
        specials = list(specials)
        if len(set(specials)) != len(specials):
            raise ArgumentError(f"{type(self).__name__}: specials must be distinct, got {specials}")
        if unk_token not in specials:
            raise ArgumentError(f"{type(self).__name__}: unk_token {unk_token!r} must be one of "
                                f"the specials {specials}")
        self.specials = specials
        self.unk_token = unk_token
        self.itos = list(specials)
        self.stoi = {token: index for index, token in enumerate(self.itos)}
        for token in tokens:
            if not isinstance(token, str):
                raise ArgumentTypeError(f"{type(self).__name__}: tokens must be strings, "
                                        f"got {type(token).__name__}")
            if token not in self.stoi:
                self.stoi[token] = len(self.itos)
                self.itos.append(token)

    @classmethod
    def build(cls, text: str, min_freq: int = 1, max_size: int | None = None,
              **options: Any) -> Self:
        """Make a vocabulary of the tokens in ``text`` (a string, or an iterable of strings).

        Parameters
        ----------
        text : str or iterable of str
        min_freq : int, default 1
            Leave out tokens seen fewer times.
        max_size : int, optional
            Keep at most this many ordinary tokens, the most frequent.
        **options
            ``specials`` and ``unk_token``, passed to the constructor.
        """
        texts = [text] if isinstance(text, str) else text
        counts: collections.Counter[str] = collections.Counter()
        for piece in texts:
            counts.update(cls.tokenize(piece))
        ranked = sorted((token for token, count in counts.items() if count >= min_freq),
                        key=lambda token: (-counts[token], token))
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls(ranked, **options)

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """Split text into tokens: on whitespace here, subclasses choose otherwise."""
        return text.split()

    @staticmethod
    def detokenize(tokens: Iterable[str]) -> str:
        """Join tokens back into text: with single spaces here."""
        return " ".join(tokens)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __repr__(self):
        return f"{type(self).__name__}(size={len(self)}, specials={self.specials})"

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_index)

    def _special_index(self, token):
        return self.stoi[token] if token in self.specials else None

    @property
    def unk_index(self) -> int:
        return self.stoi[self.unk_token]

    @property
    def pad_index(self) -> int | None:
        """Id of ``<pad>``, or None if it is not among the specials."""
        return self._special_index("<pad>")

    @property
    def bos_index(self) -> int | None:
        return self._special_index("<bos>")

    @property
    def eos_index(self) -> int | None:
        return self._special_index("<eos>")

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> IntArray:
        """Ids of the tokens of ``text``; unknown tokens become ``unk_index``.

        Returns
        -------
        ndarray of int64, shape (L,)
            ``L`` tokens, plus one for each of ``add_bos`` / ``add_eos``.
        """
        ids = [self.stoi.get(token, self.unk_index) for token in self.tokenize(text)]
        if add_bos:
            ids.insert(0, self._required("<bos>"))
        if add_eos:
            ids.append(self._required("<eos>"))
        return np.array(ids, dtype=np.int64)

    def _required(self, token):
        if token not in self.specials:
            raise ArgumentError(f"{type(self).__name__}.encode: no {token} among the specials "
                                f"{self.specials}")
        return self.stoi[token]

    def decode(self, ids: Iterable[int], skip_specials: bool = True) -> str:
        """Text of a sequence of ids.

        Parameters
        ----------
        ids : array_like of int, shape (L,)
        skip_specials : bool, default True
            Leave out special tokens other than ``unk_token`` (padding, markers).
        """
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ShapeError(f"{type(self).__name__}.decode: ids must be 1-D (L,), "
                             f"got shape {ids.shape}")
        if ids.size and ids.dtype.kind not in "iu":
            raise DTypeError(f"{type(self).__name__}.decode: ids must be integers, "
                             f"got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ShapeError(f"{type(self).__name__}.decode: ids must be in 0..{len(self) - 1}, "
                             f"got {int(ids.min())}..{int(ids.max())}")
        skipped = set(self.specials) - {self.unk_token} if skip_specials else set()
        tokens = [self.itos[index] for index in ids.tolist()]
        return self.detokenize([token for token in tokens if token not in skipped])

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) from which :meth:`from_dict` rebuilds this vocabulary."""
        return {"kind": self.kind, "specials": list(self.specials),
                "unk_token": self.unk_token, "tokens": self.itos[len(self.specials):]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocab:
        """Rebuild a vocabulary saved with :meth:`to_dict`; ids are unchanged."""
        if not isinstance(data, dict) or {"kind", "specials", "unk_token", "tokens"} - set(data):
            raise FormatError(f"{cls.__name__}.from_dict: expected a dict with keys 'kind', "
                              "'specials', 'unk_token' and 'tokens'")
        if data["kind"] != cls.kind:
            raise FormatError(f"{cls.__name__}.from_dict: data describes a {data['kind']!r} "
                              f"vocabulary, not {cls.kind!r}")
        vocab = cls(data["tokens"], specials=data["specials"], unk_token=data["unk_token"])
        if len(vocab) != len(data["specials"]) + len(data["tokens"]):
            raise FormatError(f"{cls.__name__}.from_dict: tokens repeat or shadow a special, so "
                              "the saved ids cannot be reproduced")
        return vocab


class CharVocab(Vocab):
    """One token per character: ``decode(encode(text)) == text`` for text of known characters."""

    kind = "char"

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return list(text)

    @staticmethod
    def detokenize(tokens: Iterable[str]) -> str:
        return "".join(tokens)


class WordVocab(Vocab):
    """One token per whitespace-separated word; decoding joins words with single spaces."""

    kind = "word"
