"""The in-process query benchmark, `viqa bench query`.

It times the bare query embedding, the full search, and the embedding workers' throughput
under load here. The HTTP load generator (`viqa bench http`, `eval/loadgen.py`) sends the
same questions (`eval/workload.py`) and reports the same way (`eval/bench_report.py`), so
the two benches time the same questions.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from corpus.errors import InvalidQuery
from eval.bench_report import LatencySummary, latency_json, machine_facts, summarize
from index.encoder import QueryEncoder, cores
from index.live import LiveIndex

WARMUP_QUERIES = 5  # first calls load lazy state (ONNX session, BM25 caches) and are not timed


@dataclass(frozen=True)
class StepTiming:
    """One timed step of `bench query`: its latencies and sequential throughput."""

    latency: LatencySummary
    per_second: float


@dataclass(frozen=True)
class QueryBench:
    """What `bench query` measured over the same questions."""

    embedder: str
    index_version: str
    top_k: int
    embedding: StepTiming  # bare model calls, one at a time, every core
    search: StepTiming  # full searches, one at a time
    workers: int  # embedding workers (one inference per core, one thread each under load)
    workers_per_second: float  # their throughput with every worker busy: the ceiling of searches under load

    @property
    def search_over_embedding(self) -> float:
        """Return full-search p50 over bare-embedding p50: what search adds to the model call."""
        return self.search.latency.p50_ms / self.embedding.latency.p50_ms

    @property
    def load_over_single(self) -> float:
        """Return the workers' throughput over one-at-a-time searches: the most concurrency can gain."""
        return self.workers_per_second / self.search.per_second


def embed_bare(live: LiveIndex, question: str) -> None:
    """Embed one question with the served model itself, past the query encoder's cache and workers."""
    live.encoder.embedder.embed_queries([question])


def search_full(live: LiveIndex, question: str, top_k: int) -> None:
    """Run one full search (embedding, BM25, fusion, feedback, highlights) as the API does."""
    live.search(question, top_k)


def time_calls(call: Callable[[str], object], questions: Sequence[str]) -> StepTiming:
    """Call `call` on each question in turn; return the latencies and questions per second."""
    latencies = []
    started = time.perf_counter()
    for question in questions:
        before = time.perf_counter()
        call(question)
        latencies.append((time.perf_counter() - before) * 1000)
    elapsed = time.perf_counter() - started
    return StepTiming(summarize(latencies), len(latencies) / elapsed)


def run_query_bench(
    live: LiveIndex, questions: Sequence[str], limit: int | None = None, top_k: int = 5, warmup: int = WARMUP_QUERIES
) -> QueryBench:
    """Time bare embedding, then full search, over the first `limit` questions (all by default)."""
    if limit is not None and limit < 1:
        raise InvalidQuery(f"-n {limit}: give at least 1 question")
    chosen = list(questions[:limit])
    if not chosen:
        raise InvalidQuery("no questions to time")
    # Warm-up texts are none of the timed questions, so a query cache never sees one early.
    warm = [f"câu hỏi khởi động số {i}" for i in range(warmup)]
    for text in warm:
        embed_bare(live, text)
        search_full(live, text, top_k)
    embedding = time_calls(lambda q: embed_bare(live, q), chosen)
    search = time_calls(lambda q: search_full(live, q, top_k), chosen)
    workers, per_second = time_workers(live, chosen)
    return QueryBench(
        live.version.manifest.embedder, live.version.version, top_k, embedding, search, workers, per_second
    )


def time_workers(live: LiveIndex, questions: Sequence[str]) -> tuple[int, float]:
    """Return the embedding workers and their questions per second with twice as many requests waiting.

    A fresh encoder with the served settings but no cache, so every question reaches the model.
    """
    settings = dataclasses.replace(live.encoder.settings, cache_size=0)
    encoder = QueryEncoder(live.encoder.embedder, settings)
    workers = settings.workers or cores()
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(2 * workers) as requests:
            list(requests.map(encoder.embed, questions))
        return workers, len(questions) / (time.perf_counter() - started)
    finally:
        encoder.close()


def query_record(bench: QueryBench, questions: str) -> dict[str, Any]:
    """Return the JSON report of a `bench query` run."""
    return {
        "kind": "query",
        "machine": machine_facts(),
        "embedder": bench.embedder,
        "index_version": bench.index_version,
        "questions": questions,
        "top_k": bench.top_k,
        "warmup_queries": WARMUP_QUERIES,
        "embedding": latency_json(bench.embedding.latency) | {"per_second": round(bench.embedding.per_second, 2)},
        "search": latency_json(bench.search.latency) | {"per_second": round(bench.search.per_second, 2)},
        "search_over_embedding_p50": round(bench.search_over_embedding, 2),
        "embedding_workers": bench.workers,
        "workers_per_second": round(bench.workers_per_second, 2),
        "workers_over_single_search": round(bench.load_over_single, 2),
    }


def format_query_table(bench: QueryBench) -> str:
    """Return the `bench query` result as a Markdown table and the p50 ratio."""
    lines = [
        "| step | n | mean ms | p50 ms | p95 ms | p99 ms | max ms | questions/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, step in (("bare embedding", bench.embedding), ("full search", bench.search)):
        s = step.latency
        lines.append(
            f"| {name} | {s.count} | {s.mean_ms:.1f} | {s.p50_ms:.1f} | {s.p95_ms:.1f} | {s.p99_ms:.1f} "
            f"| {s.max_ms:.1f} | {step.per_second:.1f} |"
        )
    lines += [
        "",
        f"full search p50 / bare embedding p50: {bench.search_over_embedding:.2f}",
        f"{bench.workers} embedding workers, all busy: {bench.workers_per_second:.1f} questions/s, "
        f"{bench.load_over_single:.2f} x one-at-a-time searches (the most concurrent clients can gain)",
    ]
    return "\n".join(lines)
