"""Exact BM25 scores of given rows, read from the forward index: for rows a list of the best misses.

A fusion places a candidate that one BM25 list does not hold by its exact score in that
signal (`index/ranking.py`'s `ranks_below`); `index/maxscore.py` completes it from its
own terms, as it completes the rows it lists, so the score is the same to the last bit.
"""

from __future__ import annotations

import numpy as np

from index.accumulate import Pass, Visit
from index.lexical import LexicalScorer
from index.maxscore import looked_up


def exact_scores(scorer: LexicalScorer, terms: Visit | None, rows: np.ndarray) -> np.ndarray:
    """Return the BM25 score of each of `rows` (rising), as `accumulate` computes it."""
    if terms is None or not len(rows):
        return np.zeros(len(rows), dtype=np.float64)
    whole: Pass = scorer.passes.whole
    targets = np.ascontiguousarray(rows, dtype=np.int64)
    found = looked_up(whole.segments, whole.shifts, terms.fields, terms.positions, terms.weights, targets)
    return found.astype(np.float64)


class ScoreLookup:
    """Exact scores of one query's rows, looked up in the forward index once and kept.

    A hybrid search asks for the scores of the candidates a BM25 list misses twice (before
    and after moving the query vector toward the best passages), mostly of the same rows;
    each costs scattered reads of the row's terms.
    """

    def __init__(self, scorer: LexicalScorer, terms: Visit | None) -> None:
        self._scorer, self._terms = scorer, terms
        self._rows, self._scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Return the BM25 score of each of `rows` (any order), as `accumulate` computes it."""
        unique, inverse = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
        new = np.setdiff1d(unique, self._rows, assume_unique=True)
        if len(new):
            rows_known = np.concatenate([self._rows, new])
            order = np.argsort(rows_known, kind="stable")
            self._rows = rows_known[order]
            self._scores = np.concatenate([self._scores, exact_scores(self._scorer, self._terms, new)])[order]
        return self._scores[np.searchsorted(self._rows, unique)][inverse]

    @property
    def known(self) -> int:
        """Return how many rows' scores are kept (each looked up once)."""
        return len(self._rows)
