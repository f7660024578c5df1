from __future__ import annotations

import numpy as np

from index.ranking import Ranking, concat_ranges, ranks_below, sort_rows, top_rows


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


def test_ranks_below_a_list_carry_on_its_decline() -> None:
    # Scores falling linearly with log(rank): the fit recovers where lower scores rank.
    ranks = np.arange(400)
    scores = 10.0 - np.log(ranks + 1.0)
    listed = Ranking(ranks[:100], scores[:100], complete=False)
    estimated = ranks_below(listed, np.array([scores[150], scores[399], 0.0]))
    np.testing.assert_allclose(estimated[:2], [150, 399], rtol=1e-6)
    assert estimated[2] == np.inf  # no term matched: no rank
    # A short or flat list says nothing of its decline: just below it.
    assert ranks_below(Ranking(ranks[:5], scores[:5], complete=False), np.array([1.0])).tolist() == [5.0]
    assert ranks_below(Ranking(ranks[:50], np.ones(50), complete=False), np.array([0.5])).tolist() == [50.0]
