from __future__ import annotations

from collections import Counter

from corpus import DEFAULT_CORPUS_DIR
from corpus.documents import load_corpus
from corpus.normalize import has_diacritics, match_key
from eval.questions import CATEGORIES, load_questions, unmatched_answers


def test_the_question_set_covers_every_category() -> None:
    questions = load_questions()
    counts = Counter(q.category for q in questions)
    assert len(questions) >= 150
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 15
    assert all(not q.answers and not q.doc_ids for q in questions if q.category == "unanswerable")
    assert all(not has_diacritics(q.question) for q in questions if q.category == "no_diacritics")


def test_every_answer_occurs_in_the_cleaned_corpus_and_in_a_listed_document() -> None:
    documents = {d.doc_id: d.text for d in load_corpus(DEFAULT_CORPUS_DIR)}
    questions = load_questions()
    assert unmatched_answers(questions, documents) == []
    for question in questions:
        for answer in question.answers:
            assert any(match_key(answer) in match_key(documents[doc_id]) for doc_id in question.doc_ids), question.id
