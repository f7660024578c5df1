"""Queries to ranked, cited passages: dense, BM25 or their fusion, with highlights.

A `Retriever` is built once per loaded index version (candidate stage, query rewriter,
period table), so the query path only computes: rewrite the question, embed it (on the
encoder's workers), let each signal propose its best passages, fuse their ranks over the
union of the proposals, favour passages about the years the question names, drop
near-duplicates, pick highlights. After the proposals nothing visits every passage.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from corpus.chunk import Chunk
from corpus.documents import DocumentMeta
from corpus.normalize import fold_diacritics, syllables
from index.candidates import CandidateStage, MemoryCandidates, TermMatch
from index.encoder import QueryEncoder
from index.lexical import QUESTION_WORDS, query_terms
from index.period import PeriodTable, years
from index.ranking import Ranking, sort_rows
from index.rewrite import QueryRewriter
from index.store import IndexVersion

Mode = Literal["dense", "bm25", "hybrid"]
_EVIDENCE_DEPTH = 1  # passages searched for the question's terms: the best one (measured against 2, 3 and 5)
_FOLDED_QUESTION_WORDS = frozenset(fold_diacritics(w) for w in QUESTION_WORDS)
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class SearchConfig:
    """How passages are scored and fused; the defaults are the best measured on the eval set."""

    mode: Mode = "hybrid"
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    sentence_weight: float = 0.5
    period_weight: float = 0.1  # hybrid score gain of a passage about exactly the years asked
    feedback_weight: float = 0.3  # share of the best passages' centroid added to the query vector (0: off)
    feedback_depth: int = 5  # passages whose centroid moves the query vector
    restore_diacritics: bool = True
    translate_english: bool = True
    expand_synonyms: bool = True  # plain wordings the collection never uses -> its own (synonyms_vi.tsv)
    min_confidence: float = 0.531  # term coverage below which nothing answers (max recall at <=10% false flags)
    max_overlap: float = 0.2  # share of a passage already shown by a higher hit that makes it a duplicate
    candidates: int = 200  # passages each signal proposes (0: every passage, the exhaustive reference)


@dataclass(frozen=True)
class Hit:
    """One ranked passage and the sentence in it that best answers the query."""

    rank: int
    score: float
    chunk: Chunk
    document: DocumentMeta
    highlight: tuple[int, int]  # offsets into chunk.text


@dataclass(frozen=True)
class SearchOutcome:
    """The hits, and whether the collection seems to answer the query at all."""

    hits: list[Hit]
    answerable: bool
    confidence: float  # share of the question's distinctive terms found in the best passage
    rewritten_query: str | None  # the query as matched by BM25, when restored, translated or expanded


@dataclass(frozen=True)
class _Signals:
    """What the BM25 signals proposed for one query, and the years it names."""

    match: TermMatch
    lexical: Ranking
    sentence: Ranking
    asked_years: frozenset[int]


@dataclass
class Retriever:
    """Everything a search needs from one index version, prepared once."""

    version: IndexVersion
    encoder: QueryEncoder
    candidates: CandidateStage
    rewriter: QueryRewriter
    term_sets: list[frozenset[str]]  # folded syllables of each chunk
    idf: dict[str, float]
    periods: PeriodTable

    @classmethod
    def build(cls, version: IndexVersion, encoder: QueryEncoder) -> Retriever:
        """Return the retriever of `version`; all preparation happens here."""
        texts = [c.text for c in version.chunks]
        term_sets = [frozenset(syllables(fold_diacritics(t))) for t in texts]
        frequency = Counter(term for terms in term_sets for term in terms)
        idf = {term: math.log((len(texts) + 1) / (count + 0.5)) for term, count in frequency.items()}
        return cls(
            version,
            encoder,
            MemoryCandidates.build(version),
            QueryRewriter.for_collection([d.text for d in version.documents.values()]),
            term_sets,
            idf,
            PeriodTable.build(version.chunks, {doc_id: d.text for doc_id, d in version.documents.items()}),
        )

    def search(self, query: str, top_k: int, config: SearchConfig | None = None) -> SearchOutcome:
        """Return the `top_k` best passages for `query`."""
        config = config or SearchConfig()
        if not self.candidates.size:
            return SearchOutcome([], False, 0.0, None)
        rewrite = self.rewriter.rewrite(
            query,
            restore_diacritics=config.restore_diacritics,
            translate_english=config.translate_english,
            expand_synonyms=config.expand_synonyms,
        )
        # One model call per search, on the encoder's workers. BM25 does not run beside it:
        # a question alone has every core for its embedding, and sharing them costs more.
        query_vector = self.encoder.embed(rewrite.dense) if config.mode != "bm25" else None
        depth = self._depth(config, top_k)
        match = self.candidates.match(query_terms(rewrite.lexical))
        lexical = match.passages_top(depth)
        if query_vector is None:
            rows, scores = lexical.rows, lexical.scores
            order: Iterator[int] = _then_unscored(rows, complete=lexical.complete, size=self.candidates.size)
        elif config.mode == "dense":
            dense = self.candidates.dense_top(query_vector, depth)
            rows, scores, order = dense.rows, dense.scores, iter(dense.rows.tolist())
        else:
            signals = _Signals(match, lexical, match.sentences_top(depth), years(rewrite.lexical))
            rows, scores = self._hybrid(query_vector, signals, depth, config)
            order = iter(rows.tolist())
        score_of = dict(zip(rows.tolist(), scores.tolist()))
        kept = _dedupe(order, self.version.chunks, top_k, config.max_overlap)
        spans = match.best_sentences(kept)
        hits = [
            self._hit(rank, row, score_of.get(row, 0.0), span) for rank, (row, span) in enumerate(zip(kept, spans), 1)
        ]
        confidence = self._coverage(rewrite.evidence, kept[:_EVIDENCE_DEPTH])
        rewritten = rewrite.lexical if rewrite.lexical != query else None
        return SearchOutcome(hits, confidence >= config.min_confidence, confidence, rewritten)

    def _depth(self, config: SearchConfig, top_k: int) -> int:
        """Return how many candidates each signal proposes: enough for `top_k` after de-duplication."""
        if not config.candidates:
            return self.candidates.size
        return max(config.candidates, 2 * top_k, config.feedback_depth)

    def _hybrid(
        self, query_vector: np.ndarray, signals: _Signals, depth: int, config: SearchConfig
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the candidate rows, best first, and their fused scores."""
        rows, fused = self._fuse(self.candidates.dense_top(query_vector, depth), signals, config)
        if config.feedback_weight and config.feedback_depth:
            moved = self._feedback(query_vector, rows[: config.feedback_depth], config)
            rows, fused = self._fuse(self.candidates.dense_top(moved, depth), signals, config)
        return rows, fused

    def _fuse(self, dense: Ranking, signals: _Signals, config: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
        """Return the union of candidates, best first, and their hybrid scores.

        Weighted reciprocal-rank fusion, raised for passages about the years asked. A
        candidate missing from a signal's list ranks just below that list (its true rank
        is no better); a BM25 signal gives nothing to a passage that shares no term.
        """
        rows = np.union1d(np.union1d(dense.rows, signals.lexical.rows), signals.sentence.rows)
        k = config.rrf_k
        lexical = _rrf(signals.lexical, rows, k, signals.match.passage_scores)
        sentence = _rrf(signals.sentence, rows, k, signals.match.sentence_scores)
        fused = config.dense_weight * _rrf(dense, rows, k) + config.lexical_weight * lexical
        fused = (fused + config.sentence_weight * sentence) * (1.0 + config.period_weight * self._period(signals, rows))
        ranked = sort_rows(rows, fused, complete=True)
        return ranked.rows, ranked.scores

    def _period(self, signals: _Signals, rows: np.ndarray) -> np.ndarray:
        """Return per row how close its years are to those the query names (all 0 if it names none)."""
        if not signals.asked_years:
            return np.zeros(len(rows), dtype=np.float64)
        return self.periods.match(signals.asked_years, rows)

    def _feedback(self, query_vector: np.ndarray, best: np.ndarray, config: SearchConfig) -> np.ndarray:
        """Return the query vector moved toward the mean of the best fused passages (Rocchio).

        A question worded unlike the text embeds far from its answer; the passages that
        BM25 and the embedding agree on carry the collection's own wording of the topic.
        """
        moved = query_vector + config.feedback_weight * self.candidates.vectors(best).mean(axis=0)
        return np.ascontiguousarray(moved / np.linalg.norm(moved), dtype=np.float32)

    def _coverage(self, query: str, rows: list[int]) -> float:
        """Return the largest IDF-weighted share of the query's terms that one of `rows` contains.

        A question the collection cannot answer usually names something it never mentions
        (a year, a title, a figure), so its distinctive terms are missing from every passage.
        """
        words = {w for w in syllables(fold_diacritics(query)) if w not in _FOLDED_QUESTION_WORDS}
        unseen = math.log((len(self.term_sets) + 1) / 0.5)  # a term no passage has weighs most
        weights = {w: self.idf.get(w, unseen) for w in words}
        total = sum(weights.values())
        if not total or not rows:
            return 0.0
        return max(sum(v for w, v in weights.items() if w in self.term_sets[row]) for row in rows) / total

    def _hit(self, rank: int, row: int, score: float, sentence: tuple[int, int] | None) -> Hit:
        chunk = self.version.chunks[row]
        highlight = sentence or (0, len(chunk.text))
        return Hit(rank, score, chunk, self.version.documents[chunk.doc_id].meta, highlight)


def _rrf(
    ranking: Ranking, rows: np.ndarray, k: int, exact_scores: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    """Return the reciprocal-rank weight of each of `rows` (sorted) in `ranking`.

    Args:
        exact_scores: the signal's score of given rows, for a BM25 signal: a row it scores
            zero (no term matched) gets no weight, so row order does not rank passages that
            share nothing with the query. None for the dense signal, which ranks every row.
    """
    position = np.full(len(rows), len(ranking.rows), dtype=np.int64)  # below the list
    listed = np.searchsorted(rows, ranking.rows)
    position[listed] = np.arange(len(ranking.rows))
    weights = 1.0 / (k + position + 1)
    if exact_scores is None:
        return weights
    missing = position == len(ranking.rows)
    if ranking.complete:
        weights[missing] = 0.0  # the list holds every row that scores
    elif missing.any():
        weights[missing] = np.where(exact_scores(rows[missing]) > 0, weights[missing], 0.0)
    return weights


def _then_unscored(rows: np.ndarray, *, complete: bool, size: int) -> Iterator[int]:
    """Yield `rows`, then, if they are every row that scores, the others in row order (score 0)."""
    yield from rows.tolist()
    if complete:
        listed = set(rows.tolist())
        yield from (row for row in range(size) if row not in listed)


def _dedupe(order: Iterator[int], chunks: list[Chunk], top_k: int, max_overlap: float) -> list[int]:
    """Return the first `top_k` rows of `order`, skipping passages mostly shown already."""
    kept: list[int] = []
    for row in order:
        chunk = chunks[row]
        if not any(_overlap(chunk, chunks[k]) > max_overlap for k in kept):
            kept.append(int(row))
            if len(kept) == top_k:
                break
    return kept


def _overlap(a: Chunk, b: Chunk) -> float:
    if a.doc_id != b.doc_id:
        return 0.0
    shared = min(a.end, b.end) - max(a.start, b.start)
    return max(shared, 0) / max(min(a.end - a.start, b.end - b.start), 1)
