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

import re
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from corpus.normalize import fold_diacritics, syllables

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


@dataclass
class LexicalIndex:
    """Two BM25 fields over the same passages."""

    accented: bm25s.BM25
    folded: bm25s.BM25
    size: int

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Return the index of `texts`; row i scores text i."""
        canonical = [canonical_numbers(t) for t in texts]
        return cls(
            _bm25([_split(t, folded=False) for t in canonical]),
            _bm25([_split(t, folded=True) for t in canonical]),
            len(texts),
        )

    def scores(self, query: str) -> np.ndarray:
        """Return the BM25 score of every passage: accented plus folded field."""
        scores = np.zeros(self.size, dtype=np.float32)
        canonical = canonical_numbers(query)
        for field, folded in ((self.accented, False), (self.folded, True)):
            query_terms = _split(canonical, folded=folded, query=True)
            if query_terms and self.size:  # "???" has no terms, and bm25s needs at least one
                scores += field.get_scores(query_terms)
        return scores


def _bm25(corpus: list[list[str]]) -> bm25s.BM25:
    retriever = bm25s.BM25()
    # bm25s refuses an empty document; a placeholder term keeps row numbers aligned.
    retriever.index([doc or ["\u2205"] for doc in corpus], show_progress=False)
    return retriever
