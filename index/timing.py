"""Where a search's time goes: a candidate stage that clocks every call made to it.

One search wraps the served stage in a `TimedStage` with its own clock, so the time
spent in the engine (FAISS and BM25 postings, or Milvus) is told apart from the time
of the shared scoring around it, without either knowing it is measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from index.candidates import CandidateStage, TermMatch
from index.dense import EF_SEARCH
from index.lexical import QueryTerms
from index.ranking import Ranking

T = TypeVar("T")


@dataclass
class Clock:
    """Seconds during which some call to the candidate stage was running, so far.

    A search may call the stage from two threads at once (`index/cores.py`): overlapping
    calls count once, so the stage's time never exceeds the search's.
    """

    seconds: float = 0.0
    _running: int = 0
    _since: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            if not self._running:
                self._since = time.perf_counter()
            self._running += 1
        try:
            return call(*args, **kwargs)
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self.seconds += time.perf_counter() - self._since


@dataclass(frozen=True)
class TimedStage:
    """`stage`, with the time of every call added to `clock`."""

    stage: CandidateStage
    clock: Clock = field(default_factory=Clock)

    @property
    def size(self) -> int:
        return self.stage.size

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = EF_SEARCH) -> Ranking:
        return self.clock.timed(self.stage.dense_top, vector, n, ef_search)

    def dense_ranks(self, vector: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        return self.clock.timed(self.stage.dense_ranks, vector, similarity)

    def match(
        self, query: QueryTerms, wanted: int | None = None, *, passages: bool = True, sentences: bool = True
    ) -> TermMatch:
        match = self.clock.timed(self.stage.match, query, wanted, passages=passages, sentences=sentences)
        return _TimedMatch(match, self.clock)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.clock.timed(self.stage.vectors, rows)


@dataclass(frozen=True)
class _TimedMatch:
    match: TermMatch
    clock: Clock

    def passages_top(self, n: int | None = None) -> Ranking:
        return self.clock.timed(self.match.passages_top, n)

    def sentences_top(self, n: int | None = None) -> Ranking:
        return self.clock.timed(self.match.sentences_top, n)

    def best_sentences(self, rows: list[int]) -> list[tuple[int, int] | None]:
        return self.clock.timed(self.match.best_sentences, rows)

    def scores_of(self, rows: np.ndarray, *, sentences: bool) -> np.ndarray | None:
        return self.clock.timed(lambda: self.match.scores_of(rows, sentences=sentences))
