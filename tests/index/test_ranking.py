from __future__ import annotations

import numpy as np

from index.ranking import concat_ranges, sort_rows, top_rows


def test_top_rows_keeps_the_best_and_breaks_ties_by_row() -> None:
    scores = np.array([0.0, 2.0, 5.0, 2.0, 2.0, 1.0])
    top = top_rows(scores, 3, positive_only=True)
    assert top.rows.tolist() == [2, 1, 3] and top.scores.tolist() == [5.0, 2.0, 2.0] and not top.complete
    everything = top_rows(scores, 10, positive_only=True)
    assert everything.rows.tolist() == [2, 1, 3, 4, 5] and everything.complete  # row 0 scores nothing
    assert top_rows(scores, 6, positive_only=False).rows.tolist() == [2, 1, 3, 4, 5, 0]


def test_sort_rows_orders_by_score_then_row() -> None:
    ranked = sort_rows(np.array([9, 4, 7]), np.array([1.0, 3.0, 1.0]), limit=2, complete=False)
    assert ranked.rows.tolist() == [4, 7]


def test_concat_ranges_joins_ragged_rows() -> None:
    ids, begins = concat_ranges(np.array([3, 10, 20]), np.array([5, 10, 23]))
    assert ids.tolist() == [3, 4, 20, 21, 22] and begins.tolist() == [0, 2, 2]
