"""BM25's best rows by MaxScore against scoring every posting."""

from __future__ import annotations

import dataclasses
import threading

import numba
import numpy as np
import pytest

import index.accumulate
from index.accumulate import Accumulation, accumulate, query_terms_of
from index.lexical import LexicalIndex, LexicalScorer, query_terms
from index.lookup import ScoreLookup, exact_scores
from index.maxscore import _completed, best_rows, looked_up
from index.topk import best_of, chosen_by_partition

# Every passage says "đảng bộ"; one in seven says "trụ sở"; one says "Hồ Xuân Hương".
PASSAGES = [
    f"Đảng bộ khối cơ quan số {n} họp." + (" Trụ sở chuyển về đường mới." if n % 7 == 0 else "") for n in range(200)
]
PASSAGES[77] += " Trụ sở ở số 18 Hồ Xuân Hương."
QUERY = query_terms("Trụ sở Đảng bộ ở Hồ Xuân Hương")


@pytest.fixture(autouse=True, params=["threshold estimated", "every posting visited"])
def _visiting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test as MaxScore estimating its threshold, and as a pass small enough to visit every posting."""
    if request.param == "threshold estimated":
        monkeypatch.setattr(index.accumulate, "POSTINGS_PER_WANTED", 0)


def test_without_a_budget_every_posting_is_scored() -> None:
    scorer = LexicalIndex.build(PASSAGES).scorer()
    terms = query_terms_of(scorer, QUERY)
    matched = accumulate(scorer, terms, None)
    expected = scorer.scores(QUERY)
    assert matched.complete and matched.rows.tolist() == np.flatnonzero(expected).tolist()
    np.testing.assert_allclose(matched.scores, expected[matched.rows], rtol=1e-6)


def test_the_best_rows_are_those_of_exhaustive_scoring_with_exact_scores() -> None:
    scorer = LexicalIndex.build(PASSAGES).scorer()
    terms = query_terms_of(scorer, QUERY)
    expected = scorer.scores(QUERY)
    best = np.argsort(-expected, kind="stable")
    for wanted in (1, 5, 30):
        matched = accumulate(scorer, terms, wanted)
        assert not matched.complete  # rows with the common terms alone were not visited
        assert len(matched.rows) < np.count_nonzero(expected)
        np.testing.assert_allclose(matched.scores, expected[matched.rows], rtol=1e-6)  # listed rows are exact
        assert (matched.scores >= np.sort(matched.scores)[-wanted]).all()  # and none below the wanted-th best
        top = matched.rows[np.argsort(-matched.scores, kind="stable")[:wanted]]
        np.testing.assert_allclose(np.sort(expected[top]), np.sort(expected[best[:wanted]]), rtol=1e-6)
    assert accumulate(scorer, terms, 1).rows[0] == 77
    np.testing.assert_allclose(exact_scores(scorer, terms, np.arange(200)), expected, rtol=1e-6)


def test_a_query_without_terms_matches_nothing() -> None:
    scorer = _segments(2)
    for text in ("???", "\U0001f600", "\u0301", ""):
        terms = query_terms_of(scorer, query_terms(text))
        assert terms is None
        matched = accumulate(scorer, terms, 5)
        assert matched.complete and not len(matched.rows)


def test_a_collection_smaller_than_the_rows_wanted_is_scored_completely() -> None:
    scorer = LexicalIndex.build(PASSAGES).scorer()
    matched = accumulate(scorer, query_terms_of(scorer, QUERY), 201)  # no threshold before 201 rows are found
    assert matched.complete and matched.rows.tolist() == np.flatnonzero(scorer.scores(QUERY)).tolist()


def test_a_pass_that_visits_every_posting_lists_every_row_when_it_keeps_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index.accumulate, "POSTINGS_PER_WANTED", 10**9)
    scorer = LexicalIndex.build([f"Đảng bộ họp.{' Lời.' * n}" for n in range(200)]).scorer()  # 200 scores
    query = query_terms("Đảng bộ")
    matched = accumulate(scorer, query_terms_of(scorer, query), 60)  # 240 rows may be kept: all of them
    assert matched.complete and matched.rows.tolist() == list(range(200))
    np.testing.assert_allclose(matched.scores, scorer.scores(query), rtol=1e-6)


def test_segments_score_as_one_collection() -> None:
    whole = LexicalIndex.build(PASSAGES).scorer()
    parts = LexicalIndex.build(PASSAGES[:120]), LexicalIndex.build(PASSAGES[120:])
    joined = type(whole).of(parts)
    np.testing.assert_array_equal(joined.scores(QUERY), whole.scores(QUERY))
    a = accumulate(joined, query_terms_of(joined, QUERY), None)
    b = accumulate(whole, query_terms_of(whole, QUERY), None)
    assert a.rows.tolist() == b.rows.tolist()
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12)
    # The best rows too: one pass over both segments reaches the threshold of the whole collection.
    for wanted in (1, 3, 10):
        a, b = (accumulate(s, query_terms_of(s, QUERY), wanted) for s in (joined, whole))
        top = [m.rows[np.argsort(-m.scores, kind="stable")[:wanted]].tolist() for m in (a, b)]
        assert top[0] == top[1]


def test_segments_in_several_passes_give_the_one_pass_list(monkeypatch: pytest.MonkeyPatch) -> None:
    one = _segments(6)
    assert len(one.passes.runs) == 1  # made now, and kept
    monkeypatch.setattr(index.accumulate, "ROWS_PER_PASS", 70)  # two segments of 33 or 34 rows a pass
    several = _segments(6)
    assert [(r.first, r.end) for r in several.passes.runs] == [(0, 2), (2, 4), (4, 6)]
    for wanted in (1, 5, 30, None):
        a, b = (accumulate(s, query_terms_of(s, QUERY), wanted) for s in (one, several))
        top = [m.rows[np.argsort(-m.scores, kind="stable")[: wanted or 200]].tolist() for m in (a, b)]
        assert top[0] == top[1]
        np.testing.assert_array_equal(np.sort(a.scores)[-len(top[0]) :], np.sort(b.scores)[-len(top[1]) :])


def test_a_pass_lists_its_share_and_the_list_stays_the_exact_head_of_the_ranking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Four passes of 150 rows, every row the query favours in the last: that pass lists its
    # share of the 100 wanted (66), so the list is cut where it stopped, shorter but exact.
    monkeypatch.setattr(index.accumulate, "ROWS_PER_PASS", 150)
    common = [f"Đảng bộ khối cơ quan số {n} họp." for n in range(450)]
    topic = [f"Trụ sở ở Hồ Xuân Hương, số {n}.{' Lời.' * (n % 11)}" for n in range(150)]
    scorer = LexicalScorer.of([LexicalIndex.build(common[i::3]) for i in range(3)] + [LexicalIndex.build(topic)])
    assert len(scorer.passes.runs) == 4
    expected = scorer.scores(QUERY)
    matched = accumulate(scorer, query_terms_of(scorer, QUERY), 100)
    np.testing.assert_allclose(matched.scores, expected[matched.rows], rtol=1e-6)
    above = np.flatnonzero(expected > matched.scores.min() * (1 + 1e-6))
    assert np.isin(above, matched.rows).all()  # every row scoring more than the last one listed is listed
    if not matched.complete:  # the threshold was estimated: the topic's pass listed its share
        assert 50 <= len(matched.rows) < 100 and (matched.rows >= 450).all()


def test_a_pass_that_lists_every_row_it_scored_does_not_cut_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # Three passes of 1,000 rows saying only "ở", made first, estimate their thresholds and list
    # their share; the last, 60 rows saying "ở Hồ Xuân Hương", has few postings: it visits them
    # all and lists every row. Those 60 are the best; the rest of the 100 wanted are the other
    # passes' rows, which the last pass's threshold (its 50th best) must not cut off.
    monkeypatch.setattr(index.accumulate, "ROWS_PER_PASS", 1_000)
    monkeypatch.setattr(index.accumulate, "POSTINGS_PER_WANTED", 20)
    common = [f"Ở khu {n}.{' Lời nói đầu.' * (3 + n % 11)}" for n in range(3000)]
    topic = [f"Ở Hồ Xuân Hương {n}." for n in range(60)]
    scorer = LexicalScorer.of([LexicalIndex.build(common[i::3]) for i in range(3)] + [LexicalIndex.build(topic)])
    expected = scorer.scores(QUERY)
    matched = accumulate(scorer, query_terms_of(scorer, QUERY), 100)
    assert not matched.complete
    np.testing.assert_allclose(np.sort(matched.scores)[-100:], np.sort(expected)[-100:], rtol=1e-6)


@pytest.mark.parametrize("rows_per_pass", [1_000, 70])
def test_deleted_rows_are_not_listed_and_leave_the_best_live_rows_listed(
    rows_per_pass: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tombstones holding the best scores: the list still has the `wanted` best live rows, as
    # exhaustive scoring of the live rows ranks them, not fewer (and no deleted row raised a threshold).
    monkeypatch.setattr(index.accumulate, "ROWS_PER_PASS", rows_per_pass)
    scorer = _segments(6)
    expected = scorer.scores(QUERY)
    deleted = np.sort(np.argsort(-expected, kind="stable")[:8])
    live = expected.copy()
    live[deleted] = 0.0
    for wanted in (1, 5, 30, None):
        matched = accumulate(scorer, query_terms_of(scorer, QUERY), wanted, deleted)
        assert not np.isin(matched.rows, deleted).any()
        n = wanted or np.count_nonzero(live)
        top = matched.rows[np.argsort(-matched.scores, kind="stable")[:n]]
        assert len(top) == n
        np.testing.assert_allclose(np.sort(live[top]), np.sort(live)[-n:], rtol=1e-6)
        np.testing.assert_allclose(matched.scores, expected[matched.rows], rtol=1e-6)


def test_a_pass_reports_the_kth_best_score_as_the_threshold_for_the_next() -> None:
    scorer = _segments(2)
    visit = query_terms_of(scorer, QUERY)
    assert visit is not None
    run = scorer.passes.runs[0]
    expected = np.sort(scorer.scores(QUERY))[::-1]
    for estimate in (True, False):
        _, _, threshold, _ = best_rows(
            run.segments, run.shifts, visit.starts, visit.ends, visit.fields, visit.positions,
            visit.weights, visit.bounds.max(axis=0), 5, 20, -1.0, estimate, np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )  # fmt: skip
        assert threshold == pytest.approx(expected[4], rel=1e-6)


def test_a_row_completed_once_is_not_completed_again() -> None:
    scorer = _segments(3)
    visit = query_terms_of(scorer, QUERY)
    assert visit is not None
    segments, shifts = scorer.passes.whole.segments, scorer.shifts
    rows = np.arange(0, 200, 3, dtype=np.int64)
    exact = looked_up(segments, shifts, visit.fields, visit.positions, visit.weights, rows)
    np.testing.assert_allclose(exact, scorer.scores(QUERY)[rows], rtol=1e-6)
    known = rows[::2]
    sentinel = np.full(len(known), -1.0, np.float32)  # a score only the store of completed rows gives
    scores = np.zeros(len(rows), np.float32)
    grown = _completed(segments, shifts, visit.fields, visit.positions, visit.weights, 0, rows, scores, known, sentinel)
    np.testing.assert_array_equal(scores[::2], -1.0)
    np.testing.assert_array_equal(scores[1::2], exact[1::2])  # the others completed from the first term, bit for bit
    assert grown[0].tolist() == rows.tolist()
    np.testing.assert_array_equal(grown[1], scores)


def test_an_estimate_chooses_the_best_rows_found_and_at_the_cut_the_first_found() -> None:
    rng = np.random.default_rng(7)
    partial = rng.integers(0, 6, 500).astype(np.float32)  # six values: many rows tie at the cut
    touched = rng.permutation(500)[:300].astype(np.int32)  # rows in the order the postings found them
    for keep in (1, 7, 50, 299, 300, 400):
        rows, scores = best_of(touched, partial[touched], 300, keep)
        assert len(rows) == min(keep, 300) and np.all(np.diff(rows) > 0)
        np.testing.assert_array_equal(np.sort(scores), np.sort(partial[touched])[::-1][: len(rows)][::-1])
        expected = _chosen_in_order(touched, partial[touched], keep)
        np.testing.assert_array_equal(rows, expected[0])  # at the cut, the rows found first
        np.testing.assert_array_equal(scores, expected[1])
        # the final phase passes int64 rows, the estimates int32: the same choice
        np.testing.assert_array_equal(best_of(touched.astype(np.int64), partial[touched], 300, keep)[0], rows)


def test_a_choice_narrowed_by_a_histogram_is_the_choice_of_one_partition() -> None:
    rng = np.random.default_rng(11)
    rows = rng.permutation(40_000)[:20_000].astype(np.int32)
    spread = rng.random(20_000).astype(np.float32) * 30  # every value its own, or nearly
    clustered = np.float32(12.5) + rng.integers(0, 3, 20_000).astype(np.float32) / 1024  # all in a bin or two
    for scores in (spread, clustered, np.full(20_000, 3.0, np.float32), spread**8):
        for keep in (1, 100, 2_400):
            narrowed, whole = best_of(rows, scores, 20_000, keep), chosen_by_partition(rows, scores, 20_000, keep)
            np.testing.assert_array_equal(narrowed[0], whole[0])
            np.testing.assert_array_equal(narrowed[1], whole[1])


def _chosen_in_order(rows: np.ndarray, scores: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows above the keep-th best score, then the first found at it, rising."""
    chosen = list(range(len(rows)))
    if len(rows) > keep:
        cut = np.sort(scores)[::-1][keep - 1]
        above = [j for j in chosen if scores[j] > cut]
        chosen = above + [j for j in chosen if scores[j] == cut][: keep - len(above)]
    order = np.argsort(rows[chosen])
    return rows[chosen][order].astype(np.int64), scores[chosen][order]


def test_scores_looked_up_once_are_kept_for_the_next_ask() -> None:
    scorer = _segments(3)
    terms = query_terms_of(scorer, QUERY)
    expected = scorer.scores(QUERY)
    lookup = ScoreLookup(scorer, terms)
    first, second = np.array([150, 77, 3, 77]), np.array([3, 199, 0, 150])
    np.testing.assert_allclose(lookup.scores(first), expected[first], rtol=1e-6)
    assert lookup.known == 3
    np.testing.assert_allclose(lookup.scores(second), expected[second], rtol=1e-6)
    assert lookup.known == 5  # 199 and 0 were new
    np.testing.assert_array_equal(lookup.scores(second), exact_scores(scorer, terms, np.sort(second))[[1, 3, 0, 2]])


def test_a_field_whose_terms_are_all_common_still_adds_to_the_rows_found() -> None:
    # "hồ" is rare; folded, it is "ho", which every "họ" and "hộ" also is: that field has only common terms.
    passages = [f"Họ và hộ số {n}." for n in range(100)] + ["Hồ Tây."]
    scorer = LexicalIndex.build(passages).scorer()
    query = query_terms("hồ")
    matched = accumulate(scorer, query_terms_of(scorer, query), 1)
    assert not matched.complete and matched.rows[np.argmax(matched.scores)] == 100
    np.testing.assert_allclose(matched.scores, scorer.scores(query)[matched.rows], rtol=1e-6)


def _segments(count: int) -> LexicalScorer:
    """Return the passages as `count` segments of one collection."""
    return LexicalScorer.of([LexicalIndex.build(PASSAGES[i::count]) for i in range(count)])


def test_threads_that_help_give_the_one_thread_list() -> None:
    scorer = _segments(6)
    terms = query_terms_of(scorer, QUERY)
    for wanted in (1, 5, 30, None):
        alone = accumulate(scorer, terms, wanted)
        shared = Accumulation(scorer, terms, wanted)
        helpers = [threading.Thread(target=shared.work) for _ in range(3)]
        for helper in helpers:
            helper.start()
        together = shared.result()
        for helper in helpers:
            helper.join()
        assert together.rows.tolist() == alone.rows.tolist() and together.complete == alone.complete
        np.testing.assert_array_equal(together.scores, alone.scores)


def test_an_error_in_a_helping_thread_reaches_the_thread_that_waits() -> None:
    scorer = _segments(2)
    terms = query_terms_of(scorer, QUERY)
    assert terms is not None
    # Weights of the wrong shape: the compiled loop refuses them in the helper, which takes the work first.
    broken = dataclasses.replace(terms, weights=terms.weights.reshape(1, -1))
    shared = Accumulation(scorer, broken, 5)
    helper = threading.Thread(target=shared.work)
    helper.start()
    helper.join()
    with pytest.raises(numba.TypingError):
        shared.result()
