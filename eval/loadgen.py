"""A bounded closed-loop HTTP load generator for a `viqa serve` on this machine.

Each of C workers holds one keep-alive connection, POSTs /search, waits for the answer
and sends the next question, for a warm-up (not counted) and then a fixed duration.
Questions come from one shared cursor and repeat only when every one has been sent,
so a server-side query cache is not flattered.
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
from eval.bench import LatencySummary, latency_json, load_question_texts, machine_facts, mix_questions, summarize
from eval.questions import DEFAULT_QUESTIONS

REQUEST_TIMEOUT = 60.0
ERROR_BACKOFF = 0.05  # after a transport error, so a dead server does not turn the client into a busy loop


@dataclass(frozen=True)
class Target:
    """Where the server listens: a loopback host, its port and the URL's path prefix."""

    host: str
    port: int
    prefix: str

    @property
    def netloc(self) -> str:
        """Return "host:port" as a Host header spells it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}{self.prefix}"


@dataclass(frozen=True)
class ProcessMemory:
    """Resident memory of a process now (VmRSS) and at its peak (VmHWM), in KiB."""

    rss_kib: int
    hwm_kib: int


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


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON; reopened after an error or `Connection: close`.

    Raw asyncio streams rather than httpx.AsyncClient: on the 2-core machine this shares
    with the server, httpx spent about 2.3 ms of CPU per request, http.client in threads
    about 0.25 ms and these few lines about 0.12 ms (uvicorn + h11, 5 KB answers).
    """

    def __init__(self, target: Target) -> None:
        self._target = target
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Send `body` as JSON to `path`; return the status and the response body."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._target.host, self._target.port)
        reader, writer = self._streams
        head = (
            f"POST {self._target.prefix}{path} HTTP/1.1\r\nHost: {self._target.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        await writer.drain()
        status, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        payload, reusable = await _read_body(reader, headers)
        if not reusable or headers.get("connection", "").lower() == "close":
            self.close()
        return status, payload

    def close(self) -> None:
        """Close the connection; the next `post` opens a new one."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> tuple[bytes, bool]:
    """Return the body and whether the connection can carry another request."""
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"])), True
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append((await reader.readexactly(size + 2))[:-2])
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        return b"".join(chunks), True
    return await reader.read(), False  # the body ends where the server closes


def find_listening_pid(port: int) -> int | None:
    """Return the pid of the process on this machine listening on TCP `port`, or None if none can be seen."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in sorted(Path("/proc").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1):
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if fd.readlink().as_posix() in wanted:
                    return int(proc.name)
        except OSError:  # another user's process, or one that just exited
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def read_memory(pid: int) -> ProcessMemory | None:
    """Return VmRSS and VmHWM of `pid`, or None when the process is gone or unreadable."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = {k: v.split()[0] for k, _, v in (line.partition(":") for line in lines) if k in ("VmRSS", "VmHWM")}
    if len(values) < 2:
        return None
    return ProcessMemory(int(values["VmRSS"]), int(values["VmHWM"]))


def http_record(bench: HttpBench) -> dict[str, Any]:
    """Return the JSON report of a `bench http` run."""
    return {
        "kind": "http",
        "machine": machine_facts(),
        "url": bench.url,
        "health": bench.health,
        "server_pid": bench.server_pid,
        "top_k": bench.top_k,
        "duration_s": bench.duration,
        "warmup_s": bench.warmup,
        "questions_available": bench.questions,
        "legs": [_leg_json(leg) for leg in bench.legs],
    }


def _leg_json(leg: HttpLeg) -> dict[str, Any]:
    before, after = leg.server_before, leg.server_after
    return {
        "clients": leg.clients,
        "requests": leg.requests,
        "ok": leg.ok,
        "seconds": round(leg.seconds, 3),
        "qps": round(leg.qps, 2),
        **{k: v for k, v in latency_json(leg.latency).items() if k != "count"},
        "errors": leg.errors,
        "status_503": leg.status_503,
        "first_error": leg.first_error,
        "distinct_questions": leg.distinct_questions,
        "repeated_questions": leg.repeated_questions,
        "client_cpu_s": round(leg.client_cpu_s, 3),
        "client_cpu_share": round(leg.client_cpu_s / leg.seconds, 3) if leg.seconds > 0 else None,
        "server_rss_before_kib": before.rss_kib if before else None,
        "server_rss_after_kib": after.rss_kib if after else None,
        "server_hwm_kib": after.hwm_kib if after else None,
    }


def format_http_table(bench: HttpBench) -> str:
    """Return one Markdown row per leg: throughput, latency, failures, questions, client CPU, server memory."""
    lines = [
        "| clients | requests | qps | mean ms | p50 ms | p95 ms | p99 ms | max ms | errors | 503 "
        "| distinct q | repeats | client cpu s | server rss MiB (before / after / peak) |",
        "|" + "---|" * 14,
    ]
    for leg in bench.legs:
        row = _leg_json(leg)
        latency = " | ".join(_ms(row[k]) for k in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"))
        memory = " / ".join(_mib(row[k]) for k in ("server_rss_before_kib", "server_rss_after_kib", "server_hwm_kib"))
        lines.append(
            f"| {leg.clients} | {leg.requests} | {leg.qps:.1f} | {latency} | {leg.errors} | {leg.status_503} "
            f"| {leg.distinct_questions} | {leg.repeated_questions} | {leg.client_cpu_s:.2f} | {memory} |"
        )
    if any(leg.first_error for leg in bench.legs):
        lines += [
            "",
            *(f"first error at {leg.clients} clients: {leg.first_error}" for leg in bench.legs if leg.first_error),
        ]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f}"
