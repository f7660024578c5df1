"""A signal's best rows, found without sorting every row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

_FITTED = 20  # fewer places than this in a list: a row below it ranks just below


@dataclass(frozen=True)
class Ranking:
    """One signal's best rows, best first; equal scores keep the lower row first."""

    rows: np.ndarray  # int64
    scores: np.ndarray  # float64, falling
    complete: bool  # every row the signal scores (above zero, for BM25) is listed

    def head(self, n: int | None) -> Ranking:
        """Return the first `n` rows (None: all), complete only if nothing was cut from a complete ranking."""
        return Ranking(self.rows[:n], self.scores[:n], self.complete and (n is None or len(self.rows) <= n))


def top_rows(scores: np.ndarray, n: int, *, positive_only: bool) -> Ranking:
    """Return the `n` best rows of `scores` (all rows scored for a dense signal, BM25's above zero).

    A partial partition finds them in linear time; only those `n` are sorted.
    """
    candidates = np.flatnonzero(scores > 0) if positive_only else np.arange(len(scores))
    complete = len(candidates) <= n
    if not complete:
        # The n-th best score decides; every row at or above it is kept, so ties at the
        # cut-off are broken by row below, as a full stable sort would break them.
        threshold = np.partition(scores[candidates], len(candidates) - n)[len(candidates) - n]
        candidates = candidates[scores[candidates] >= threshold]
    return sort_rows(candidates, scores[candidates], limit=n, complete=complete)


def sort_rows(rows: np.ndarray, scores: np.ndarray, *, limit: int | None = None, complete: bool) -> Ranking:
    """Return `rows` ordered by falling score, then rising row, keeping the first `limit`."""
    order = np.lexsort((rows, -scores))[:limit]
    return Ranking(rows[order].astype(np.int64), scores[order].astype(np.float64), complete)


def concat_ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices start..end-1 of every range, joined, and where each range begins in them.

    Ragged tables (sentences of a chunk, years of a chunk) keep one flat array and the
    offset of each row's first entry; this gathers the entries of some rows at once.
    """
    counts = np.asarray(ends, dtype=np.int64) - np.asarray(starts, dtype=np.int64)
    begins = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - begins, counts) + np.arange(counts.sum()), begins


def rrf_weights(
    ranking: Ranking, rows: np.ndarray, k: int, estimated_ranks: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    """Return the reciprocal-rank weight of each of `rows` (sorted) in `ranking`.

    A row the ranking misses gets nothing if the ranking is complete (for BM25: it matched
    no term). Otherwise it ranks where `estimated_ranks` puts it (`ranks_below`,
    `ranks_missed`), or just below the list.
    """
    order = np.argsort(ranking.rows, kind="stable")
    listed = ranking.rows[order]
    at = np.minimum(np.searchsorted(listed, rows), max(len(listed) - 1, 0))
    found = listed[at] == rows if len(listed) else np.zeros(len(rows), dtype=bool)
    position = np.full(len(rows), len(listed), dtype=np.float64)
    position[found] = order[at[found]]
    missing = ~found
    if estimated_ranks is not None and missing.any() and not ranking.complete:
        position[missing] = estimated_ranks(rows[missing])
    weights = 1.0 / (k + position + 1)
    if ranking.complete:
        weights[missing] = 0.0
    return weights


def ranks_missed(ranking: Ranking, scores: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Return where rows scoring `scores`, missing from an approximate list of the best, rank.

    A graph search (HNSW) misses some of the rows it should list, now and then one of the
    very best: such a row, found by another signal, ranks among the listed rows, after those
    scoring more, not below them all. (On 100,000 synthetic passages, one HNSW segment,
    recall@10 against exhaustive scoring rose from 0.971 to 0.982: 100 questions.) A row
    scoring less than every listed one ranks at `below` (an estimate), or just below the list.
    """
    listed = len(ranking.scores)
    above = listed - np.searchsorted(ranking.scores[::-1], scores, side="right")  # listed rows scoring more
    return np.where(above < listed, above, np.maximum(below, listed)).astype(np.float64)


def ranks_below(ranking: Ranking, scores: np.ndarray) -> np.ndarray:
    """Return where rows scoring `scores` rank, below an incomplete list of the best: from the list's own decline.

    Below a list's first few places, the number of passages scoring above a BM25 score
    grows about exponentially as the score falls; a line through log(rank) against
    score over the list's lower half carries the ranking on below it. (On the
    100,000-passage synthetic collection, fitted on the 100-200th places, it put the
    400th within a quarter and the 1,000th within a factor of two, where "just below
    the list" would say 200.) A row scoring 0 matched no term: it ranks nowhere (inf).
    """
    listed = len(ranking.scores)
    ranks = np.full(len(scores), float(listed))
    tail = ranking.scores[listed // 2 :]
    if listed >= _FITTED and np.ptp(tail) > 0:
        slope, intercept = np.polyfit(tail, np.log(np.arange(listed // 2, listed) + 1.0), 1)
        if slope < 0:
            ranks = np.exp(np.minimum(intercept + slope * np.asarray(scores, dtype=np.float64), 700.0)) - 1.0
    ranks = np.maximum(ranks, listed)
    ranks[np.asarray(scores) <= 0] = np.inf
    return ranks


def then_unscored(rows: np.ndarray, *, complete: bool, size: int, deleted: np.ndarray) -> Iterator[int]:
    """Yield `rows`, then, if they are every row that scores, the others but `deleted` in row order (score 0)."""
    yield from rows.tolist()
    if complete:
        listed = set(rows.tolist()) | set(deleted.tolist())
        yield from (row for row in range(size) if row not in listed)
