"""Queries to ranked, cited passages: dense, BM25 or their fusion, with highlights.

A `Retriever` is built once per loaded index version (candidate stage, query rewriter,
period table), so the query path only computes: rewrite the question, embed it (on the
encoder's workers), let each signal propose its best passages, fuse their ranks over the
union of the proposals, favour passages about the years the question names, drop
near-duplicates, pick highlights. After the proposals nothing visits every passage.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, cast

import numpy as np

from corpus.chunk import Chunk
from corpus.documents import DocumentMeta
from corpus.normalize import fold_diacritics
from index.bm25 import term_hashes
from index.candidates import CandidateStage, MemoryCandidates, TermMatch
from index.cores import shared
from index.dedupe import without_repeats
from index.dense import EF_SEARCH
from index.encoder import QueryEncoder
from index.feedback import MOVED_DEPTH, moved_query, moved_ranking
from index.filters import FilteredStage, SearchFilter, allowed_rows
from index.lexical import QUESTION_WORDS, query_terms
from index.period import PeriodTable, years
from index.ranking import Ranking, ranks_below, ranks_missed, rrf_weights, sort_rows, then_unscored
from index.rewrite import QueryRewriter
from index.store import IndexVersion
from index.textindex import coverage_terms
from index.timing import Clock, TimedStage

Mode = Literal["dense", "bm25", "hybrid"]
# BM25 candidates per dense candidate. With the rows below a BM25 list ranked by their exact
# score (`ranks_below`) rather than just below it, lists as long as the dense one keep recall:
# 0.973 at 1, 0.972 at 5 (100,000 synthetic passages, 40 questions; p50 68 against 131 ms).
_LEXICAL_DEPTH = 1
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
    hnsw_ef_search: int = EF_SEARCH  # candidates an HNSW segment keeps while searching (more: better recall, slower)


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
    timings: dict[str, float] = field(default_factory=dict)  # seconds: embed, candidates, scoring


@dataclass(frozen=True)
class _Signals:
    """What the BM25 signals proposed for one query, and the years it names."""

    match: TermMatch
    lexical: Ranking
    sentence: Ranking
    asked_years: frozenset[int]


Engine = Callable[[MemoryCandidates], CandidateStage]  # e.g. Milvus over the version's collections


@dataclass
class Retriever:
    """Everything a search needs from one index version, prepared once."""

    version: IndexVersion
    encoder: QueryEncoder | None  # None: BM25 searches only
    candidates: CandidateStage
    rewriter: QueryRewriter
    periods: PeriodTable

    @classmethod
    def build(cls, version: IndexVersion, encoder: QueryEncoder | None, engine: Engine | None = None) -> Retriever:
        """Return the retriever of `version`, searching through `engine` (default: FAISS and our BM25 postings).

        The segments' files hold everything it reads; `engine` makes another stage from the in-memory one.
        """
        local = MemoryCandidates.build(version)
        vocabulary = {word for segment in version.segments for word in segment.text.vocabulary}
        return cls(
            version,
            encoder,
            engine(local) if engine else local,
            QueryRewriter.for_index(local.lexical, vocabulary, version.deleted_rows),
            PeriodTable.joined([segment.text.periods for segment in version.segments]),
        )

    def with_encoder(self, encoder: QueryEncoder, engine: Engine | None = None) -> Retriever:
        """Return this retriever (built without an engine) embedding with `encoder`, searching through `engine`."""
        local = cast(MemoryCandidates, self.candidates)
        return dataclasses.replace(self, encoder=encoder, candidates=engine(local) if engine else local)

    def search(
        self, query: str, top_k: int, config: SearchConfig | None = None, search_filter: SearchFilter | None = None
    ) -> SearchOutcome:
        """Return the `top_k` best passages for `query` (of the documents `search_filter` allows)."""
        config = config or SearchConfig()
        started, clock = time.perf_counter(), Clock()
        stage: CandidateStage = self.candidates
        allowed = allowed_rows(self.version, search_filter) if search_filter else None
        if allowed is not None:
            if not len(allowed):
                return SearchOutcome([], False, 0.0, None)
            stage = FilteredStage(stage, allowed)
        timed = dataclasses.replace(self, candidates=TimedStage(stage, clock))
        outcome = timed._search(query, top_k, config, None if allowed is None else set(allowed.tolist()))
        embed = outcome.timings.get("embed", 0.0)
        scoring = time.perf_counter() - started - embed - clock.seconds
        outcome.timings.update(candidates=clock.seconds, scoring=scoring)
        return outcome

    def _search(self, query: str, top_k: int, config: SearchConfig, allowed: set[int] | None) -> SearchOutcome:
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
        query_vector, timings = None, {}
        if config.mode != "bm25":
            if self.encoder is None:
                raise ValueError("this retriever has no query encoder: it can only search in bm25 mode")
            started = time.perf_counter()
            query_vector = self.encoder.embed(rewrite.dense)
            timings["embed"] = time.perf_counter() - started
        depth = self._depth(config, top_k)
        lexical_depth = depth * _LEXICAL_DEPTH
        # A BM25 list is made only if it ranks: the passages' except in dense mode, the sentences' (the
        # costliest at a million passages) if the hybrid fusion weighs it. Highlights look theirs up.
        passages, sentences = config.mode != "dense", config.mode == "hybrid" and config.sentence_weight > 0
        wanted = lexical_depth if config.candidates else None
        match = self.candidates.match(query_terms(rewrite.lexical), wanted, passages=passages, sentences=sentences)
        if query_vector is None:
            lexical = match.passages_top(lexical_depth)
            rows, scores = lexical.rows, lexical.scores
            order: Iterator[int] = then_unscored(
                rows, complete=lexical.complete, size=self.candidates.size, deleted=self.version.deleted_rows
            )
        elif config.mode == "dense":
            dense = self.candidates.dense_top(query_vector, depth, config.hnsw_ef_search)
            rows, scores, order = dense.rows, dense.scores, iter(dense.rows.tolist())
        else:
            lexical = match.passages_top(lexical_depth)
            signals = _Signals(match, lexical, match.sentences_top(lexical_depth), years(rewrite.lexical))
            rows, scores = self._hybrid(query_vector, signals, depth, config)
            order = iter(rows.tolist())
        score_of = dict(zip(rows.tolist(), scores.tolist()))
        if allowed is not None:  # the unscored rows of a BM25 search, listed after the scored ones
            order = (row for row in order if row in allowed)
        kept = without_repeats(order, self.version.chunks, top_k, config.max_overlap)
        spans = match.best_sentences(kept)
        hits = [
            self._hit(rank, row, score_of.get(row, 0.0), span) for rank, (row, span) in enumerate(zip(kept, spans), 1)
        ]
        confidence = self._coverage(rewrite.evidence, kept[:_EVIDENCE_DEPTH])
        rewritten = rewrite.lexical if rewrite.lexical != query else None
        return SearchOutcome(hits, confidence >= config.min_confidence, confidence, rewritten, timings)

    def _depth(self, config: SearchConfig, top_k: int) -> int:
        """Return how many candidates each signal proposes: enough for `top_k` after de-duplication."""
        if not config.candidates:
            return self.candidates.size
        return max(config.candidates, 2 * top_k, config.feedback_depth)

    def _hybrid(
        self, query_vector: np.ndarray, signals: _Signals, depth: int, config: SearchConfig
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the candidate rows, best first, and their fused scores."""
        stage, ef = self.candidates, config.hnsw_ef_search
        feedback = bool(config.feedback_weight and config.feedback_depth)
        dense = stage.dense_top(query_vector, depth * MOVED_DEPTH if feedback else depth, ef)
        rows, fused = self._fuse(query_vector, dense.head(depth), signals, config)
        if feedback:
            moved = moved_query(stage, query_vector, rows[: config.feedback_depth], config.feedback_weight)
            rows, fused = self._fuse(moved, moved_ranking(stage, dense, moved, ef).head(depth), signals, config)
        return rows, fused

    def _fuse(
        self, vector: np.ndarray, dense: Ranking, signals: _Signals, config: SearchConfig
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the union of candidates, best first, and their hybrid scores.

        Weighted reciprocal-rank fusion, raised for passages about the years asked. A
        candidate missing from a BM25 list ranks where its exact score carries the list's
        decline on (`ranks_below`), or gets nothing if it shares no term with the query.
        One missing from the dense list ranks among the listed rows if it is more similar
        than some (the graph missed it), else where its similarity places it among a
        sample of the collection: a collection of many similar passages can put it
        hundreds of places lower.
        """
        rows = np.union1d(np.union1d(dense.rows, signals.lexical.rows), signals.sentence.rows)
        k, match = config.rrf_k, signals.match
        passages, sentences = match.passages_top(), match.sentences_top()  # the latter empty if not made
        signal_lists = [
            (config.lexical_weight, passages, partial(_ranks_of, match, passages, False)),
            (config.sentence_weight, sentences, partial(_ranks_of, match, sentences, True)),
            (config.dense_weight, dense, partial(_dense_ranks, self.candidates, dense, vector)),
        ]
        weighed = [(weight, ranking, ranks) for weight, ranking, ranks in signal_lists if weight > 0]  # 0: not computed
        calls = [partial(rrf_weights, ranking, rows, k, ranks) for _, ranking, ranks in weighed]
        # A row a cut BM25 list misses ranks by its exact score, read from the forward index, and
        # one the dense list misses by the sample's similarities: work that releases the GIL,
        # shared between the cores. At a million synthetic passages a search's p50 fell from 72.6
        # to 69.3 and from 67.8 to 66.0 ms (runs alternated). With the BM25 lists whole (a small
        # collection) there is little to share: handing it over cost 0.4 ms a search.
        whole = all(ranking.complete for _, ranking, _ in weighed if ranking is not dense)
        fused = np.zeros(len(rows), dtype=np.float64)
        for (weight, _, _), signal in zip(weighed, [call() for call in calls] if whole else shared(calls)):
            fused = fused + weight * signal
        fused = fused * (1.0 + config.period_weight * self._period(signals, rows))
        ranked = sort_rows(rows, fused, complete=True)
        return ranked.rows, ranked.scores

    def _period(self, signals: _Signals, rows: np.ndarray) -> np.ndarray:
        """Return per row how close its years are to those the query names (all 0 if it names none)."""
        if not signals.asked_years:
            return np.zeros(len(rows), dtype=np.float64)
        return self.periods.match(signals.asked_years, rows)

    def _coverage(self, query: str, rows: list[int]) -> float:
        """Return the largest IDF-weighted share of the query's terms that one of `rows` contains.

        A question the collection cannot answer usually names something it never mentions
        (a year, a title, a figure), so its distinctive terms are missing from every passage.
        """
        words = sorted({w for w in coverage_terms(query) if w not in _FOLDED_QUESTION_WORDS})
        if not words or not rows:
            return 0.0
        hashes = term_hashes(words)
        df = sum(segment.text.coverage.get(hashes) for segment in self.version.segments)
        passages = self.version.size - len(self.version.deleted_rows)
        # A term no passage has weighs most.
        weights = np.log((passages + 1) / np.where(df > 0, df + 0.5, 0.5))
        held = [np.isin(words, coverage_terms(self.version.chunks[row].text)) for row in rows]
        return max(float(weights[h].sum()) for h in held) / float(weights.sum())

    def _hit(self, rank: int, row: int, score: float, sentence: tuple[int, int] | None) -> Hit:
        chunk = self.version.chunks[row]
        highlight = sentence or (0, len(chunk.text))
        return Hit(rank, score, chunk, self.version.documents.meta(chunk.doc_id), highlight)


def _dense_ranks(stage: CandidateStage, ranking: Ranking, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return where `rows`, missing from the dense list, rank: among its rows if more similar than some."""
    similarity = stage.vectors(rows) @ vector
    return ranks_missed(ranking, similarity, stage.dense_ranks(vector, similarity))


def _ranks_of(match: TermMatch, ranking: Ranking, sentences: bool, rows: np.ndarray) -> np.ndarray:
    """Return where `rows`, missing from a BM25 list, rank below it (just below, if the engine cannot score them)."""
    scores = match.scores_of(rows, sentences=sentences)
    return np.full(len(rows), float(len(ranking.rows))) if scores is None else ranks_below(ranking, scores)
