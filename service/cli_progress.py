"""Progress of long work where no terminal shows a bar: a plain line now and then, for logs."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass
class ProgressLines:
    """Progress of a long embedding as plain lines (done, rate, time left), at most one per `every` seconds."""

    every: float = 10.0
    started: float = field(default_factory=time.monotonic)
    last: float = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        left = (total - done) / rate if rate > 0 else float("inf")
        print(f"viqa: embedded {done}/{total} chunks, {rate:.1f} chunks/s, about {left:.0f} s left", file=sys.stderr)
