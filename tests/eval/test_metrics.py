from __future__ import annotations

import pytest

from eval.metrics import Calibration, Passage, calibrate, is_answer, judge, score
from eval.questions import Occurrence, Question, find_occurrences, unmatched_answers

DOCS = {
    "a": "Đảng bộ Khối được thành lập ngày 27-01-1994. Năm 2006 trụ sở chuyển về số 18 Hồ Xuân Hương.",
    "b": "Ngày 27/01/1994 là ngày thành lập Đảng bộ Khối. Đại hội lần thứ nhất họp năm 1996.",
}
FOUNDED = Question("q1", "Thành lập ngày nào?", ("27-01-1994", "27/01/1994"), ("a", "b"), "dates")


def test_answers_match_after_normalisation() -> None:
    question = Question("q", "?", ("cụ thể hoá  Nghị quyết",), (), "names")
    assert is_answer("Đã CỤ THỂ HÓA\nnghị quyết 32", question)
    assert not is_answer("cụ thể nghị quyết", question)


def test_occurrences_are_found_in_every_document() -> None:
    occurrences = find_occurrences(FOUNDED, DOCS)
    found = [(o.doc_id, DOCS[o.doc_id][o.start : o.end]) for o in occurrences]
    assert found == [("a", "27-01-1994"), ("b", "27/01/1994")]
    assert unmatched_answers([FOUNDED, Question("q2", "?", ("1999",), (), "dates")], DOCS) == [("q2", "1999")]


def test_a_passage_earns_an_occurrence_once() -> None:
    occurrences = find_occurrences(FOUNDED, DOCS)
    a = DOCS["a"]
    passages = [
        Passage("a", 0, 45, a[:45]),  # holds the occurrence in a
        Passage("a", 0, 45, a[:45]),  # the same passage again earns nothing
        Passage("a", 46, len(a), a[46:]),  # no answer
        Passage("b", 0, 30, DOCS["b"][:30]),  # the occurrence in b
    ]
    assert judge(FOUNDED, passages, occurrences) == [occurrences[0].key, None, None, occurrences[1].key]


def test_scores_match_hand_computed_values() -> None:
    qrels = {"q1": {"x": 1}, "q2": {"y": 1, "z": 1}}
    run = {"q1": {"x": 1.0, "m1": 0.5}, "q2": {"m1": 1.0, "m2": 0.5, "y": 1 / 3}}
    values = score(qrels, run)
    assert values["hit_rate@1"] == {"q1": 1.0, "q2": 0.0}
    assert values["hit_rate@3"] == {"q1": 1.0, "q2": 1.0}
    assert values["mrr@10"]["q2"] == pytest.approx(1 / 3)
    # q2: one of two relevant at rank 3: DCG = 1/log2(4) = 0.5; IDCG = 1 + 1/log2(3)
    assert values["ndcg@10"]["q2"] == pytest.approx(0.5 / (1 + 1 / 1.5849625), abs=1e-4)
    assert values["ndcg@10"]["q1"] == pytest.approx(1.0)


def test_occurrence_key_names_document_and_offset() -> None:
    assert Occurrence("a", 33, 43).key == "a@33"


def test_calibration_flags_the_most_unanswerable_within_the_false_flag_budget() -> None:
    answerable = [0.9, 0.8, 0.8, 0.7, 0.6, 0.55, 0.5, 0.5, 0.47, 0.3]  # 10: one false flag allowed
    unanswerable = [0.2, 0.4, 0.45, 0.5, 0.6]
    best = calibrate(answerable, unanswerable)
    assert (best.unanswerable_flagged, best.answerable_flagged) == (0.6, 0.1)  # 0.2, 0.4, 0.45; and 0.3
    assert 0.45 < best.min_confidence < 0.47
    strict = calibrate(answerable, unanswerable, max_false=0.0)
    assert (strict.unanswerable_flagged, strict.answerable_flagged) == (0.2, 0.0)
    assert calibrate(answerable, []) == Calibration(0.0, 0.0, 0.0)
