from __future__ import annotations

import time

import numpy as np
import pytest

from index.bm25 import term_hashes
from index.lexical import LexicalIndex, LexicalScorer, canonical_numbers, query_terms, terms
from index.restore import DiacriticRestorer

PASSAGES = [
    "Đảng bộ Khối các cơ quan thành phố được thành lập ngày 27-01-1994.",
    "Trụ sở cơ quan Đảng ủy Khối chuyển về số 18 Hồ Xuân Hương năm 2006.",
    "Đại hội bầu Ban Chấp hành gồm 27 đồng chí, Ban Thường vụ gồm 9 ủy viên.",
]


def test_terms_are_syllables_and_bigrams() -> None:
    assert terms("Thành lập Đảng bộ", folded=False) == [
        "thành",
        "lập",
        "đảng",
        "bộ",
        "thành_lập",
        "lập_đảng",
        "đảng_bộ",
    ]
    assert terms("Thành lập", folded=True) == ["thanh", "lap", "thanh_lap"]
    assert "nào" not in terms("thành lập năm nào", folded=False, query=True)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("ngày 27-01-1994", "ngày 27 1 1994"),
        ("ngày 27 tháng 01 năm 1994", "ngày 27 1 1994"),
        ("Tháng 6/2015", "Tháng 6 2015"),
        ("1.016 đảng viên", "1016 đảng viên"),
        ("nhiệm kỳ 2020- 2025", "nhiệm kỳ 2020 2025"),
        ("Đại hội lần thứ XIII, khóa VI.", "Đại hội lần thứ 13, khóa 6."),
        ("VI PHẠM KỶ LUẬT", "VI PHẠM KỶ LUẬT"),
        ("vi phạm", "vi phạm"),
        ("I. THÀNH LẬP", "I. THÀNH LẬP"),
        ("1994-01-27", "27 1 1994"),
        ("gồm 120 nam 80 nữ", "gồm 120 nam 80 nữ"),
        ("sau 5 năm 2 tháng", "sau 5 năm 2 tháng"),
        ("ngay 3 thang 8 nam 2020", "ngay 3 8 2020"),
    ],
)
def test_numbers_are_written_one_way(written: str, canonical: str) -> None:
    assert canonical_numbers(written) == canonical


def test_a_long_query_of_numerals_is_analysed_in_linear_time() -> None:
    # The neighbour check of each numeral looks at a bounded window, not the whole query:
    # ten times the numerals take about ten times as long (a whole-query check, a hundred).
    def seconds(numerals: int) -> float:
        query = "a" * 500 + "!" + " I" * numerals
        started = time.perf_counter()
        query_terms(query)
        return time.perf_counter() - started

    seconds(100)  # warm
    assert min(seconds(20_000) for _ in range(3)) < 30 * min(seconds(2_000) for _ in range(3))


def test_a_fact_matches_however_its_numbers_are_typed() -> None:
    index = LexicalIndex.build(
        [
            "Đại hội Đảng bộ Khối lần thứ VI họp ngày 03-8-2020.",
            "Đại hội Đảng bộ Khối lần thứ V họp ngày 23-8-2015.",
        ]
    ).scorer()
    assert int(index.scores(query_terms("dai hoi lan thu 6 hop ngay nao")).argmax()) == 0
    assert int(index.scores(query_terms("Đại hội nào họp ngày 3 tháng 8 năm 2020?")).argmax()) == 0


def test_bm25_finds_the_passage_with_or_without_diacritics() -> None:
    index = LexicalIndex.build(PASSAGES).scorer()
    assert int(index.scores(query_terms("Trụ sở chuyển về đâu?")).argmax()) == 1
    assert int(index.scores(query_terms("tru so chuyen ve dau")).argmax()) == 1
    assert int(index.scores(query_terms("dang bo khoi thanh lap nam nao")).argmax()) == 0


def test_restorer_uses_the_corpus_vocabulary_in_context() -> None:
    restorer = DiacriticRestorer.build(PASSAGES)
    assert restorer.restore("dang bo khoi thanh lap nam nao") == "đảng bộ khối thành lập năm nào"
    assert restorer.restore("ban chap hanh gom bao nhieu dong chi") == "ban chấp hành gồm bao nhiêu đồng chí"


def test_restorer_leaves_accented_and_foreign_queries_alone() -> None:
    restorer = DiacriticRestorer.build(PASSAGES)
    assert restorer.restore("Đảng bộ thành lập năm nào?") is None
    assert restorer.restore("When was the party committee founded?") is None


@pytest.mark.parametrize("query", ["???", "", "😀", "nào"])
def test_queries_without_terms_score_nothing(query: str) -> None:
    assert not LexicalIndex.build(PASSAGES).scorer().scores(query_terms(query)).any()


def test_holds_finds_a_live_row_with_every_term_in_any_segment() -> None:
    # Three segments; "hiếm" and "chung" share rows only far into the second (beyond a first block).
    segments = [
        ["chung một", "hiếm hai"] * 700,
        ["chung ba"] * 1500 + ["chung hiếm"] * 2 + ["hiếm"] * 1500,
        ["bốn"] * 10,
    ]
    scorer = LexicalScorer.of([LexicalIndex.build(texts) for texts in segments])
    shared = np.array([1400 + 1500, 1400 + 1501], dtype=np.int64)  # the two rows holding both
    terms = term_hashes(["chung", "hiếm"])

    def brute(excluded: np.ndarray) -> bool:
        texts = [t for s in segments for t in s]
        return any("chung" in t and "hiếm" in t and r not in excluded for r, t in enumerate(texts))

    for excluded in (np.zeros(0, dtype=np.int64), shared[:1], shared):
        assert scorer.holds(terms, folded=False, excluded=excluded) == brute(excluded)
    assert scorer.holds(term_hashes(["chung_hiếm"]), folded=False, excluded=shared[1:])
    assert scorer.holds(term_hashes(["chung", "hiem"]), folded=True, excluded=np.zeros(0, dtype=np.int64))
    assert not scorer.holds(term_hashes(["bốn", "hiếm"]), folded=False, excluded=np.zeros(0, dtype=np.int64))
    assert not scorer.holds(term_hashes(["không có"]), folded=False, excluded=np.zeros(0, dtype=np.int64))
