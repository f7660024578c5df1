"""Search filters: which documents a search may return, applied before ranking.

A filter narrows the rows every signal ranks, so the `top_k` results all satisfy it and
a passage's rank is its rank among the allowed passages. The filtered stage scores the
allowed rows exactly: the dense signal compares the query with each of their vectors,
the BM25 signals keep the allowed rows of their complete lists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from index.candidates import CandidateStage, TermMatch
from index.dense import EF_SEARCH
from index.lexical import QueryTerms
from index.ranking import Ranking, sort_rows
from index.store import IndexVersion


@dataclass(frozen=True)
class SearchFilter:
    """Documents a search may return: all of these that are given must hold."""

    doc_ids: frozenset[str] | None = None
    published_from: dt.date | None = None  # inclusive
    published_to: dt.date | None = None  # inclusive

    def __bool__(self) -> bool:
        return self.doc_ids is not None or self.published_from is not None or self.published_to is not None

    def allows(self, doc_id: str, published: dt.date) -> bool:
        """Return True when a document with this id and date passes the filter."""
        return (
            (self.doc_ids is None or doc_id in self.doc_ids)
            and (self.published_from is None or published >= self.published_from)
            and (self.published_to is None or published <= self.published_to)
        )


def allowed_rows(version: IndexVersion, search_filter: SearchFilter) -> np.ndarray:
    """Return the sorted rows of `version`'s live documents that pass `search_filter`."""
    parts = [
        version.offsets[at] + record.first_row + np.arange(record.chunk_count, dtype=np.int64)
        for at, record in version.documents.placed()
        if search_filter.allows(record.meta.doc_id, record.meta.published)
    ]
    return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class FilteredStage:
    """A candidate stage that proposes only `allowed` rows (sorted), ranked among themselves.

    One is made per search, so the similarities of the allowed rows to a query vector are
    computed once and reused by the dense list and the rank estimates.
    """

    stage: CandidateStage
    allowed: np.ndarray
    _similar: dict[bytes, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.stage.size

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = EF_SEARCH) -> Ranking:
        scores = self._similarities(vector)
        return sort_rows(self.allowed, scores, limit=n, complete=True)

    def dense_ranks(self, vector: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        ordered = np.sort(self._similarities(vector))
        return len(ordered) - np.searchsorted(ordered, similarity, side="right")

    def match(
        self, query: QueryTerms, wanted: int | None = None, *, passages: bool = True, sentences: bool = True
    ) -> TermMatch:
        return _FilteredMatch(self.stage.match(query, None, passages=passages, sentences=sentences), self.allowed)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.stage.vectors(rows)

    def _similarities(self, vector: np.ndarray) -> np.ndarray:
        """Return the inner product of `vector` with each allowed row's vector."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        key = query.tobytes()
        if key not in self._similar:
            self._similar[key] = self.stage.vectors(self.allowed) @ query
        return self._similar[key]


@dataclass(frozen=True)
class _FilteredMatch:
    match: TermMatch
    allowed: np.ndarray

    def passages_top(self, n: int | None = None) -> Ranking:
        return self._keep(self.match.passages_top(None), n)

    def sentences_top(self, n: int | None = None) -> Ranking:
        return self._keep(self.match.sentences_top(None), n)

    def best_sentences(self, rows: list[int]) -> list[tuple[int, int] | None]:
        return self.match.best_sentences(rows)

    def scores_of(self, rows: np.ndarray, *, sentences: bool) -> np.ndarray | None:
        return self.match.scores_of(rows, sentences=sentences)

    def _keep(self, ranking: Ranking, n: int | None) -> Ranking:
        mine = np.isin(ranking.rows, self.allowed, assume_unique=True)
        return Ranking(ranking.rows[mine], ranking.scores[mine], ranking.complete).head(n)
