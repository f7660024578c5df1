"""BM25's best groups of rows (a chunk ranked by its best sentence) by MaxScore against scoring every posting."""

from __future__ import annotations

import numpy as np
import pytest

import index.accumulate
from index.accumulate import accumulate, query_terms_of
from index.lexical import LexicalIndex, LexicalScorer, query_terms
from index.topk import kth_best_group

# Rows in groups of seven; the first three of each say "trụ sở", longer in later groups, so
# the best rows crowd three to a group and the best groups reach far below the best rows.
ROWS = [
    f"Đảng bộ khối cơ quan số {n} họp." + (" Trụ sở chuyển về đường mới." + " Lời." * (n // 7) if n % 7 < 3 else "")
    for n in range(210)
]
QUERY = query_terms("Trụ sở Đảng bộ")
SEGMENTS = (0, 70, 140, 210)  # group starts fall on segment starts: a chunk's sentences share a segment
GROUPS = np.arange(0, 210, 7, dtype=np.int64)


def _scorer() -> LexicalScorer:
    return LexicalScorer.of([LexicalIndex.build(ROWS[a:b]) for a, b in zip(SEGMENTS, SEGMENTS[1:])])


def _best_groups(rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Return the best score of each group that `rows` hold, falling."""
    groups = np.searchsorted(GROUPS, rows, side="right") - 1
    best = np.zeros(len(GROUPS))
    np.maximum.at(best, groups, scores)
    return np.sort(best[np.unique(groups)])[::-1]


@pytest.mark.parametrize("estimate", [True, False])
@pytest.mark.parametrize("rows_per_pass", [1_000, 100])
def test_the_groups_wanted_are_the_best_groups_by_their_best_row(
    estimate: bool, rows_per_pass: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index.accumulate, "ROWS_PER_PASS", rows_per_pass)  # one pass, or one per segment
    if estimate:
        monkeypatch.setattr(index.accumulate, "POSTINGS_PER_WANTED", 0)
    _assert_best_groups_listed()


def test_rows_completed_grow_with_the_rows_per_group_the_estimates_find(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two rows completed per group wanted: enough only if the cap grows with the three best rows a group holds.
    monkeypatch.setattr(index.accumulate, "POSTINGS_PER_WANTED", 0)
    monkeypatch.setattr(index.accumulate, "POSSIBLE_PER_WANTED", 2)
    _assert_best_groups_listed()


def _assert_best_groups_listed() -> None:
    scorer = _scorer()
    expected = scorer.scores(QUERY)
    every_group = _best_groups(np.arange(len(ROWS)), expected)
    for wanted in (1, 3, 8, 25):
        matched = accumulate(scorer, query_terms_of(scorer, QUERY), wanted, groups=GROUPS)
        np.testing.assert_allclose(matched.scores, expected[matched.rows], rtol=1e-6)  # listed rows are exact
        listed = _best_groups(matched.rows, matched.scores)
        np.testing.assert_allclose(listed[:wanted], every_group[:wanted], rtol=1e-6)
        # Counted in rows, the cut would have left fewer groups than wanted.
        assert np.count_nonzero(expected >= every_group[wanted - 1]) > wanted or wanted == 1


def test_the_kth_best_group_is_that_of_the_groups_best_rows() -> None:
    rows = np.array([0, 1, 2, 5, 6, 9], np.int64)
    scores = np.array([5, 9, 1, 4, 3, 2], np.float32)
    groups = np.array([0, 3, 5, 8], np.int64)  # rows 0-2, 3-4, 5-7, 8-
    assert kth_best_group(rows, scores, 6, 2, groups) == (4.0, 3)  # the groups' best: 9, 4, 2
    assert kth_best_group(rows, scores, 6, 3, groups) == (2.0, 3)
    assert kth_best_group(rows, scores, 6, 4, groups) == (-1.0, 3)  # three groups: no fourth best
    assert kth_best_group(rows, scores, 6, 2, np.zeros(0, np.int64)) == (5.0, 6)  # each row its own group
