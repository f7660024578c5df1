"""What one segment knows of its passages' words: BM25 fields, sentences, periods, vocabulary.

Everything here is computed once, when the segment is written, and saved as .npy files
that load memory-mapped; loading a segment reads them and computes nothing. Besides the
BM25 fields of passages and of their sentences, a segment keeps the years each passage
is about and the accented syllables it uses, from which the diacritic restorer reads
the readings of a folded syllable (their counts come from the BM25 fields).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.chunk import Chunk, split_sentences
from corpus.normalize import fold_diacritics, syllables
from index.bm25 import mapped, term_hashes
from index.lexical import LexicalIndex, canonical_numbers
from index.period import PeriodTable

VOCABULARY = "vocabulary.json"


@dataclass(frozen=True)
class TextIndex:
    """The word-level indexes of one segment's passages (row i is passage i)."""

    passages: LexicalIndex
    sentences: LexicalIndex  # one row per sentence of every passage
    sentence_spans: np.ndarray  # (sentences, 2): offsets in the passage's text
    first_sentence: np.ndarray  # sentences of row r: first_sentence[r] : first_sentence[r + 1]
    periods: PeriodTable
    vocabulary: list[str]  # accented syllables the passages use
    coverage: TermCounts  # passages holding each folded syllable as written (numbers not made canonical)

    @classmethod
    def build(cls, chunks: Sequence[Chunk], document_texts: Mapping[str, str]) -> TextIndex:
        """Return the text index of `chunks`; `document_texts` maps their documents' ids to clean texts."""
        texts = [c.text for c in chunks]
        per_row = [split_sentences(text) for text in texts]
        spans = np.array([span for spans in per_row for span in spans], dtype=np.int32).reshape(-1, 2)
        counts = np.array([len(spans) for spans in per_row], dtype=np.int64)
        vocabulary = sorted({w for text in texts for w in syllables(canonical_numbers(text))})
        return cls(
            LexicalIndex.build(texts),
            LexicalIndex.build([text[s:e] for text, spans in zip(texts, per_row) for s, e in spans]),
            spans,
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            PeriodTable.build(chunks, document_texts),
            vocabulary,
            TermCounts.of(Counter(w for text in texts for w in set(coverage_terms(text)))),
        )

    @property
    def size(self) -> int:
        return self.passages.size

    def save(self, directory: Path) -> list[str]:
        """Write every part into `directory`; return the file names."""
        np.save(directory / "sentence.spans.npy", self.sentence_spans, allow_pickle=False)
        np.save(directory / "sentence.first.npy", self.first_sentence, allow_pickle=False)
        (directory / VOCABULARY).write_text(json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8")
        return [
            *self.passages.save(directory, "passages"),
            *self.sentences.save(directory, "sentences"),
            "sentence.spans.npy",
            "sentence.first.npy",
            *self.periods.save(directory, "period"),
            VOCABULARY,
            *self.coverage.save(directory, "coverage"),
        ]

    @classmethod
    def load(cls, directory: Path) -> TextIndex:
        """Return the text index saved in `directory`, memory-mapped."""
        return cls(
            LexicalIndex.load(directory, "passages"),
            LexicalIndex.load(directory, "sentences"),
            mapped(directory / "sentence.spans.npy"),
            mapped(directory / "sentence.first.npy"),
            PeriodTable.load(directory, "period"),
            json.loads((directory / VOCABULARY).read_text(encoding="utf-8")),
            TermCounts.load(directory, "coverage"),
        )


def coverage_terms(text: str) -> list[str]:
    """Return the words whose share of a question an answer must hold: folded syllables as written."""
    return syllables(fold_diacritics(text))


@dataclass(frozen=True)
class TermCounts:
    """How many passages hold each term, by the term's 64-bit hash (sorted)."""

    terms: np.ndarray  # uint64, rising
    counts: np.ndarray  # int64

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> TermCounts:
        hashes = term_hashes(list(counts))
        order = np.argsort(hashes)
        return cls(hashes[order], np.array(list(counts.values()), dtype=np.int64).reshape(-1)[order])

    def get(self, hashes: np.ndarray) -> np.ndarray:
        """Return the count of each term (0 for a term not held)."""
        if not len(self.terms):
            return np.zeros(len(hashes), dtype=np.int64)
        at = np.minimum(np.searchsorted(self.terms, hashes), len(self.terms) - 1)
        return np.where(self.terms[at] == hashes, self.counts[at], 0)

    def save(self, directory: Path, name: str) -> list[str]:
        np.save(directory / f"{name}.terms.npy", self.terms, allow_pickle=False)
        np.save(directory / f"{name}.counts.npy", self.counts, allow_pickle=False)
        return [f"{name}.terms.npy", f"{name}.counts.npy"]

    @classmethod
    def load(cls, directory: Path, name: str) -> TermCounts:
        return cls(
            mapped(directory / f"{name}.terms.npy"),
            mapped(directory / f"{name}.counts.npy"),
        )
