"""BM25 of one query over a version's segments: its best rows, scored exactly.

Scoring every row for every query term costs the length of the terms' postings: at a
million passages a question's common syllables ("đảng", "các", "của") hold most of the
rows. `index/maxscore.py` visits the postings of the rarer terms and only looks the
common ones up for the rows that can still reach the best `wanted`. Segments are
visited largest first, each starting from the best threshold those already visited
reached, so a small recent segment whose rows cannot compete costs little; two threads
may share the segments of one field (`Accumulation`). With `wanted=None` every
posting is visited: the exhaustive reference; `complete` says whether every row with a
score above zero is listed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from index.bm25 import term_hashes
from index.lexical import LexicalScorer, QueryTerms
from index.maxscore import best_rows, looked_up

# Rows of a segment completed from their own terms, per row wanted: those whose rarer terms
# score best. On the 100,000-passage synthetic collection, 2 kept 99.8% of the exact top
# 1,000, 4 all of it (30 questions).
POSSIBLE_PER_WANTED = 4


@dataclass(frozen=True)
class Visit:
    """A query's terms that one segment holds, in visiting order (largest bound first), as arrays."""

    starts: np.ndarray  # int64: where each term's postings begin in its field's arrays
    ends: np.ndarray  # int64
    fields: np.ndarray  # int64: 0 accented, 1 folded
    positions: np.ndarray  # int64: the term's place in its field's sorted hashes
    weights: np.ndarray  # float32: idf in the whole collection
    bounds: np.ndarray  # float64: the most the term adds to any row of the segment


Terms = list[Visit | None]  # per segment: None where it holds none of the query's terms


@dataclass(frozen=True)
class Matched:
    """The rows a query reached and their BM25 scores."""

    rows: np.ndarray  # int64, rising
    scores: np.ndarray  # float64: exact for every row listed
    complete: bool  # every row with a score above zero is listed


def query_terms_of(scorer: LexicalScorer, query: QueryTerms) -> Terms:
    """Return, per segment, the query's terms it holds with their collection statistics and bounds."""
    per_field = []
    for scorers, words in zip(scorer.fields, (query.accented, query.folded)):
        hashes = term_hashes(words)
        positions = [s.field.positions(hashes) for s in scorers]
        df = sum((s.field.df(p) for s, p in zip(scorers, positions)), np.zeros(len(hashes), dtype=np.int64))
        per_field.append((positions, scorer.idf(df)))
    return [_visit(scorer, per_field, segment) for segment in range(len(scorer.shifts) - 1)]


def _visit(scorer: LexicalScorer, per_field: list[tuple[list[np.ndarray], np.ndarray]], segment: int) -> Visit | None:
    """Return the terms of both fields that `segment` holds, largest bound first."""
    columns: list[list[np.ndarray]] = [[], [], [], [], [], []]
    for field, (where, idf) in enumerate(per_field):
        scoring = scorer.fields[field][segment]
        held = where[segment] >= 0
        at = where[segment][held].astype(np.int64)
        indptr = scoring.field.indptr
        bound = idf[held].astype(np.float64) * scoring.field.peak[at] * scoring.peak_scale
        values = (indptr[at], indptr[at + 1], np.full(len(at), field), at, idf[held], bound)
        for column, value in zip(columns, values):
            column.append(np.asarray(value))
    starts, ends, fields, positions, weights, bounds = (np.concatenate(column) for column in columns)
    if not len(starts):
        return None
    order = np.argsort(-bounds, kind="stable")  # equal bounds keep the query's order: sums repeat exactly
    return Visit(
        starts.astype(np.int64)[order],
        ends.astype(np.int64)[order],
        fields.astype(np.int64)[order],
        positions[order],
        weights.astype(np.float32)[order],
        bounds[order],
    )


def accumulate(scorer: LexicalScorer, terms: Terms, wanted: int | None) -> Matched:
    """Return the rows that may be among the `wanted` best, with their exact scores.

    Args:
        wanted: how many best rows the caller will read; None lists every row any term names.
    """
    return Accumulation(scorer, terms, wanted).result()


class Accumulation:
    """One field's accumulation over its segments, which any thread may take segments of.

    A search accumulates two fields, passages and sentences, on two cores: each thread
    works through one field's segments and then helps with what is left of the other's,
    so neither core waits while the other still has a segment to visit.
    """

    def __init__(self, scorer: LexicalScorer, terms: Terms, wanted: int | None) -> None:
        self._scorer, self._terms = scorer, terms
        self._k = 0 if wanted is None else max(wanted, 1)
        sizes = np.diff(scorer.shifts)
        self._order = [s for s in np.argsort(-sizes, kind="stable").tolist() if terms[s] is not None]
        self._taken = 0
        self._floor = -1.0
        self._found: dict[int, tuple[np.ndarray, np.ndarray, bool] | BaseException] = {}
        self._changed = threading.Condition()

    def work(self) -> None:
        """Visit segments no thread has taken yet, until none is left."""
        while True:
            with self._changed:
                if self._taken == len(self._order):
                    return
                segment, floor = self._order[self._taken], self._floor
                self._taken += 1
            try:
                found: tuple[np.ndarray, np.ndarray, bool] | BaseException = self._visit(segment, floor)
            except BaseException as error:  # raised again by `result`, in the thread that waits
                found = error
            with self._changed:
                self._found[segment] = found
                self._changed.notify_all()

    def _visit(self, segment: int, floor: float) -> tuple[np.ndarray, np.ndarray, bool]:
        visit = self._terms[segment]
        assert visit is not None
        k = self._k
        rows, exact, threshold, whole = best_rows(
            visit.starts,
            visit.ends,
            visit.fields,
            visit.positions,
            visit.weights,
            visit.bounds,
            _arrays(self._scorer, segment),
            k,
            POSSIBLE_PER_WANTED * k,
            floor,
        )  # type: ignore[call-arg]
        if k:
            # Segments started later begin from the best threshold reached so far: one whose
            # rows cannot compete costs little. (`result` makes the list independent of that order.)
            with self._changed:
                self._floor = max(self._floor, float(threshold))
        return rows + self._scorer.shifts[segment], exact, bool(whole)

    def result(self) -> Matched:
        """Return the rows that may be among the best, once every segment is visited (helping with those left)."""
        self.work()
        with self._changed:
            self._changed.wait_for(lambda: len(self._found) == len(self._order))
        done = []
        for segment in self._order:
            part = self._found[segment]
            if isinstance(part, BaseException):
                raise part
            done.append(part)
        if not done:
            return Matched(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), True)
        joined = np.concatenate([d[0] for d in done])
        exact = np.concatenate([d[1] for d in done]).astype(np.float64)
        complete = all(d[2] for d in done)
        if self._k and not complete and len(exact) > self._k:
            # Each segment lists its rows above the threshold it reached, which depends on the
            # floor it started from; cut at the k-th best score, the list does not depend on
            # which thread visited what (but for rows `cap` left out), and a row's place in it is its rank.
            cut = np.partition(exact, len(exact) - self._k)[len(exact) - self._k]
            joined, exact = joined[exact >= cut], exact[exact >= cut]
        order = np.argsort(joined, kind="stable")
        return Matched(joined[order], exact[order], complete)


def exact_scores(scorer: LexicalScorer, terms: Terms, rows: np.ndarray) -> np.ndarray:
    """Return the BM25 score of each of `rows` (rising), as `accumulate` computes it."""
    out = np.zeros(len(rows), dtype=np.float64)
    bounds = np.searchsorted(rows, scorer.shifts)
    for segment in range(len(scorer.shifts) - 1):
        start, end = bounds[segment], bounds[segment + 1]
        visit = terms[segment]
        if visit is not None and end > start:
            local = np.ascontiguousarray(rows[start:end] - scorer.shifts[segment], dtype=np.int64)
            arrays = _arrays(scorer, segment)
            out[start:end] = looked_up(visit.fields, visit.positions, visit.weights, arrays, local)
    return out


def _arrays(scorer: LexicalScorer, segment: int) -> tuple[tuple[np.ndarray, ...], ...]:
    """Return per field the arrays of the segment that the compiled loops read."""
    return tuple(field[segment].kernel_arrays for field in scorer.fields)
