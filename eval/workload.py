"""The questions both benchmarks send.

A question file, or by default the eval questions mixed with query-length windows of the
documents' sentences, each with and without diacritics, distinct and shuffled.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from corpus.chunk import split_sentences
from corpus.errors import CorpusError
from corpus.normalize import fold_diacritics
from eval.questions import DEFAULT_QUESTIONS

QUERY_WORDS = 12  # a query-like length for windows of the documents' sentences
SEED = 20240116


def load_question_texts(path: Path = DEFAULT_QUESTIONS) -> list[str]:
    """Return the distinct questions of a JSONL file (a "question" field per line) or a text file (one per line)."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if text.startswith("{"):
            try:
                text = str(json.loads(text)["question"]).strip()
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CorpusError(f'{path}:{number}: not a JSON object with a "question" ({exc})') from None
        if text:
            questions.append(text)
    if not questions:
        raise CorpusError(f"{path} holds no questions")
    # A repeated question would be served from a query cache and flatter the numbers.
    return list(dict.fromkeys(questions))


def document_queries(text: str, words: int = QUERY_WORDS) -> list[str]:
    """Return query-length windows of each sentence of `text` with at least three words.

    A sentence gives its opening `words` words, and when it is longer its closing ones
    and its middle ones too: more distinct queries, so a long run repeats none.
    """
    queries: list[str] = []
    # Lines are paragraphs or headings; sentences never cross them (as in the chunker).
    for line in text.split("\n"):
        for start, end in split_sentences(line):
            tokens = line[start:end].split()
            if len(tokens) < 3:
                continue
            middle = max(0, len(tokens) // 2 - words // 2)
            windows = (tokens[:words], tokens[-words:], tokens[middle : middle + words])
            queries.extend(dict.fromkeys(" ".join(window) for window in windows))
    return queries


def mix_questions(questions: Sequence[str], documents: Sequence[str], seed: int = SEED) -> list[str]:
    """Return the questions and the documents' sentence openings, with and without diacritics, distinct, shuffled."""
    texts = [*questions, *(q for text in documents for q in document_queries(text))]
    mixed = list(dict.fromkeys(t for text in texts for t in (text, fold_diacritics(text))))
    random.Random(seed).shuffle(mixed)
    return mixed
