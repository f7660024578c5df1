"""What the CLI says on stderr besides its results: notes, warnings, errors, progress of long work.

On a terminal they are plain lines. Under `viqa serve` the service's log lines go to the
same stderr, JSON by default where no terminal reads it; there these become log lines
too, so a log collector reads one format.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field

from service.logs import configured

_log = logging.getLogger("viqa.cli")


def tell(message: str, level: int = logging.INFO) -> None:
    """Say `message` on stderr: "viqa: <message>", or a log line once the service configured logging."""
    if configured():  # `viqa serve`: one format for every line on stderr
        _log.log(level, message)
        return
    prefix = {logging.WARNING: "warning: ", logging.ERROR: "error: "}.get(level, "")
    print(f"viqa: {prefix}{message}", file=sys.stderr)


@dataclass
class ProgressLines:
    """Progress of a long embedding as lines (done, rate, time left), at most one per `every` seconds."""

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
        tell(f"embedded {done}/{total} chunks, {rate:.1f} chunks/s, about {left:.0f} s left")
