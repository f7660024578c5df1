"""BM25 over analysed terms, as plain arrays that are saved as .npy files and memory-mapped.

A field holds one segment's postings by term (CSC): the rows each term occurs in and how
often, and each row's length in terms. The statistics BM25 needs (rows, total length,
document frequencies) are passed in at query time, summed over all the segments a
version serves, so each segment scores as part of one collection. The formula is
Lucene's, with bm25s's defaults (k1 1.5, b 0.75), in float32.

Terms are stored as 64-bit hashes, sorted: a query looks them up by bisection, and no
vocabulary dictionary has to be built when a segment is loaded. Each term also keeps
its peak, the largest share of its weight any row of the segment gets: the bound by
which `index/maxscore.py` skips rows that cannot reach the best. The same postings are
kept by row as well (the forward index: each row's terms and counts), so the rows a
query already found are scored by reading their own terms, not by searching the long
postings of every common term.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K1 = 1.5
B = 0.75
_ARRAYS = ("terms", "indptr", "rows", "tf", "lengths")
_DERIVED = ("peak", "forward_indptr", "forward_terms", "forward_tf")  # computed from _ARRAYS


def mapped(path: Path) -> np.ndarray:
    """Return the .npy array at `path` memory-mapped, read-only: pages are read when touched."""
    # A plain ndarray view of the map: indexing np.memmap itself costs more per call.
    return np.asarray(np.load(path, mmap_mode="r"))


def term_hashes(terms: Sequence[str]) -> np.ndarray:
    """Return the stable 64-bit hash of each term (uint64), in order."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in terms],
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class Field:
    """One segment's postings of one field."""

    terms: np.ndarray  # uint64 hashes, rising
    indptr: np.ndarray  # int64: postings of terms[i] are [indptr[i], indptr[i + 1])
    rows: np.ndarray  # int32, rising within a term
    tf: np.ndarray  # uint16 occurrences of the term in the row
    lengths: np.ndarray  # int32 terms per row
    peak: np.ndarray  # float32 per term: the largest tf / (norm + tf) of its postings, at this segment's average length
    forward_indptr: np.ndarray  # int64: the terms of row r are [forward_indptr[r], forward_indptr[r + 1])
    forward_terms: np.ndarray  # int32 positions in `terms`, rising within a row
    forward_tf: np.ndarray  # uint16, as `tf`

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> Field:
        """Return the field of `documents` (row i is document i's terms)."""
        vocabulary: dict[str, int] = {}
        ids = [np.array([vocabulary.setdefault(t, len(vocabulary)) for t in doc], dtype=np.int64) for doc in documents]
        lengths = np.array([len(doc) for doc in documents], dtype=np.int32)
        return cls.from_ids(ids, term_hashes(list(vocabulary)), lengths)

    @classmethod
    def from_ids(cls, documents: Sequence[np.ndarray], hashes: np.ndarray, lengths: np.ndarray) -> Field:
        """Return the field of documents given as term ids into `hashes` (one array per row)."""
        counts = np.array([len(d) for d in documents], dtype=np.int64)
        ids = np.concatenate(documents) if len(documents) else np.zeros(0, dtype=np.int64)
        rows = np.repeat(np.arange(len(documents), dtype=np.int64), counts)
        return cls.from_occurrences(ids, rows, hashes, lengths)

    @classmethod
    def from_occurrences(cls, ids: np.ndarray, rows: np.ndarray, hashes: np.ndarray, lengths: np.ndarray) -> Field:
        """Return the field of term occurrences: term id `ids[i]` (into `hashes`) occurs in row `rows[i]`."""
        size = max(len(lengths), 1)
        rank = np.argsort(np.argsort(hashes, kind="stable"), kind="stable")  # term id -> position by hash
        keys, tf = np.unique(rank[ids].astype(np.int64) * size + rows, return_counts=True)
        term = keys // size
        indptr = np.concatenate([[0], np.cumsum(np.bincount(term, minlength=len(hashes)))]).astype(np.int64)
        rows, counts = (keys % size).astype(np.int32), np.minimum(tf, np.iinfo(np.uint16).max).astype(np.uint16)
        return cls.of(np.sort(hashes), indptr, rows, counts, lengths.astype(np.int32))

    @classmethod
    def of(cls, terms: np.ndarray, indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray) -> Field:
        """Return the field of these postings, with the arrays derived from them (peaks, forward index)."""
        by_row = np.argsort(rows, kind="stable")  # within a row, terms stay rising
        term = np.repeat(np.arange(len(terms), dtype=np.int32), np.diff(indptr))
        forward_indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(lengths)))]).astype(np.int64)
        return cls(
            terms,
            indptr,
            rows,
            tf,
            lengths,
            _peaks(indptr, rows, tf, lengths),
            forward_indptr,
            term[by_row],
            tf[by_row],
        )

    def save(self, directory: Path, name: str) -> list[str]:
        """Write the arrays as `<name>.<array>.npy` in `directory`; return the file names."""
        files = []
        for array in _ARRAYS + _DERIVED:
            file = f"{name}.{array}.npy"
            np.save(directory / file, getattr(self, array), allow_pickle=False)
            files.append(file)
        return files

    @classmethod
    def load(cls, directory: Path, name: str) -> Field:
        """Return the field saved under `name`, memory-mapped: only the pages a query reads are loaded."""
        arrays = [mapped(directory / f"{name}.{array}.npy") for array in _ARRAYS]
        derived = [directory / f"{name}.{array}.npy" for array in _DERIVED]
        if not all(path.exists() for path in derived):
            # Written before these were kept: derived in memory, a few seconds per million rows.
            return cls.of(*arrays)
        return cls(*arrays, *(mapped(path) for path in derived))

    @property
    def size(self) -> int:
        return len(self.lengths)

    def positions(self, hashes: np.ndarray) -> np.ndarray:
        """Return where each hash is in `terms`, or -1 where this segment does not have it."""
        at = np.minimum(np.searchsorted(self.terms, hashes), max(len(self.terms) - 1, 0))
        found = (self.terms[at] == hashes) if len(self.terms) else np.zeros(len(hashes), dtype=bool)
        return np.where(found, at, -1)

    def df(self, positions: np.ndarray) -> np.ndarray:
        """Return how many rows hold each term (0 where the position is -1)."""
        present = positions >= 0
        df = np.zeros(len(positions), dtype=np.int64)
        df[present] = self.indptr[positions[present] + 1] - self.indptr[positions[present]]
        return df


def _norm(lengths: np.ndarray, average: float) -> np.ndarray:
    """Return k1 * (1 - b + b * length / average length) per row, float32."""
    return np.float32(K1) * (np.float32(1 - B) + np.float32(B) * lengths.astype(np.float32) / np.float32(average))


def _average(lengths: np.ndarray) -> float:
    return float(np.sum(lengths, dtype=np.int64)) / len(lengths) if len(lengths) else 1.0


def _read_only(array: np.ndarray) -> np.ndarray:
    """Return `array` as a read-only view (memory-mapped ones already are)."""
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def _peaks(indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    from index.maxscore import term_peaks  # compiled: imported when a field is built, not by every reader

    return np.asarray(term_peaks(indptr, rows, tf, _norm(lengths, _average(lengths))))


@dataclass(frozen=True)
class FieldScorer:
    """A segment's field with the collection's row count and average length, ready to score."""

    field: Field
    norm: np.ndarray  # k1 * (1 - b + b * length / average length), per row, float32
    peak_scale: float  # bounds a peak at the collection's average length: its ratio to the segment's, if above 1

    @classmethod
    def of(cls, field: Field, rows: int, length: int) -> FieldScorer:
        """Return the scorer of `field` in a collection of `rows` rows of `length` terms in all."""
        average = length / rows if rows else 1.0
        # A longer average shortens every row relatively, raising tf / (norm + tf) by at most their ratio.
        scale = max(1.0, average / _average(field.lengths)) * (1 + 1e-5)  # and float32 rounding
        return cls(field, _norm(field.lengths, average), scale)

    @functools.cached_property
    def kernel_arrays(self) -> tuple[np.ndarray, ...]:
        """Return what `index/maxscore.py` reads: postings, norms, forward index; read-only, one compiled signature."""
        f = self.field
        return tuple(_read_only(a) for a in (f.rows, f.tf, self.norm, f.forward_indptr, f.forward_terms, f.forward_tf))

    def scores(self, positions: np.ndarray, idf: np.ndarray) -> np.ndarray:
        """Return the BM25 score of every row for the query terms at `positions`, weighted by `idf`."""
        field = self.field
        scores = np.zeros(field.size, dtype=np.float32)
        for position, weight in zip(positions, idf):
            if position < 0:
                continue
            postings = slice(field.indptr[position], field.indptr[position + 1])
            rows, tf = field.rows[postings], field.tf[postings].astype(np.float32)
            scores[rows] += weight * (tf / (self.norm[rows] + tf))  # a row occurs once per term
        return scores

    def postings(self, position: int, weight: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the rows holding the term at `position` and its BM25 contribution to each (float32)."""
        postings = slice(self.field.indptr[position], self.field.indptr[position + 1])
        rows, tf = self.field.rows[postings], self.field.tf[postings].astype(np.float32)
        return rows, np.float32(weight) * (tf / (self.norm[rows] + tf))

    def scores_of(self, positions: np.ndarray, idf: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return the BM25 score of each of `rows` alone, equal to `scores(...)[rows]`."""
        field = self.field
        scores = np.zeros(len(rows), dtype=np.float32)
        for position, weight in zip(positions, idf):
            if position < 0:
                continue
            start, end = field.indptr[position], field.indptr[position + 1]
            postings = field.rows[start:end]
            at = np.minimum(np.searchsorted(postings, rows), max(end - start - 1, 0))
            found = postings[at] == rows if end > start else np.zeros(len(rows), dtype=bool)
            tf = field.tf[start + at[found]].astype(np.float32)
            scores[found] += weight * (tf / (self.norm[rows[found]] + tf))
        return scores


def idf(rows: int, df: np.ndarray) -> np.ndarray:
    """Return Lucene's idf of terms held by `df` of `rows` rows (float32)."""
    return np.log1p((rows - df + 0.5) / (df + 0.5)).astype(np.float32)
