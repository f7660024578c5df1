"""The candidate stage: each signal proposes its best passages, and says what it scores.

The scoring in `index/search.py` (fusion, period prior, feedback, de-duplication,
highlights) runs over the union of these proposals only, so its cost follows the number
of candidates, not the size of the collection. An engine enters behind `CandidateStage`;
`MemoryCandidates` is FAISS for the vectors and `index/bm25.py`'s postings for BM25.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np

from corpus.chunk import split_sentences
from index.lexical import LexicalIndex, LexicalScorer, QueryTerms
from index.ranking import Ranking, concat_ranges, sort_rows, top_rows
from index.store import IndexVersion

# A chunk shares sentences with its neighbours, so the best sentences name fewer chunks
# than sentences; this many sentences per chunk wanted keeps the chunk ranking full.
_SENTENCES_PER_CHUNK = 3


class TermMatch(Protocol):
    """BM25 of one query's terms, over passages and over their sentences."""

    def passages_top(self, n: int) -> Ranking:
        """Return the `n` rows with the best BM25 score above zero."""
        ...

    def passage_scores(self, rows: np.ndarray) -> np.ndarray:
        """Return the BM25 score of each of `rows`."""
        ...

    def sentences_top(self, n: int) -> Ranking:
        """Return the `n` rows whose best sentence scores best (above zero), with that score."""
        ...

    def sentence_scores(self, rows: np.ndarray) -> np.ndarray:
        """Return the BM25 score of the best sentence of each of `rows`."""
        ...

    def best_sentences(self, rows: list[int]) -> list[tuple[int, int] | None]:
        """Return per row the offsets, in its text, of its best sentence (None: it has no sentence)."""
        ...


class CandidateStage(Protocol):
    """What the scoring needs of an engine: best rows per signal, exact scores of given rows."""

    @property
    def size(self) -> int:
        """Return the number of passages (rows 0 .. size - 1)."""
        ...

    def dense_top(self, vector: np.ndarray, n: int) -> Ranking:
        """Return the `n` rows whose vectors are closest to `vector` (inner product)."""
        ...

    def match(self, query: QueryTerms) -> TermMatch:
        """Return the BM25 side of one query."""
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Return the stored vectors of `rows`, one per line."""
        ...


@dataclass(frozen=True)
class MemoryCandidates:
    """FAISS and BM25 postings over one loaded index version."""

    index: faiss.Index
    lexical: LexicalScorer
    sentences: LexicalScorer  # one BM25 row per sentence of every chunk
    sentence_spans: np.ndarray  # (sentences, 2): offsets in the chunk's text
    sentence_rows: np.ndarray  # chunk row of each sentence
    first_sentence: np.ndarray  # sentences of row r: first_sentence[r] : first_sentence[r + 1]

    @classmethod
    def build(cls, version: IndexVersion) -> MemoryCandidates:
        """Return the candidate stage of `version`; all preparation happens here."""
        texts = [c.text for c in version.chunks]
        per_row = [split_sentences(text) for text in texts]
        spans = np.array([span for spans in per_row for span in spans], dtype=np.int64).reshape(-1, 2)
        counts = np.array([len(spans) for spans in per_row], dtype=np.int64)
        sentence_texts = [text[s:e] for text, spans in zip(texts, per_row) for s, e in spans]
        return cls(
            version.vectors,
            LexicalIndex.build(texts).scorer(),
            LexicalIndex.build(sentence_texts).scorer(),
            spans,
            np.repeat(np.arange(len(texts), dtype=np.int64), counts),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        )

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def dense_top(self, vector: np.ndarray, n: int) -> Ranking:
        n = min(n, self.size)
        scores, rows = self.index.search(np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1), n)
        valid = rows[0] >= 0
        # FAISS orders equal scores arbitrarily; the scoring wants the lower row first.
        return sort_rows(rows[0][valid], scores[0][valid].astype(np.float64), complete=n == self.size)

    def match(self, query: QueryTerms) -> TermMatch:
        return _MemoryMatch(self, query)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.stack([self.index.reconstruct(int(row)) for row in rows])


class _MemoryMatch:
    """Scores every passage and every sentence once, when first asked; later asks read them."""

    def __init__(self, stage: MemoryCandidates, query: QueryTerms) -> None:
        self._stage = stage
        self._query = query

    @functools.cached_property
    def _passages(self) -> np.ndarray:
        return self._stage.lexical.scores(self._query)

    @functools.cached_property
    def _sentences(self) -> np.ndarray:
        return self._stage.sentences.scores(self._query)

    def passages_top(self, n: int) -> Ranking:
        return top_rows(self._passages, n, positive_only=True)

    def passage_scores(self, rows: np.ndarray) -> np.ndarray:
        return self._passages[rows]

    def sentences_top(self, n: int) -> Ranking:
        sentences = top_rows(self._sentences, n * _SENTENCES_PER_CHUNK, positive_only=True)
        # Sentences come best first, so a row's first appearance is its best sentence.
        rows, first = np.unique(self._stage.sentence_rows[sentences.rows], return_index=True)
        ranked = sort_rows(rows, sentences.scores[first], limit=n, complete=sentences.complete and len(rows) <= n)
        return ranked

    def sentence_scores(self, rows: np.ndarray) -> np.ndarray:
        scores, begins, has = self._row_sentences(np.asarray(rows, dtype=np.int64))
        best = np.zeros(len(rows), dtype=np.float64)
        if has.any():
            best[has] = np.maximum.reduceat(scores, begins[has])
        return best

    def best_sentences(self, rows: list[int]) -> list[tuple[int, int] | None]:
        rows_array = np.asarray(rows, dtype=np.int64)
        scores, begins, has = self._row_sentences(rows_array)
        spans: list[tuple[int, int] | None] = []
        for row, begin, present in zip(rows_array, begins, has):
            if not present:
                spans.append(None)
                continue
            count = self._stage.first_sentence[row + 1] - self._stage.first_sentence[row]
            best = self._stage.first_sentence[row] + int(np.argmax(scores[begin : begin + count]))  # ties: earliest
            start, end = self._stage.sentence_spans[best]
            spans.append((int(start), int(end)))
        return spans

    def _row_sentences(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the scores of the sentences of `rows`, joined, where each row's begin, and which have any."""
        starts, ends = self._stage.first_sentence[rows], self._stage.first_sentence[rows + 1]
        ids, begins = concat_ranges(starts, ends)
        return self._sentences[ids], begins, ends > starts
