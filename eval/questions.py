"""The hand-built question set and where its answers occur in the documents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import CorpusError
from corpus.normalize import match_key

DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"
CATEGORIES = (
    "dates",
    "figures",
    "names",
    "paraphrase",
    "no_diacritics",
    "both_articles",
    "broad",
    "english",
    "unanswerable",
)


@dataclass(frozen=True)
class Question:
    """One question with the short strings that make a passage an answer."""

    id: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    category: str

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class Occurrence:
    """One place in one document where an answer string occurs (offsets in the match key)."""

    doc_id: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return f"{self.doc_id}@{self.start}"


def load_questions(path: Path = DEFAULT_QUESTIONS) -> list[Question]:
    """Return the questions of a JSONL file, checking ids and categories."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question = Question(
                row["id"], row["question"], tuple(row["answers"]), tuple(row["doc_ids"]), row["category"]
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}:{number}: not a question record ({exc})") from None
        if question.category not in CATEGORIES:
            raise CorpusError(f"{path}:{number}: category {question.category!r} is not one of {CATEGORIES}")
        questions.append(question)
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise CorpusError(f"{path}: question ids are not unique")
    return questions


def find_occurrences(question: Question, documents: dict[str, str]) -> list[Occurrence]:
    """Return every occurrence of the question's answers in the documents' clean texts."""
    found = []
    for doc_id, text in documents.items():
        key = match_key(text)
        for answer in {match_key(a) for a in question.answers}:
            start = key.find(answer)
            while start >= 0:
                found.append(Occurrence(doc_id, start, start + len(answer)))
                start = key.find(answer, start + 1)
    return sorted(set(found), key=lambda o: (o.doc_id, o.start))


def unmatched_answers(questions: list[Question], documents: dict[str, str]) -> list[tuple[str, str]]:
    """Return (question id, answer) pairs whose answer occurs nowhere in the documents."""
    keys = [match_key(text) for text in documents.values()]
    return [(q.id, a) for q in questions for a in q.answers if not any(match_key(a) in k for k in keys)]
