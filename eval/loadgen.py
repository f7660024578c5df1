"""A bounded closed-loop HTTP load generator for a `viqa serve` on this machine.

Each of C workers holds one keep-alive connection, POSTs /search, waits for the answer
and sends the next question, for a warm-up (not counted) and then a fixed duration.
Questions come from one shared cursor and repeat only when every one has been sent,
so a server-side query cache is not flattered.

Its JSON record and Markdown table are in `eval/loadgen_report.py`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from corpus.errors import InvalidQuery
from eval.bench_report import LatencySummary, summarize
from eval.http_client import Connection, Target
from eval.procfs import ProcessMemory, find_listening_pid, read_memory
from eval.questions import DEFAULT_QUESTIONS
from eval.workload import load_question_texts, mix_questions

REQUEST_TIMEOUT = 60.0
ERROR_BACKOFF = 0.05  # after a transport error, so a dead server does not turn the client into a busy loop


@dataclass(frozen=True)
class Sample:
    """One counted request: the question, the HTTP status (None on a transport error), the latency."""

    question: str
    status: int | None
    seconds: float
    repeat: bool  # the question had been sent before in this run
    error: str | None


@dataclass(frozen=True)
class HttpLeg:
    """One concurrency level: what was sent, how fast it came back, what failed, what it cost."""

    clients: int
    requests: int  # counted: sent after the warm-up, whatever the outcome
    ok: int  # 2xx answers
    seconds: float  # from the end of the warm-up until the last counted answer
    latency: LatencySummary | None  # of 2xx answers; None when there was none
    errors: int  # transport errors and non-2xx statuses other than 503
    status_503: int
    first_error: str | None
    distinct_questions: int
    repeated_questions: int
    client_cpu_s: float  # this process's CPU over `seconds`
    server_before: ProcessMemory | None  # read before the warm-up; None when the server's pid is unknown
    server_after: ProcessMemory | None

    @property
    def qps(self) -> float:
        """Return 2xx answers per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class HttpBench:
    """A `bench http` run: the server it measured and one leg per concurrency level."""

    url: str
    health: dict[str, Any] | None
    server_pid: int | None
    top_k: int
    duration: float
    warmup: float
    questions: int  # distinct questions available before any repeats
    legs: list[HttpLeg]


class QuestionCursor:
    """Hands out questions in order from one position shared by all workers; wraps only when all were sent."""

    def __init__(self, questions: Sequence[str]) -> None:
        if not questions:
            raise InvalidQuery("no questions to send")
        self._questions = list(questions)
        self._position = 0

    def take(self) -> tuple[str, bool]:
        """Return the next question and whether it was sent before."""
        question = self._questions[self._position % len(self._questions)]
        repeat = self._position >= len(self._questions)
        self._position += 1
        return question, repeat


def check_loopback(url: str) -> Target:
    """Return where `url` points; refuse any host other than loopback (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname or "", parts.port or 80
    except ValueError:
        raise InvalidQuery(f"--url {url!r} is not a URL like http://127.0.0.1:8000") from None
    if parts.scheme != "http" or not host:
        raise InvalidQuery(f"--url {url!r}: give an http:// URL of a local server, like http://127.0.0.1:8000")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InvalidQuery(
                f"--url {url!r}: bench http only loads servers on loopback (127.0.0.0/8, ::1, localhost)"
            )
    return Target(host, port, parts.path.rstrip("/"))


def parse_clients(value: str) -> list[int]:
    """Return the concurrency levels of "1,8,32"."""
    try:
        levels = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise InvalidQuery(f"-c {value!r}: give positive client counts separated by commas, like 1,8,32")
    return levels


def run_http_bench(
    url: str,
    clients: Sequence[int],
    duration: float = 20.0,
    warmup: float = 2.0,
    top_k: int = 5,
    questions_file: Path | None = None,
) -> HttpBench:
    """Load the server at `url` at each concurrency level in turn; return one leg per level.

    Args:
        questions_file: questions to send (JSONL or one per line); by default the eval
            questions plus sentence openings of the server's documents, with and without diacritics.
    """
    target = check_loopback(url)
    if duration <= 0 or warmup < 0:
        raise InvalidQuery(f"-d {duration} --warmup {warmup}: the duration must be positive, the warm-up not negative")
    with httpx.Client(base_url=target.url, timeout=30) as client:
        answer = client.get("/health")
        is_json = answer.headers.get("content-type", "").startswith("application/json")
        health = answer.json() if answer.is_success and is_json else None
        if questions_file is None:
            questions = mix_questions(load_question_texts(DEFAULT_QUESTIONS), _document_texts(client))
        else:
            questions = load_question_texts(questions_file)
    cursor = QuestionCursor(questions)
    pid = find_listening_pid(target.port)
    legs = [asyncio.run(_run_leg(target, cursor, c, duration, warmup, top_k, pid)) for c in clients]
    return HttpBench(target.url, health, pid, top_k, duration, warmup, len(questions), legs)


def _document_texts(client: httpx.Client) -> list[str]:
    listing = client.get("/documents")
    listing.raise_for_status()
    texts = []
    for document in listing.json()["documents"]:
        detail = client.get(f"/documents/{document['doc_id']}")
        detail.raise_for_status()
        texts.append(str(detail.json()["text"]))
    return texts


async def _run_leg(
    target: Target, cursor: QuestionCursor, clients: int, duration: float, warmup: float, top_k: int, pid: int | None
) -> HttpLeg:
    before = read_memory(pid) if pid else None
    measure_from = time.perf_counter() + warmup
    stop_at = measure_from + duration
    samples: list[Sample] = []
    workers = [
        asyncio.create_task(_work(target, cursor, top_k, measure_from, stop_at, samples)) for _ in range(clients)
    ]
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu_started = time.process_time()
    await asyncio.gather(*workers)
    seconds = time.perf_counter() - measure_from
    client_cpu = time.process_time() - cpu_started
    after = read_memory(pid) if pid else None
    return summarize_leg(clients, samples, seconds, client_cpu, before, after)


async def _work(
    target: Target, cursor: QuestionCursor, top_k: int, measure_from: float, stop_at: float, samples: list[Sample]
) -> None:
    connection = Connection(target)
    try:
        while (sent := time.perf_counter()) < stop_at:
            question, repeat = cursor.take()
            body = json.dumps({"query": question, "top_k": top_k}, ensure_ascii=False).encode()
            status, error = None, None
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    status, payload = await connection.post("/search", body)
                if not 200 <= status < 300 and status != 503:
                    error = f"HTTP {status}: {payload[:200].decode('utf-8', 'replace')}"
            except (OSError, EOFError, asyncio.LimitOverrunError, ValueError) as exc:
                connection.close()
                error = f"{type(exc).__name__}: {exc}"
            if sent >= measure_from:
                samples.append(Sample(question, status, time.perf_counter() - sent, repeat, error))
            if status is None:
                await asyncio.sleep(ERROR_BACKOFF)
    finally:
        connection.close()


def summarize_leg(
    clients: int,
    samples: Sequence[Sample],
    seconds: float,
    client_cpu: float,
    before: ProcessMemory | None = None,
    after: ProcessMemory | None = None,
) -> HttpLeg:
    """Return the leg's counts and the latency of its 2xx answers."""
    answered = [s.seconds * 1000 for s in samples if s.status is not None and 200 <= s.status < 300]
    errors = [s.error for s in samples if s.error is not None]
    return HttpLeg(
        clients=clients,
        requests=len(samples),
        ok=len(answered),
        seconds=seconds,
        latency=summarize(answered) if answered else None,
        errors=len(errors),
        status_503=sum(s.status == 503 for s in samples),
        first_error=errors[0] if errors else None,
        distinct_questions=len({s.question for s in samples}),
        repeated_questions=sum(s.repeat for s in samples),
        client_cpu_s=client_cpu,
        server_before=before,
        server_after=after,
    )
