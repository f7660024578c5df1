"""BM25 of one query over a version's segments: its best rows, scored exactly.

Scoring every row for every query term costs the length of the terms' postings: at a
million passages a question's common syllables ("đảng", "các", "của") hold most of the
rows. `index/maxscore.py` visits the postings of the rarer terms and only looks the
common ones up for the rows that can still reach the best `wanted`, in passes over
runs of consecutive segments whose rows fit in cache together (`Passes`). Passes are
made largest first, each starting from the best threshold those made reached, so a
small recent segment whose rows cannot compete costs little; two threads may share the
passes of one field (`Accumulation`). With `wanted=None` every posting is visited: the
exhaustive reference; `complete` says whether every row with a score above zero is listed.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from index.bm25 import term_hashes
from index.lexical import LexicalScorer, QueryTerms
from index.maxscore import best_rows, segment_list
from index.topk import kth_best_group

# Rows completed from their own terms, per row wanted: those whose rarer terms
# score best. On the 100,000-passage synthetic collection, 2 kept 99.8% of the exact top
# 1,000, 4 all of it (30 questions).
POSSIBLE_PER_WANTED = 4
# Rows one pass covers: its accumulator, norms and rows found (12 bytes a row) stay in the 32 MB
# cache the two cores share. At a million synthetic passages in four segments, one pass over
# the passages took 19 ms against 33 in four, but one over their 4.4 million sentences 114 ms
# against 93 (one thread): past the cache, every posting waits on memory.
ROWS_PER_PASS = 1_250_000
# Postings per row wanted below which a pass visits every posting of the query's terms instead
# of estimating a threshold: completing rows from the forward index costs a few microseconds
# each, a posting a few nanoseconds. Visiting every posting took 1.3 against 4.4 ms at 10,000
# synthetic passages (0.26M postings, 200 wanted), 8.3 against 5.4 ms at 100,000 (2.6M).
POSTINGS_PER_WANTED = 4000
# A field in several passes: each lists its share of the rows wanted, twice over and 16 more
# (its rows sample the collection's), and at least half of them. The list is cut where the
# passes that listed fewer stopped, so it stays the exact head of the ranking, only shorter
# when one pass holds most of the best rows (a topic in one segment). The sentences of a
# million synthetic passages are four passes: a search took 125 to 131 against 144 to 152 ms
# of CPU (p50 74 to 77 against 86 to 90 ms), recall@10 against exhaustive scoring 0.961 against
# 0.965 (101 questions).
PASS_MARGIN, PASS_EXTRA = 2, 16


@dataclass(frozen=True)
class Pass:
    """Consecutive segments that one compiled pass visits together, rows numbered across the collection."""

    first: int  # the segments first .. end - 1
    end: int
    segments: Any  # their arrays per field, as the compiled loops take them (`segment_list`)
    shifts: np.ndarray  # int64: the first row of each, then the row after the last


@dataclass(frozen=True)
class Passes:
    """A field's segments in passes of at most `ROWS_PER_PASS` rows (a larger segment alone), and all of them."""

    runs: list[Pass]
    whole: Pass  # for looking up the scores of given rows anywhere


def passes_of(scorer: LexicalScorer) -> Passes:
    """Return the passes of `scorer`'s segments (`LexicalScorer.passes` keeps them)."""
    sizes = np.diff(scorer.shifts)
    cuts = [0]
    for segment in range(1, len(sizes)):
        if scorer.shifts[segment] - scorer.shifts[cuts[-1]] + sizes[segment] > ROWS_PER_PASS:
            cuts.append(segment)
    bounds = list(zip(cuts, cuts[1:] + [len(sizes)])) if len(sizes) else []
    runs = [_pass(scorer, first, end) for first, end in bounds]
    return Passes(runs, runs[0] if len(runs) == 1 else _pass(scorer, 0, len(sizes)))  # one run: it is the whole


def _pass(scorer: LexicalScorer, first: int, end: int) -> Pass:
    arrays = [tuple(field[s].kernel_arrays for field in scorer.fields) for s in range(first, end)]
    return Pass(first, end, segment_list(arrays) if arrays else None, scorer.shifts[first : end + 1].copy())


@dataclass(frozen=True)
class Visit:
    """A query's terms that a field's segments hold, in visiting order (largest bound first), as arrays."""

    starts: np.ndarray  # int64 (segments, terms): where each term's postings begin in its field's arrays
    ends: np.ndarray  # int64 (segments, terms): equal to starts where the segment does not hold the term
    positions: np.ndarray  # int64 (segments, terms): the term's place in its field's sorted hashes, -1 if not held
    fields: np.ndarray  # int64 (terms): 0 accented, 1 folded
    weights: np.ndarray  # float32 (terms): idf in the whole collection
    bounds: np.ndarray  # float64 (segments, terms): the most the term adds to any row of the segment


@dataclass(frozen=True)
class Matched:
    """The rows a query reached and their BM25 scores."""

    rows: np.ndarray  # int64, rising
    scores: np.ndarray  # float64: exact for every row listed
    complete: bool  # every row with a score above zero is listed


def query_terms_of(scorer: LexicalScorer, query: QueryTerms) -> Visit | None:
    """Return the query's terms that some segment holds, with their collection statistics and bounds (None: none)."""
    columns: list[list[np.ndarray]] = [[], [], [], [], [], []]
    for field, (scorers, words) in enumerate(zip(scorer.fields, (query.accented, query.folded))):
        hashes = term_hashes(words)
        found = [s.field.positions(hashes) for s in scorers]
        positions = np.array(found, dtype=np.int64).reshape(len(scorers), len(hashes))  # a query may have no terms
        held = (positions >= 0).any(axis=0)
        positions = positions[:, held]
        df = sum((s.field.df(p) for s, p in zip(scorers, positions)), np.zeros(positions.shape[1], dtype=np.int64))
        idf = scorer.idf(df)
        starts, ends = np.zeros(positions.shape, np.int64), np.zeros(positions.shape, np.int64)
        bounds = np.zeros(positions.shape, np.float64)
        for segment, scoring in enumerate(scorers):
            if not len(scoring.field.peak):
                continue  # a field without terms (its positions are all -1)
            at = np.maximum(positions[segment], 0)
            starts[segment], ends[segment] = scoring.field.indptr[at], scoring.field.indptr[at + 1]
            bounds[segment] = idf * scoring.field.peak[at] * scoring.peak_scale
        absent = positions < 0
        ends[absent], bounds[absent] = starts[absent], 0.0  # no postings there
        values = (starts, ends, positions, bounds, np.full(len(idf), field), idf)
        for column, value in zip(columns, values):
            column.append(value)
    starts, ends, positions, bounds = (np.concatenate(column, axis=1) for column in columns[:4])
    fields, weights = (np.concatenate(column) for column in columns[4:])
    if not len(weights):
        return None
    # One order for every segment, so a row's terms are summed alike on every path; equal
    # bounds keep the query's order.
    order = np.argsort(-bounds.max(axis=0), kind="stable")
    return Visit(starts[:, order], ends[:, order], positions[:, order], fields[order], weights[order], bounds[:, order])


def accumulate(
    scorer: LexicalScorer,
    terms: Visit | None,
    wanted: int | None,
    deleted: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> Matched:
    """Return the rows that may be among the `wanted` best, with their exact scores.

    Args:
        wanted: how many best rows (or groups) the caller will read; None lists every row any
            term names. A field in several passes may list fewer, at least half (`PASS_MARGIN`).
        deleted: rows that match nothing (tombstones), rising.
        groups: the first row of each group, rising: `wanted` counts groups, each ranked by
            its best row (a chunk by its best sentence). None: every row is its own group.
    """
    return Accumulation(scorer, terms, wanted, deleted, groups).result()


class Accumulation:
    """One field's accumulation over its passes, which any thread may take passes of.

    A search accumulates two fields, passages and sentences, on two cores: each thread
    works through one field's passes and then helps with what is left of the other's,
    so neither core waits while the other still has a pass to make.
    """

    def __init__(
        self,
        scorer: LexicalScorer,
        terms: Visit | None,
        wanted: int | None,
        deleted: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> None:
        self._scorer, self._terms = scorer, terms
        self._deleted = np.zeros(0, np.int64) if deleted is None else np.asarray(deleted, dtype=np.int64)
        self._groups = np.zeros(0, np.int64) if groups is None else np.ascontiguousarray(groups, dtype=np.int64)
        self._k = 0 if wanted is None else max(wanted, 1)
        self._rows = max(int(scorer.shifts[-1] - scorer.shifts[0]), 1)
        runs: list[Pass] = scorer.passes.runs
        held = (
            []
            if terms is None
            else [r for r in runs if (terms.ends[r.first : r.end] > terms.starts[r.first : r.end]).any()]
        )
        self._order = sorted(held, key=lambda r: -(r.shifts[-1] - r.shifts[0]))  # the largest first
        self._taken = 0
        self._floor = -1.0
        self._ceiling = -1.0  # the best threshold of a pass that listed its share and left rows out: the list's cut
        self._found: dict[int, tuple[np.ndarray, np.ndarray, bool] | BaseException] = {}
        self._changed = threading.Condition()

    def work(self) -> None:
        """Make passes no thread has taken yet, until none is left."""
        while True:
            with self._changed:
                if self._taken == len(self._order):
                    return
                at, floor = self._taken, self._floor
                self._taken += 1
            try:
                found: tuple[np.ndarray, np.ndarray, bool] | BaseException = self._visit(self._order[at], floor)
            except BaseException as error:  # raised again by `result`, in the thread that waits
                found = error
            with self._changed:
                self._found[at] = found
                self._changed.notify_all()

    def _wanted_in(self, run: Pass) -> int:
        """Return how many groups `run` lists: its share of those wanted, with a margin, at least half of them."""
        share = (run.shifts[-1] - run.shifts[0]) / self._rows
        return min(self._k, max(math.ceil(PASS_MARGIN * share * self._k) + PASS_EXTRA, (self._k + 1) // 2))

    def _visit(self, run: Pass, floor: float) -> tuple[np.ndarray, np.ndarray, bool]:
        visit, k = self._terms, self._wanted_in(run)  # 0 when every posting is wanted
        assert visit is not None
        part = slice(run.first, run.end)
        postings = int((visit.ends[part] - visit.starts[part]).sum())
        rows, exact, threshold, whole = best_rows(
            run.segments,
            run.shifts,
            visit.starts[part],
            visit.ends[part],
            visit.fields,
            visit.positions[part],
            visit.weights,
            visit.bounds[part].max(axis=0),
            k,
            POSSIBLE_PER_WANTED * k,
            floor,
            postings > POSTINGS_PER_WANTED * k,
            self._deleted[slice(*np.searchsorted(self._deleted, run.shifts[[0, -1]]))],
            self._groups,
        )  # type: ignore[call-arg]
        if k:
            # Passes started later begin from the best threshold reached so far: one whose
            # rows cannot compete costs little. (`result` makes the list independent of that order.)
            with self._changed:
                self._floor = max(self._floor, float(threshold))
                if k < self._k and not whole:  # a pass listing every row it scored left no gap
                    self._ceiling = max(self._ceiling, float(threshold))
        return rows, exact, bool(whole)

    def result(self) -> Matched:
        """Return the rows that may be among the best, once every pass is made (helping with those left)."""
        self.work()
        with self._changed:
            self._changed.wait_for(lambda: len(self._found) == len(self._order))
        done = []
        for at in range(len(self._order)):
            part = self._found[at]
            if isinstance(part, BaseException):
                raise part
            done.append(part)
        if not done:
            return Matched(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), True)
        joined = np.concatenate([d[0] for d in done])
        exact = np.concatenate([d[1] for d in done])
        order = np.argsort(joined, kind="stable")
        joined, exact = joined[order], exact[order]
        complete = all(d[2] for d in done)
        if self._k and not complete:
            # Each pass lists its rows above the threshold it reached, which depends on the
            # floor it started from; cut at the k-th best group, or higher where a pass listed
            # only its share, the list does not depend on which thread made what (but for rows
            # `cap` left out), and a row's place in it is its rank.
            cut, _ = kth_best_group(joined, exact, len(joined), self._k, self._groups)
            cut = max(cut, self._ceiling)
            joined, exact = joined[exact >= cut], exact[exact >= cut]
        return Matched(joined, exact.astype(np.float64), complete)
