"""Term-at-a-time BM25 with a postings budget against scoring every posting."""

from __future__ import annotations

import numpy as np

from index.accumulate import accumulate, exact_scores, query_terms_of
from index.lexical import LexicalIndex, query_terms

# Every passage says "đảng bộ"; one in seven says "trụ sở"; one says "Hồ Xuân Hương".
PASSAGES = [
    f"Đảng bộ khối cơ quan số {n} họp." + (" Trụ sở chuyển về đường mới." if n % 7 == 0 else "") for n in range(200)
]
PASSAGES[77] += " Trụ sở ở số 18 Hồ Xuân Hương."
QUERY = query_terms("Trụ sở Đảng bộ ở Hồ Xuân Hương")


def test_without_a_budget_every_posting_is_scored() -> None:
    scorer = LexicalIndex.build(PASSAGES).scorer()
    terms = query_terms_of(scorer, QUERY)
    matched = accumulate(scorer, terms, None)
    expected = scorer.scores(QUERY)
    assert matched.complete and matched.rows.tolist() == np.flatnonzero(expected).tolist()
    np.testing.assert_allclose(matched.scores, expected[matched.rows], rtol=1e-6)


def test_a_small_budget_scores_the_rare_terms_rows_exactly_and_says_it_is_incomplete() -> None:
    scorer = LexicalIndex.build(PASSAGES).scorer()
    terms = query_terms_of(scorer, QUERY)
    matched = accumulate(scorer, terms, 2)  # 40 postings: the common terms only continue
    expected = scorer.scores(QUERY)
    assert not matched.complete
    assert len(matched.rows) < np.count_nonzero(expected)  # rows with common terms only are not visited
    np.testing.assert_allclose(matched.scores, expected[matched.rows], rtol=1e-6)  # but listed rows are exact
    assert matched.rows[np.argmax(matched.scores)] == int(np.argmax(expected)) == 77
    np.testing.assert_allclose(exact_scores(scorer, terms, np.arange(200)), expected, rtol=1e-6)


def test_segments_score_as_one_collection() -> None:
    whole = LexicalIndex.build(PASSAGES).scorer()
    parts = LexicalIndex.build(PASSAGES[:120]), LexicalIndex.build(PASSAGES[120:])
    joined = type(whole).of(parts)
    np.testing.assert_array_equal(joined.scores(QUERY), whole.scores(QUERY))
    a = accumulate(joined, query_terms_of(joined, QUERY), None)
    b = accumulate(whole, query_terms_of(whole, QUERY), None)
    assert a.rows.tolist() == b.rows.tolist()
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12)


def test_a_field_whose_terms_are_all_common_still_adds_to_the_rows_found() -> None:
    # "hồ" is rare; folded, it is "ho", which every "họ" and "hộ" also is: that field has only common terms.
    passages = [f"Họ và hộ số {n}." for n in range(100)] + ["Hồ Tây."]
    scorer = LexicalIndex.build(passages).scorer()
    query = query_terms("hồ")
    matched = accumulate(scorer, query_terms_of(scorer, query), 1)
    assert not matched.complete and matched.rows.tolist() == [100]
    np.testing.assert_allclose(matched.scores, scorer.scores(query)[[100]], rtol=1e-6)
