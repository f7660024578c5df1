"""BM25 over Vietnamese syllables and syllable bigrams, in two fields.

Vietnamese words are mostly two syllables ("đảng viên", "thành lập"), so bigrams stand
in for a word segmenter. The accented field keeps tones ("bộ" is not "bố"); the folded
field drops every diacritic so a question typed without them still matches.
"""

from __future__ import annotations

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


def terms(text: str, *, folded: bool, query: bool = False) -> list[str]:
    """Return the syllables and syllable bigrams of `text`, optionally diacritic-folded."""
    words = syllables(fold_diacritics(text) if folded else text)
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
        return cls(
            _bm25([terms(t, folded=False) for t in texts]), _bm25([terms(t, folded=True) for t in texts]), len(texts)
        )

    def scores(self, query: str) -> np.ndarray:
        """Return the BM25 score of every passage: accented plus folded field."""
        scores = np.zeros(self.size, dtype=np.float32)
        for field, folded in ((self.accented, False), (self.folded, True)):
            query_terms = terms(query, folded=folded, query=True)
            if query_terms and self.size:  # "???" has no terms, and bm25s needs at least one
                scores += field.get_scores(query_terms)
        return scores


def _bm25(corpus: list[list[str]]) -> bm25s.BM25:
    retriever = bm25s.BM25()
    # bm25s refuses an empty document; a placeholder term keeps row numbers aligned.
    retriever.index([doc or ["\u2205"] for doc in corpus], show_progress=False)
    return retriever
