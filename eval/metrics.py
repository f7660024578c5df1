"""Answer-string relevance turned into qrels and runs, scored by ranx.

A retrieved passage is relevant when its text contains an answer string after
normalisation (NFC, canonical tones, casefold, whitespace). The qrels of a question
are the occurrences of its answers in the collection, so scores do not depend on
how documents were chunked; a passage counts for the first occurrence it covers
that no higher-ranked passage covered, so a repeated passage earns nothing twice.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from corpus.normalize import match_key
from eval.questions import Occurrence, Question

METRICS = ("hit_rate@1", "hit_rate@3", "hit_rate@5", "hit_rate@10", "mrr@10", "ndcg@10")
LABELS = {
    "hit_rate@1": "hit@1",
    "hit_rate@3": "hit@3",
    "hit_rate@5": "hit@5",
    "hit_rate@10": "hit@10",
    "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10",
}


@dataclass(frozen=True)
class Passage:
    """A retrieved passage, as the API cites it."""

    doc_id: str
    char_start: int
    char_end: int
    text: str


def is_answer(passage_text: str, question: Question) -> bool:
    """Return True when the passage contains one of the question's answers."""
    key = match_key(passage_text)
    return any(match_key(answer) in key for answer in question.answers)


def judge(question: Question, passages: Sequence[Passage], occurrences: list[Occurrence]) -> list[str | None]:
    """Return, per passage, the key of the answer occurrence it earns (None if none)."""
    claimed: set[str] = set()
    keys: list[str | None] = []
    for rank, passage in enumerate(passages, start=1):
        key = None
        if is_answer(passage.text, question):
            inside = [
                o
                for o in occurrences
                if o.doc_id == passage.doc_id and passage.char_start <= o.start and o.end <= passage.char_end
            ]
            fresh = [o.key for o in inside if o.key not in claimed]
            # Offsets in the match key equal clean-text offsets for Vietnamese; the fallback
            # keeps a passage relevant should some other script make them drift.
            key = fresh[0] if fresh else (None if inside else f"{passage.doc_id}@rank{rank}")
        if key:
            claimed.add(key)
        keys.append(key)
    return keys


@dataclass(frozen=True)
class Calibration:
    """The `min_confidence` that flags the most unanswerable questions within a false-flag budget."""

    min_confidence: float
    unanswerable_flagged: float
    answerable_flagged: float


def calibrate(answerable: Sequence[float], unanswerable: Sequence[float], max_false: float = 0.10) -> Calibration:
    """Return the threshold (flag when confidence < it) with the highest unanswerable recall.

    Only thresholds that flag at most `max_false` of the answerable questions qualify; among
    equal recalls the one with fewer false flags wins. With no unanswerable question, or
    none flaggable, the threshold is 0 (flag nothing).
    """
    best = Calibration(0.0, 0.0, 0.0)
    if not answerable or not unanswerable:
        return best
    for threshold in sorted(set(unanswerable)):
        cut = math.nextafter(threshold, math.inf)  # flags this confidence too
        wrong = sum(c < cut for c in answerable) / len(answerable)
        flagged = sum(c < cut for c in unanswerable) / len(unanswerable)
        if wrong <= max_false and (flagged, -wrong) > (best.unanswerable_flagged, -best.answerable_flagged):
            best = Calibration(cut, flagged, wrong)
    return best


def score(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Return metric -> question id -> value, computed by ranx."""
    from ranx import Qrels, Run, evaluate

    judged = Qrels(qrels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's type-safety chatter
        values = evaluate(judged, Run(run), list(METRICS), return_mean=False, make_comparable=True)
    ids = list(judged.keys())  # ranx's order of the per-question values
    return {metric: dict(zip(ids, map(float, values[metric]))) for metric in METRICS}
