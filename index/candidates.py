"""The candidate stage: each signal proposes its best passages, and says what it scores.

The scoring in `index/search.py` (fusion, period prior, feedback, de-duplication,
highlights) runs over the union of these proposals only, so its cost follows the number
of candidates, not the size of the collection. An engine enters behind `CandidateStage`;
`MemoryCandidates` is FAISS for the vectors and `index/bm25.py`'s postings for BM25.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from index.accumulate import Accumulation, Matched, query_terms_of
from index.cores import SIDE, shared
from index.dense import EF_SEARCH
from index.lexical import LexicalScorer, QueryTerms
from index.lookup import ScoreLookup
from index.ranking import Ranking, concat_ranges, sort_rows
from index.store import IndexVersion

# Rows whose similarity to a query estimates the rank of a row the dense list misses: at least
# 4,096, and one in 64 of a larger collection, so a sampled row stands for at most 64 places.
# At a million synthetic passages, 15,625 instead of 4,096 took recall@10 against exhaustive
# scoring from 0.930 to 0.945 (20 questions; exact ranks gave 0.950).
_SAMPLE, _SAMPLED_SHARE = 4096, 64
# Chunks the sentences' list holds, per chunk wanted. Ranks below a list are estimated
# (`ranks_below`), and a long list keeps more of them exact: at 100,000 synthetic passages
# (100 questions) a list 3 times as long as the passages' took recall@10 against exhaustive
# scoring from 0.966 to 0.982, and a search's p50 from 25.9 to 33.3 ms.
_SENTENCE_LIST = 3


class TermMatch(Protocol):
    """BM25 of one query's terms, over passages and over their sentences."""

    def passages_top(self, n: int | None = None) -> Ranking:
        """Return the `n` rows with the best BM25 score above zero (None: every row the query reached).

        A ranking that is not `complete` may miss rows scored by common terms alone.
        """
        ...

    def sentences_top(self, n: int | None = None) -> Ranking:
        """Return the `n` rows whose best sentence scores best (above zero), with that score."""
        ...

    def best_sentences(self, rows: list[int]) -> list[tuple[int, int] | None]:
        """Return per row the offsets, in its text, of its best sentence (None: it has no sentence)."""
        ...

    def scores_of(self, rows: np.ndarray, *, sentences: bool) -> np.ndarray | None:
        """Return the exact score of each of `rows` in one signal (0: no term), or None if the engine cannot tell.

        Args:
            sentences: the score of each row's best sentence, instead of the passage's.
        """
        ...


class CandidateStage(Protocol):
    """What the scoring needs of an engine: best rows per signal, exact scores of given rows."""

    @property
    def size(self) -> int:
        """Return the number of passages (rows 0 .. size - 1)."""
        ...

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = EF_SEARCH) -> Ranking:
        """Return the `n` rows whose vectors are closest to `vector` (inner product).

        Args:
            ef_search: candidates an approximate (HNSW) index keeps while searching; when
                `n` asks for every row, every vector is compared instead.
        """
        ...

    def dense_ranks(self, vector: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        """Return the estimated rank (0: best) among all rows of a row with each `similarity` to `vector`."""
        ...

    def match(
        self, query: QueryTerms, wanted: int | None = None, *, passages: bool = True, sentences: bool = True
    ) -> TermMatch:
        """Return the BM25 side of one query.

        Args:
            wanted: the longest list the caller will ask for; None scores exhaustively.
            passages, sentences: whether the caller will ask for the passages' list and the
                sentences'. Without a list, its field is only scored for the rows asked
                (`scores_of`, `best_sentences`).
        """
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Return the stored vectors of `rows`, one per line."""
        ...


@dataclass(frozen=True)
class MemoryCandidates:
    """FAISS and BM25 postings over the segments of one loaded index version."""

    version: IndexVersion
    lexical: LexicalScorer
    sentences: LexicalScorer  # one BM25 row per sentence of every chunk
    sentence_spans: np.ndarray  # (sentences, 2): offsets in the chunk's text
    first_sentence: np.ndarray  # sentences of row r: first_sentence[r] : first_sentence[r + 1]
    deleted_sentences: np.ndarray  # sentences of deleted rows

    @classmethod
    def build(cls, version: IndexVersion) -> MemoryCandidates:
        """Return the candidate stage of `version`: the segments' indexes joined, nothing re-analysed."""
        texts = [segment.text for segment in version.segments]
        counts = np.array([t.first_sentence[-1] for t in texts], dtype=np.int64)
        shifts = np.concatenate([[0], np.cumsum(counts)])
        first = _joined([t.first_sentence[:-1] + shift for t, shift in zip(texts, shifts)], np.int64)
        first_sentence = np.concatenate([first, shifts[-1:]]).astype(np.int64)
        rows = version.deleted_rows
        deleted_sentences, _ = concat_ranges(first_sentence[rows], first_sentence[rows + 1])
        return cls(
            version,
            LexicalScorer.of([t.passages for t in texts]),
            LexicalScorer.of([t.sentences for t in texts]),
            _joined([t.sentence_spans for t in texts], np.int32).reshape(-1, 2),
            first_sentence,
            deleted_sentences,
        )

    @property
    def size(self) -> int:
        return self.version.size

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = EF_SEARCH) -> Ranking:
        """Return the `n` best rows over every segment (deleted rows skipped)."""
        version = self.version
        exact = n >= self.size - len(version.deleted_rows)
        found = shared(  # the segments' graphs on both cores
            [
                functools.partial(segment.dense.search, vector, n, deleted, ef_search=ef_search, exact=exact)
                for segment, deleted in zip(version.segments, version.deleted)
            ]
        )
        rows = np.concatenate([f.rows + shift for f, shift in zip(found, version.offsets)])
        scores = np.concatenate([f.scores for f in found])
        return sort_rows(rows, scores, limit=n, complete=all(f.complete for f in found) and len(rows) <= n)

    def dense_ranks(self, vector: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        """Count, in a fixed sample of the collection, the rows closer to `vector`, and scale it up."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        closer = np.searchsorted(np.sort(self._sample @ query), similarity, side="right")
        return (len(self._sample) - closer) / max(len(self._sample), 1) * (self.size - len(self.version.deleted_rows))

    @functools.cached_property
    def _sample(self) -> np.ndarray:
        live = np.setdiff1d(np.arange(self.size), self.version.deleted_rows, assume_unique=True)
        count = min(len(live), max(_SAMPLE, len(live) // _SAMPLED_SHARE))
        return self.vectors(live[np.linspace(0, len(live) - 1, count).astype(np.int64)])

    def match(
        self, query: QueryTerms, wanted: int | None = None, *, passages: bool = True, sentences: bool = True
    ) -> TermMatch:
        return _MemoryMatch(self, query, wanted, passages, sentences)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.version.vectors(rows)

    def sentence_rows(self, sentences: np.ndarray) -> np.ndarray:
        """Return the chunk row of each sentence."""
        return np.searchsorted(self.first_sentence, sentences, side="right") - 1

    def best_spans(
        self, rows: list[int], scores_of: Callable[[np.ndarray], np.ndarray]
    ) -> list[tuple[int, int] | None]:
        """Return per row the offsets of its best sentence by `scores_of(sentences)` (None: no sentence)."""
        rows_array = np.asarray(rows, dtype=np.int64)
        starts, ends = self.first_sentence[rows_array], self.first_sentence[rows_array + 1]
        ids, begins = concat_ranges(starts, ends)
        scores = scores_of(ids)
        spans: list[tuple[int, int] | None] = []
        for start, end, begin in zip(starts, ends, begins):
            if end == start:
                spans.append(None)
                continue
            best = int(start) + int(np.argmax(scores[begin : begin + end - start]))  # ties: the earliest
            first, last = self.sentence_spans[best]
            spans.append((int(first), int(last)))
        return spans


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    """Return the arrays end to end; a lone one as it is (memory-mapped, not copied)."""
    if len(arrays) == 1:
        return arrays[0]
    return np.concatenate([np.asarray(a, dtype=dtype) for a in arrays]) if arrays else np.zeros(0, dtype=dtype)


class _MemoryMatch:
    """BM25 of one query over passages and sentences, accumulated once when first asked."""

    def __init__(
        self, stage: MemoryCandidates, query: QueryTerms, wanted: int | None, passages: bool, sentences: bool
    ) -> None:
        self._stage = stage
        terms, sentence_terms = query_terms_of(stage.lexical, query), query_terms_of(stage.sentences, query)
        sentences_wanted = None if wanted is None else wanted * _SENTENCE_LIST
        self._passage_work = (
            Accumulation(stage.lexical, terms, wanted, stage.version.deleted_rows) if passages else None
        )
        self._sentence_work = (
            Accumulation(
                stage.sentences, sentence_terms, sentences_wanted, stage.deleted_sentences, groups=stage.first_sentence
            )  # a chunk ranks by its best sentence: the list counts chunks, not sentences
            if sentences
            else None
        )
        self._passage_lookup = ScoreLookup(stage.lexical, terms)
        self._sentence_lookup = ScoreLookup(stage.sentences, sentence_terms)
        # A hybrid search reads both fields; their postings loops release the GIL. A free core
        # makes the sentences' passes, then helps with the passages' (and this thread the
        # other way round, when it asks): if no core is free, this thread makes them all.
        if passages or sentences:
            SIDE.submit(self._visit_on_side)

    def _visit_on_side(self) -> None:
        for work in (self._sentence_work, self._passage_work):
            if work is not None:
                work.work()

    @functools.cached_property
    def _passages(self) -> Matched:
        return _listed(self._passage_work)

    @functools.cached_property
    def _sentences(self) -> Matched:
        return _listed(self._sentence_work)

    def passages_top(self, n: int | None = None) -> Ranking:
        return _top(self._passages, n)

    def sentences_top(self, n: int | None = None) -> Ranking:
        return self._sentence_ranking.head(n)

    @functools.cached_property
    def _sentence_ranking(self) -> Ranking:
        """Return the rows of every sentence listed, each at its best sentence."""
        sentences = _top(self._sentences, None)
        # Sentences come best first, so a row's first appearance is its best sentence.
        rows, first = np.unique(self._stage.sentence_rows(sentences.rows), return_index=True)
        return sort_rows(rows, sentences.scores[first], complete=sentences.complete)

    def best_sentences(self, rows: list[int]) -> list[tuple[int, int] | None]:
        return self._stage.best_spans(rows, self._sentence_scores)

    def scores_of(self, rows: np.ndarray, *, sentences: bool) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if not sentences:
            return _listed_or_exact(self._passages, rows, self._passage_lookup)
        first = self._stage.first_sentence
        ids, begins = concat_ranges(first[rows], first[rows + 1])
        scores = _listed_or_exact(self._sentences, ids, self._sentence_lookup)
        best = np.zeros(len(rows), dtype=np.float64)
        held = first[rows + 1] > first[rows]
        if len(ids):
            best[held] = np.maximum.reduceat(scores, begins[held])
        return best

    def _sentence_scores(self, ids: np.ndarray) -> np.ndarray:
        return _listed_or_exact(self._sentences, ids, self._sentence_lookup)


def _listed(work: Accumulation | None) -> Matched:
    """Return the rows an accumulation lists; none, and not complete, if no list was asked (scores are looked up)."""
    if work is None:
        nothing = np.zeros(0, dtype=np.int64)
        return Matched(nothing, nothing.astype(np.float64), complete=False)
    return work.result()


def _listed_or_exact(matched: Matched, ids: np.ndarray, lookup: ScoreLookup) -> np.ndarray:
    """Return the exact score of each of `ids`: as accumulated, or looked up if the accumulation did not list it."""
    at = np.minimum(np.searchsorted(matched.rows, ids), max(len(matched.rows) - 1, 0))
    found = matched.rows[at] == ids if len(matched.rows) else np.zeros(len(ids), dtype=bool)
    scores = np.where(found, matched.scores[at] if len(matched.rows) else 0.0, 0.0)
    if not matched.complete and not found.all():
        scores[~found] = lookup.scores(ids[~found])
    return scores


def _top(matched: Matched, n: int | None) -> Ranking:
    """Return the `n` best rows with a score above zero (None: all of them)."""
    positive = matched.scores > 0
    rows, scores = matched.rows[positive], matched.scores[positive]
    return sort_rows(rows, scores, limit=n, complete=matched.complete and (n is None or len(rows) <= n))
