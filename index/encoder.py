"""Queries to vectors under load: embedding workers that own the model, and a cache.

A short question barely uses two OpenMP threads, so under load one inference per
core, each on one thread, answers more questions per second than queueing them for
the whole machine (`../shared/notes/embedding-throughput.md`: 50 against 31 a second
on 2 cores). A question alone still gets every core, for its latency. Micro-batching
(requests that arrive within a few milliseconds share one call) is the alternative,
chosen with `max_batch` > 1.

Request threads never call the model: they submit text and wait on a future, so a
failing inference reaches only the request that asked for it.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from index.embed import Embedder


@dataclass(frozen=True)
class EncoderSettings:
    """How queries are embedded; the defaults are the best measured on 2 cores (`viqa bench`)."""

    workers: int = 0  # inferences at once (0: one per core)
    threads: int = 1  # OpenMP threads of an inference while others are running or waiting
    max_batch: int = 1  # >1: requests waiting together share one call of up to this many
    batch_wait_ms: float = 2.0  # how long a batch waits for company
    cache_size: int = 1024  # query vectors kept (0: no cache)


@dataclass(frozen=True)
class EncoderStats:
    """Counters since start: cache use, inferences and the texts they carried."""

    cache_hits: int
    cache_misses: int
    inferences: int  # calls of the model
    embedded: int  # texts embedded by those calls
    failures: int  # calls that raised
    queued: int  # texts waiting for a worker now


def cache_key(text: str) -> str:
    """Return the text as the model receives it: NFC, whitespace collapsed.

    The key is exactly the model's input, so a cached vector is the vector the model
    would give; two texts share an entry only when they embed identically.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def cores() -> int:
    """Return the number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class QueryEncoder:
    """Embeds queries on a pool of worker threads, through an LRU cache of query vectors."""

    def __init__(self, embedder: Embedder, settings: EncoderSettings | None = None) -> None:
        self.embedder = embedder
        self.settings = settings or EncoderSettings()
        self._cores = cores()
        self._cache = _LRU(self.settings.cache_size)
        self._jobs: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Workers waiting for a job, the last to finish on top: it takes the next one, so a
        # question alone runs on the OpenMP threads that just ran, still awake, while the
        # threads of a worker idle longer have gone to sleep and stay out of the way.
        self._idle: list[int] = []
        self._busy = 0
        self._stopping = False
        self._counts = {"inferences": 0, "embedded": 0, "failures": 0}
        self._workers: list[threading.Thread] = []  # started by the first query that needs the model
        self.on_batch: Callable[[int], None] | None = None  # told the size of each model call (metrics)

    def submit(self, text: str) -> Future[np.ndarray]:
        """Return a future of the query vector of `text` (done at once on a cache hit)."""
        key = cache_key(text)
        future: Future[np.ndarray] = Future()
        cached = self._cache.get(key)
        if cached is not None:
            future.set_result(cached)
            return future
        self._start()
        with self._changed:
            self._jobs.append(_Job(key, future))
            self._changed.notify_all()
        return future

    def embed(self, text: str) -> np.ndarray:
        """Return the L2-normalised query vector of `text`, shape (dim,), read-only."""
        return self.submit(text).result()

    def stats(self) -> EncoderStats:
        """Return the counters since start."""
        with self._lock:
            return EncoderStats(self._cache.hits, self._cache.misses, queued=len(self._jobs), **self._counts)

    def close(self) -> None:
        """Stop the workers once the texts already submitted are embedded."""
        with self._changed:
            workers, self._workers = self._workers, []
            self._stopping = True
            self._changed.notify_all()
        for worker in workers:
            worker.join(timeout=30)
        with self._lock:
            self._stopping = False

    def _start(self) -> None:
        with self._lock:
            if self._workers:
                return
            self._workers = [
                threading.Thread(target=self._work, args=(i,), name=f"viqa-embed-{i}", daemon=True)
                for i in range(self.settings.workers or self._cores)
            ]
            for worker in self._workers:
                worker.start()

    def _work(self, me: int) -> None:
        while batch := self._take(me):
            outcomes: list[tuple[Future[np.ndarray], np.ndarray | BaseException]] = []
            try:
                self._run(batch, outcomes)
            finally:
                with self._lock:
                    self._busy -= 1
            # Answered only once this worker counts as idle, so a question sent the moment the
            # answer arrives finds it so (and is given every core if it is alone).
            for future, outcome in outcomes:
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _take(self, me: int) -> list[_Job]:
        """Wait until this worker is the one to take the next job; return its batch (empty: stop)."""
        with self._changed:
            self._idle.append(me)
            while not (self._jobs and self._idle[-1] == me) and not (self._stopping and not self._jobs):
                self._changed.wait()
            self._idle.remove(me)
            if not self._jobs:
                return []
            batch = [self._jobs.popleft()]
            deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
            while len(batch) < self.settings.max_batch:
                if not self._jobs and not self._changed.wait(max(deadline - time.monotonic(), 0)):
                    break
                if self._jobs:
                    batch.append(self._jobs.popleft())
            alone = self._busy == 0 and not self._jobs
            self._busy += 1
            if self._jobs:
                self._changed.notify_all()  # the next idle worker takes what is left
        # A per-thread setting: this worker's inference, no other thread's.
        self.embedder.set_threads(self._cores if alone else self.settings.threads)
        return batch

    def _run(self, batch: list[_Job], outcomes: list[tuple[Future[np.ndarray], np.ndarray | BaseException]]) -> None:
        """Embed the batch; append each job's vector or error to `outcomes`."""
        try:
            vectors = self._infer([job.key for job in batch])
        except Exception as exc:
            if len(batch) == 1:
                outcomes.append((batch[0].future, exc))
                return
            for job in batch:  # find the one that fails; the others still get their vector
                self._run([job], outcomes)
            return
        for job, vector in zip(batch, vectors):
            vector.flags.writeable = False  # shared by every request that hits the cache
            self._cache.put(job.key, vector)
            outcomes.append((job.future, vector))

    def _infer(self, texts: list[str]) -> np.ndarray:
        if self.on_batch is not None:
            self.on_batch(len(texts))
        try:
            vectors = np.array(self.embedder.embed_queries(texts), dtype=np.float32)
        except Exception:
            self._count("failures", 1)
            raise
        self._count("embedded", len(texts))
        return vectors

    def _count(self, outcome: str, texts: int) -> None:
        with self._lock:
            self._counts["inferences"] += 1
            self._counts[outcome] += texts


@dataclass(frozen=True)
class _Job:
    key: str
    future: Future[np.ndarray]


class _LRU:
    """A thread-safe least-recently-used map of query vectors, with hit and miss counts."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        if not self.size:
            return
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
