"""Queries to ranked, cited passages: dense, BM25 or their fusion, with highlights.

A `Retriever` is built once per loaded index version (BM25 fields, sentence spans,
diacritic restorer), so the query path only computes: embed the question, score
every passage three ways, fuse the ranks, favour passages about the years the
question names, drop near-duplicates, pick highlights.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np

from corpus.chunk import Chunk, split_sentences
from corpus.documents import DocumentMeta
from corpus.normalize import fold_diacritics, has_diacritics, syllables
from index.embed import Embedder
from index.lexical import QUESTION_WORDS, LexicalIndex
from index.period import passage_years, period_match, years
from index.restore import DiacriticRestorer
from index.store import IndexVersion
from index.thesaurus import Thesaurus
from index.translate import Glossary

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


@dataclass
class Retriever:
    """Everything a search needs from one index version, prepared once."""

    version: IndexVersion
    embedder: Embedder
    lexical: LexicalIndex
    sentences: LexicalIndex
    sentence_spans: list[tuple[int, int, int]]  # (chunk row, start, end) in chunk text
    sentence_rows: np.ndarray  # chunk row of each sentence span
    restorer: DiacriticRestorer
    glossary: Glossary
    term_sets: list[frozenset[str]]  # folded syllables of each chunk
    idf: dict[str, float]
    periods: list[frozenset[int]]  # years each chunk is about
    thesaurus: Thesaurus

    @classmethod
    def build(cls, version: IndexVersion, embedder: Embedder) -> Retriever:
        """Return the retriever of `version`; all preparation happens here."""
        texts = [c.text for c in version.chunks]
        spans = [(row, s, e) for row, text in enumerate(texts) for s, e in split_sentences(text)]
        sentences = LexicalIndex.build([texts[row][s:e] for row, s, e in spans])
        restorer = DiacriticRestorer.build(d.text for d in version.documents.values())
        term_sets = [frozenset(syllables(fold_diacritics(t))) for t in texts]
        frequency = Counter(term for terms in term_sets for term in terms)
        idf = {term: math.log((len(texts) + 1) / (count + 0.5)) for term, count in frequency.items()}
        rows = np.array([row for row, _, _ in spans], dtype=np.int64)
        periods = [passage_years(version.documents[c.doc_id].text, c) for c in version.chunks]
        return cls(
            version,
            embedder,
            LexicalIndex.build(texts),
            sentences,
            spans,
            rows,
            restorer,
            Glossary.load(),
            term_sets,
            idf,
            periods,
            Thesaurus.for_collection(d.text for d in version.documents.values()),
        )

    def search(self, query: str, top_k: int, config: SearchConfig | None = None) -> SearchOutcome:
        """Return the `top_k` best passages for `query`."""
        config = config or SearchConfig()
        chunks = self.version.chunks
        if not chunks:
            return SearchOutcome([], False, 0.0, None)
        dense_text, lexical_text, evidence_text = self._rewrite(query, config)
        sentence_scores = self.sentences.scores(lexical_text)
        best_sentence = self._best_sentences(sentence_scores)
        if config.mode == "bm25":
            fused = self.lexical.scores(lexical_text)
        else:
            query_vector = self._embed_query(dense_text)
            dense = self._dense_scores(query_vector)
            if config.mode == "dense":
                fused = dense
            else:
                fuse = functools.partial(
                    self._fuse,
                    lexical=self.lexical.scores(lexical_text),
                    sentence=best_sentence[:, 1],
                    period=self._period_scores(lexical_text),
                    config=config,
                )
                fused = fuse(dense)
                if config.feedback_weight and config.feedback_depth:
                    fused = fuse(self._dense_scores(self._feedback(query_vector, fused, config)))
        order = _dedupe(np.argsort(-fused, kind="stable"), chunks, top_k, config.max_overlap)
        hits = [self._hit(rank, row, float(fused[row]), best_sentence) for rank, row in enumerate(order, 1)]
        confidence = self._coverage(evidence_text, order[:_EVIDENCE_DEPTH])
        rewritten = lexical_text if lexical_text != query else None
        return SearchOutcome(hits, confidence >= config.min_confidence, confidence, rewritten)

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

    def _period_scores(self, query: str) -> np.ndarray:
        """Return per chunk how close its years are to those `query` names (all 0 if it names none)."""
        asked = years(query)
        if not asked:
            return np.zeros(len(self.periods), dtype=np.float64)
        return np.array([period_match(asked, about) for about in self.periods], dtype=np.float64)

    def _rewrite(self, query: str, config: SearchConfig) -> tuple[str, str, str]:
        """Return the texts to embed, to match, and to look for in the evidence.

        Diacritics are restored when the query has none. An English query gets Vietnamese
        keywords from the glossary, embedded and matched beside it (the small model ties
        English to Vietnamese loosely); only the keywords count as evidence. Phrases the
        collection never uses are matched in the collection's own wording too.
        """
        restored = self.restorer.restore(query) if config.restore_diacritics else None
        translated = None
        if not restored and not has_diacritics(query) and config.translate_english:
            translated = self.glossary.translate(query)
        if restored:
            dense_text = lexical_text = evidence_text = restored
        elif translated:
            dense_text = lexical_text = f"{query} {translated}"
            evidence_text = translated
        else:
            dense_text = lexical_text = evidence_text = query
        if config.expand_synonyms:
            lexical_rewrite = self.thesaurus.rewrite(lexical_text)
            evidence_rewrite = lexical_rewrite  # the same text, but for an English query's keywords
            if evidence_text != lexical_text:
                evidence_rewrite = self.thesaurus.rewrite(evidence_text)
            if lexical_rewrite:
                lexical_text = f"{lexical_text} {lexical_rewrite.wording}"
            if evidence_rewrite:
                evidence_text = evidence_rewrite.text  # an answer says "thanh niên", not the asker's "lớp trẻ"
        return dense_text, lexical_text, evidence_text

    def _embed_query(self, text: str) -> np.ndarray:
        return np.ascontiguousarray(self.embedder.embed_queries([text]), dtype=np.float32)

    def _dense_scores(self, query_vector: np.ndarray) -> np.ndarray:
        n = self.version.vectors.ntotal
        scores, rows = self.version.vectors.search(query_vector, n)
        dense = np.full(n, -1.0, dtype=np.float32)
        valid = rows[0] >= 0
        dense[rows[0][valid]] = scores[0][valid]
        return dense

    def _fuse(
        self, dense: np.ndarray, lexical: np.ndarray, sentence: np.ndarray, period: np.ndarray, config: SearchConfig
    ) -> np.ndarray:
        """Return the hybrid score: weighted reciprocal-rank fusion, raised for the years asked."""
        k = config.rrf_k
        fused = (
            config.dense_weight * _rrf(dense, k)
            + config.lexical_weight * _rrf(lexical, k, matched_only=True)
            + config.sentence_weight * _rrf(sentence, k, matched_only=True)
        )
        return fused * (1.0 + config.period_weight * period)

    def _feedback(self, query_vector: np.ndarray, fused: np.ndarray, config: SearchConfig) -> np.ndarray:
        """Return the query vector moved toward the mean of the best fused passages (Rocchio).

        A question worded unlike the text embeds far from its answer; the passages that
        BM25 and the embedding agree on carry the collection's own wording of the topic.
        """
        top = np.argsort(-fused, kind="stable")[: config.feedback_depth]
        centroid = np.stack([self.version.vectors.reconstruct(int(row)) for row in top]).mean(axis=0)
        moved = query_vector[0] + config.feedback_weight * centroid
        return np.ascontiguousarray(moved / np.linalg.norm(moved), dtype=np.float32)[None, :]

    def _best_sentences(self, sentence_scores: np.ndarray) -> np.ndarray:
        """Return per chunk row: (index into sentence_spans of its best sentence, its score)."""
        best = np.zeros((len(self.version.chunks), 2), dtype=np.float64)
        best[:, 0] = -1
        if not len(sentence_scores):
            return best
        rows = self.sentence_rows
        order = np.lexsort((-sentence_scores, rows))  # by row, best sentence first (ties: earliest)
        first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
        best[rows[first], 0] = first
        best[rows[first], 1] = sentence_scores[first]
        return best

    def _hit(self, rank: int, row: int, score: float, best_sentence: np.ndarray) -> Hit:
        chunk = self.version.chunks[row]
        index = int(best_sentence[row, 0])
        highlight = self.sentence_spans[index][1:] if index >= 0 else (0, len(chunk.text))
        return Hit(rank, score, chunk, self.version.documents[chunk.doc_id].meta, highlight)


def _rrf(scores: np.ndarray, k: int, *, matched_only: bool = False) -> np.ndarray:
    """Reciprocal-rank weights of `scores` (rank 1 is the highest score).

    Args:
        matched_only: give no weight to a score of zero or less (BM25's "no term matched"),
            so row order does not rank passages that share nothing with the query.
    """
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    weights = 1.0 / (k + ranks)
    return np.where(scores > 0, weights, 0.0) if matched_only else weights


def _dedupe(order: np.ndarray, chunks: list[Chunk], top_k: int, max_overlap: float) -> list[int]:
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
