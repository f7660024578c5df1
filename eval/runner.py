"""Run the question set against a search backend (in-process or a server over HTTP)."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from eval.metrics import METRICS, Passage, calibrate, judge, score
from eval.questions import CATEGORIES, Question, find_occurrences
from index.live import LiveIndex
from index.search import SearchConfig

DEPTH = 10  # passages asked per question; the deepest metric is @10


@dataclass(frozen=True)
class Answer:
    """What a backend returned for one question."""

    passages: list[Passage]
    answerable: bool | None  # None when the backend does not say
    confidence: float | None
    seconds: float


Backend = Callable[[str, int], Answer]


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    relevant: list[bool]  # per returned passage: earns a new answer occurrence
    answerable: bool | None
    confidence: float | None
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)  # empty for unanswerable questions


@dataclass(frozen=True)
class SuiteResult:
    """One configuration's scores: per category and overall, no-answer rates, latency."""

    name: str
    results: list[QuestionResult]
    summary: dict[str, dict[str, float]]  # category (and "overall") -> metric -> mean
    counts: dict[str, int]
    no_answer: dict[str, float]  # flag rates as served, and the best threshold ("calibrated_*")
    latency_ms: dict[str, float]


def local_backend(live: LiveIndex, config: SearchConfig) -> Backend:
    """Return a backend that searches `live` in this process."""

    def ask(query: str, top_k: int) -> Answer:
        started = time.perf_counter()
        outcome = live.search(query, top_k, config)
        seconds = time.perf_counter() - started
        passages = [Passage(h.chunk.doc_id, h.chunk.start, h.chunk.end, h.chunk.text) for h in outcome.hits]
        return Answer(passages, outcome.answerable, outcome.confidence, seconds)

    return ask


def http_backend(client: httpx.Client) -> tuple[Backend, dict[str, str]]:
    """Return a backend posting to a running server, and the server's document texts."""
    listing = client.get("/documents")
    listing.raise_for_status()
    documents = {
        d["doc_id"]: client.get(f"/documents/{d['doc_id']}").json()["text"] for d in listing.json()["documents"]
    }

    def ask(query: str, top_k: int) -> Answer:
        started = time.perf_counter()
        response = client.post("/search", json={"query": query, "top_k": top_k})
        seconds = time.perf_counter() - started
        response.raise_for_status()
        body = response.json()
        passages = [
            Passage(r["citation"]["doc_id"], r["citation"]["char_start"], r["citation"]["char_end"], r["text"])
            for r in body["results"]
        ]
        return Answer(passages, body.get("answerable"), body.get("confidence"), seconds)

    return ask, documents


def run_suite(name: str, questions: list[Question], backend: Backend, documents: dict[str, str]) -> SuiteResult:
    """Ask every question, judge the passages by answer strings, and score with ranx."""
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    results = []
    for question in questions:
        answer = backend(question.question, DEPTH)
        keys: list[str | None] = []
        if question.answerable:
            occurrences = find_occurrences(question, documents)
            keys = judge(question, answer.passages, occurrences)
            qrels[question.id] = {o.key: 1 for o in occurrences} | {k: 1 for k in keys if k}
            # Scores fall with rank so ranx ranks exactly as the backend did.
            run[question.id] = {k or f"miss{rank}": 1.0 / rank for rank, k in enumerate(keys, start=1)}
            run[question.id] = run[question.id] or {"nothing": 0.0}
        relevant = [k is not None for k in keys]
        results.append(QuestionResult(question, relevant, answer.answerable, answer.confidence, answer.seconds))
    per_metric = score(qrels, run) if qrels else {}
    results = [
        dataclasses.replace(r, metrics={m: per_metric[m][r.question.id] for m in METRICS})
        if r.question.answerable
        else r
        for r in results
    ]
    return _summarise(name, results)


def _summarise(name: str, results: list[QuestionResult]) -> SuiteResult:
    answerable = [r for r in results if r.question.answerable]
    groups = {"overall": answerable} | {
        c: [r for r in answerable if r.question.category == c] for c in CATEGORIES if c != "unanswerable"
    }
    groups = {k: v for k, v in groups.items() if v}
    summary = {k: {m: statistics.fmean(r.metrics[m] for r in v) for m in METRICS} for k, v in groups.items()}
    unanswerable = [r for r in results if not r.question.answerable]
    no_answer = {
        "unanswerable_flagged": _rate(unanswerable, lambda r: r.answerable is False),
        "answerable_flagged": _rate(answerable, lambda r: r.answerable is False),
    }
    if all(r.confidence is not None for r in results):
        best = calibrate([r.confidence or 0.0 for r in answerable], [r.confidence or 0.0 for r in unanswerable])
        no_answer |= {f"calibrated_{k}": v for k, v in dataclasses.asdict(best).items()}
    times = sorted(r.seconds * 1000 for r in results)
    latency = {"p50": _percentile(times, 0.50), "p95": _percentile(times, 0.95)} if times else {}
    counts = {k: len(v) for k, v in groups.items()} | {"unanswerable": len(unanswerable)}
    return SuiteResult(name, results, summary, counts, no_answer, latency)


def _rate(results: list[QuestionResult], predicate: Callable[[QuestionResult], bool]) -> float:
    return sum(map(predicate, results)) / len(results) if results else float("nan")


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]
