"""CPU work off the event loop: a bounded pool of search threads, and admission control.

A search is CPU work (BM25, fusion) around a wait for the embedding workers. It runs on
a pool sized to the cores, never on the event loop; beyond `max_pending` searches
admitted at once, new ones are refused with 503 and Retry-After at once, so latency
stays bounded instead of growing with the queue.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from corpus.errors import Overloaded

T = TypeVar("T")


class SearchPool:
    """Runs searches on `threads` threads, admitting at most `max_pending` at once."""

    def __init__(self, threads: int, max_pending: int) -> None:
        self.threads = threads
        self.max_pending = max_pending
        self.pending = 0  # admitted and not yet answered; only the event loop touches it
        self.refused = 0
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="viqa-search")

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Return `work(*args)` computed on a pool thread, or raise Overloaded when the pool is full."""
        if self.pending >= self.max_pending:
            self.refused += 1
            raise Overloaded(
                f"{self.pending} searches are already waiting or running (VIQA_MAX_PENDING={self.max_pending}); "
                "retry in a second"
            )
        self.pending += 1
        try:
            # in the request's context, so its log lines carry its request id
            call = functools.partial(contextvars.copy_context().run, work, *args)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            self.pending -= 1

    def close(self) -> None:
        """Finish the searches admitted, then stop the threads."""
        self._executor.shutdown(wait=True)
