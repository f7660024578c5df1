"""BM25 over Vietnamese syllables and syllable bigrams, in two fields.

Vietnamese words are mostly two syllables ("đảng viên", "thành lập"), so bigrams stand
in for a word segmenter. The accented field keeps tones ("bộ" is not "bố"); the folded
field drops every diacritic so a question typed without them still matches.

Numbers are written many ways for one fact: "27-01-1994", "27/1/1994" and "ngày 27
tháng 01 năm 1994"; "1.016" and "1016"; "lần thứ VI" and "lần thứ 6". Before
splitting, dates become bare numbers (ISO "1994-01-27" turned day first, as the texts
write them), thousands separators and leading zeros go, and Roman ordinals become
Arabic numbers, so each fact is one sequence of terms however it was typed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.normalize import fold_diacritics, syllables
from index.bm25 import Field, FieldScorer, idf, term_hashes

# Interrogatives and particles that every question has and no answer needs.
QUESTION_WORDS = frozenset(
    "nào gì ai đâu sao mấy bao nhiêu không chưa vậy thế hả à".split()
    + "nao gi dau may bao nhieu khong chua vay".split()
)


_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DATE_SEPARATOR = re.compile(r"(?<=\d)\s*[-/.]\s*(?=\d)")  # "27-01-1994", "6/2015", "1.016"
# "27 tháng 01 năm 1994": the words go only between a day and a month, or a month and a
# year, so "120 nam, 80 nữ" (men) and "5 năm 2 tháng" (a duration) keep theirs.
_MONTH_WORD = re.compile(r"(?<=\d)\s+(?:tháng|thang)\s+(?=\d{1,2}(?!\d))", re.IGNORECASE)
_YEAR_WORD = re.compile(r"(?<=\d)\s+(?:năm|nam)\s+(?=\d{4}(?!\d))", re.IGNORECASE)
_LEADING_ZEROS = re.compile(r"\b0+(?=\d)")
_THOUSANDS = re.compile(r"\b(\d{1,3})((?:\.\d{3})+)\b")
# Upper-case only, and not inside upper-case text: "vi" and "xi" are also Vietnamese
# syllables ("vi phạm", "VI PHẠM").
_ROMAN = re.compile(r"\b(?=[IVXL]+\b)L?X{0,3}(?:IX|IV|V?I{0,3})\b")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50}
_WORD_BEFORE = re.compile(r"(\w+)\W*$")
_WORD_AFTER = re.compile(r"\W*(\w+)")
_EMPTY = "\u2205"  # the one term of a passage without any, so its length is not zero (as bm25s did)
_NEIGHBOURHOOD = 40  # characters searched for the words around a numeral (bounded: queries can be long)


def canonical_numbers(text: str) -> str:
    """Return `text` with dates, figures and Roman ordinals written one way."""
    text = _ISO_DATE.sub(r"\3-\2-\1", text)
    text = _THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(".", ""), text)
    text = _DATE_SEPARATOR.sub(" ", text)
    text = _YEAR_WORD.sub(" ", _MONTH_WORD.sub(" ", text))
    text = _LEADING_ZEROS.sub("", text)
    return _ROMAN.sub(_with_arabic, text)


def _with_arabic(match: re.Match[str]) -> str:
    roman, text = match.group(0), match.string
    before = _WORD_BEFORE.search(text, max(0, match.start() - _NEIGHBOURHOOD), match.start())
    after = _WORD_AFTER.match(text, match.end(), match.end() + _NEIGHBOURHOOD)
    if not roman or any(m and len(m.group(1)) > 1 and m.group(1).isupper() for m in (before, after)):
        return roman
    values = [_ROMAN_VALUES[c] for c in roman]
    value = sum(-v if v < w else v for v, w in zip(values, values[1:] + [0]))
    return str(value)


def terms(text: str, *, folded: bool, query: bool = False) -> list[str]:
    """Return the syllables and syllable bigrams of `text`, optionally diacritic-folded."""
    return _split(canonical_numbers(text), folded=folded, query=query)


def _split(canonical: str, *, folded: bool, query: bool = False) -> list[str]:
    """`terms` of a text whose numbers are already canonical (both fields share that step)."""
    words = syllables(fold_diacritics(canonical) if folded else canonical)
    bigrams = [f"{a}_{b}" for a, b in zip(words, words[1:])]
    if query:
        words = [w for w in words if w not in QUESTION_WORDS]
    return words + bigrams


@dataclass(frozen=True)
class QueryTerms:
    """A query's terms in each field, computed once and matched against several indexes."""

    accented: list[str]
    folded: list[str]


def query_terms(text: str) -> QueryTerms:
    """Return the terms BM25 matches for the query `text`, without question words."""
    canonical = canonical_numbers(text)
    return QueryTerms(_split(canonical, folded=False, query=True), _split(canonical, folded=True, query=True))


@dataclass(frozen=True)
class LexicalIndex:
    """Two BM25 fields over the same passages: accented and diacritic-folded terms."""

    accented: Field
    folded: Field

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Return the index of `texts`; row i scores text i."""
        canonical = [canonical_numbers(t) for t in texts]
        return cls(
            Field.build([_split(t, folded=False) or [_EMPTY] for t in canonical]),
            Field.build([_split(t, folded=True) or [_EMPTY] for t in canonical]),
        )

    def save(self, directory: Path, name: str) -> list[str]:
        """Write both fields under `name` in `directory`; return the file names."""
        return self.accented.save(directory, f"{name}-accented") + self.folded.save(directory, f"{name}-folded")

    @classmethod
    def load(cls, directory: Path, name: str) -> LexicalIndex:
        """Return the index saved under `name`, memory-mapped."""
        return cls(Field.load(directory, f"{name}-accented"), Field.load(directory, f"{name}-folded"))

    @property
    def size(self) -> int:
        return self.accented.size

    def scorer(self) -> LexicalScorer:
        """Return the scorer of this index as a collection of its own."""
        return LexicalScorer.of([self])


@dataclass(frozen=True)
class LexicalScorer:
    """BM25 of both fields over several segments' indexes scored as one collection.

    Rows are the segments' rows one after the other. The statistics (rows, average
    length, document frequencies) are those of all the segments together, so a row
    scores the same whether its collection is one segment or many.
    """

    fields: tuple[tuple[FieldScorer, ...], tuple[FieldScorer, ...]]  # accented, folded: one per segment
    size: int
    shifts: np.ndarray  # first row of each segment, then the total

    @classmethod
    def of(cls, indexes: Sequence[LexicalIndex]) -> LexicalScorer:
        rows = sum(index.size for index in indexes)
        fields = []
        for name in ("accented", "folded"):
            segment_fields = [getattr(index, name) for index in indexes]
            length = sum(int(np.sum(f.lengths, dtype=np.int64)) for f in segment_fields)
            fields.append(tuple(FieldScorer.of(f, rows, length) for f in segment_fields))
        shifts = np.concatenate([[0], np.cumsum([index.size for index in indexes])]).astype(np.int64)
        return cls((fields[0], fields[1]), rows, shifts)

    @functools.cached_property
    def passes(self) -> Any:
        """Return the segments as the compiled BM25 loops visit them (`index/accumulate.py` `Passes`), made once."""
        from index.accumulate import passes_of  # compiled code: imported by the first search, not every reader

        return passes_of(self)

    def idf(self, df: np.ndarray) -> np.ndarray:
        """Return the idf, in this collection, of terms held by `df` rows."""
        return idf(self.size, df)

    def scores(self, query: QueryTerms) -> np.ndarray:
        """Return the BM25 score of every row: accented plus folded field."""
        total = np.zeros(self.size, dtype=np.float32)
        for scorers, terms in zip(self.fields, (query.accented, query.folded)):
            positions, weights = self._lookup(scorers, term_hashes(terms))
            total += np.concatenate([s.scores(p, weights) for s, p in zip(scorers, positions)] or [total[:0]])
        return total

    def df(self, hashes: np.ndarray, *, folded: bool) -> np.ndarray:
        """Return how many rows of the collection hold each term (by hash) of one field."""
        scorers = self.fields[1 if folded else 0]
        return sum((s.field.df(s.field.positions(hashes)) for s in scorers), np.zeros(len(hashes), dtype=np.int64))

    def holds(self, hashes: np.ndarray, *, folded: bool, excluded: np.ndarray) -> bool:
        """Return whether any row not in `excluded` (sorted) holds every one of the terms (by hash) of one field.

        Rows of the rarest term are checked against the others' postings a block at a time,
        so a phrase the collection uses is found in its first rows: at a million passages,
        intersecting whole postings cost seconds per version for the thesaurus's phrases.
        """
        for scorer, shift in zip(self.fields[1 if folded else 0], self.shifts[:-1]):
            field = scorer.field
            positions = field.positions(hashes)
            if not len(positions) or (positions < 0).any():
                continue
            lists = sorted((field.rows[field.indptr[p] : field.indptr[p + 1]] for p in positions), key=len)
            start, block = 0, 1024
            while start < len(lists[0]):
                rows = np.asarray(lists[0][start : start + block], dtype=np.int64)
                for postings in lists[1:]:
                    at = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
                    rows = rows[postings[at] == rows]
                if len(np.setdiff1d(rows + shift, excluded, assume_unique=True)):
                    return True
                start, block = start + block, block * 4
        return False

    def _lookup(self, scorers: Sequence[FieldScorer], hashes: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Return per segment where the terms are, and their idf in the whole collection."""
        positions = [s.field.positions(hashes) for s in scorers]
        df = sum((s.field.df(p) for s, p in zip(scorers, positions)), np.zeros(len(hashes), dtype=np.int64))
        return positions, idf(self.size, df)
