"""What one client may cost the service: body size and read time, request rate, failed tokens.

Every bound is a setting (service/settings.py) with a default safe for a public address.
Clients are told apart by their address: behind a proxy, that is the proxy's unless uvicorn
is told to trust its forwarded headers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corpus.errors import TooManyRequests
from service.logs import request_id

_MAX_CLIENTS = 10_000  # buckets kept at once; full (idle) ones are dropped first


@dataclass
class RateLimit:
    """A token bucket per client: `rate` requests a second on average, `burst` at once."""

    what: str  # "searches", "writes": named in the refusal
    rate: float  # 0: no limit
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # client -> (tokens, when)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, client: str, now: float | None = None) -> None:
        """Spend one request of `client`'s allowance, or raise TooManyRequests."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, when = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - when) * self.rate)
            if tokens < 1:
                wait = max(1, round((1 - tokens) / self.rate))
                raise TooManyRequests(f"too many {self.what} from {client}: at most {self.rate:g} a second", wait)
            if len(self._buckets) >= _MAX_CLIENTS:
                self._forget_idle(now)
            self._buckets[client] = (tokens - 1, now)

    def _forget_idle(self, now: float) -> None:
        full = [c for c, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
        for client in full or list(self._buckets)[: _MAX_CLIENTS // 10]:
            del self._buckets[client]


@dataclass
class InFlight:
    """At most `limit` requests of one client at once (0: no limit); one more gets 429."""

    what: str
    limit: int
    _running: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, client: str) -> None:
        """Count a request of `client` in, or raise TooManyRequests."""
        with self._lock:
            running = self._running.get(client, 0)
            if self.limit and running >= self.limit:
                raise TooManyRequests(f"{client} has {running} {self.what} running; the limit is {self.limit}", 1)
            self._running[client] = running + 1

    def leave(self, client: str) -> None:
        """Count a request of `client` out."""
        with self._lock:
            running = self._running.pop(client, 1) - 1
            if running:
                self._running[client] = running


@dataclass
class FailedTokens:
    """Refuses a client every write for `window` seconds once it sent `limit` wrong tokens in that time."""

    limit: int  # 0: no limit
    window: float = 60.0
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, client: str, now: float | None = None) -> None:
        """Raise TooManyRequests while `client` is locked out."""
        if self.limit <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            if len(recent) >= self.limit:
                wait = max(1, round(self.window - (now - recent[0])))
                raise TooManyRequests(f"too many wrong tokens from {client}; writes refused for a while", wait)

    def failed(self, client: str, now: float | None = None) -> None:
        """Count one wrong token from `client`."""
        if self.limit <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) >= _MAX_CLIENTS:
                self._failures = {c: ts for c, ts in self._failures.items() if now - ts[-1] < self.window}
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            self._failures[client] = [*recent, now][-self.limit :]


@dataclass(frozen=True)
class Limits:
    """The per-client limits of one app."""

    searches: InFlight
    writes: RateLimit
    tokens: FailedTokens


def client_of(scope: Scope) -> str:
    """Return the address a request came from."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class BoundedBodies:
    """ASGI middleware: refuses a body over its route's limit (413) or slower than `timeout` (408).

    The limit is checked on Content-Length before anything is read, and again on the bytes
    as they arrive, for a body sent without one.
    """

    def __init__(self, app: ASGIApp, limit_of: Callable[[Scope], int], timeout: float) -> None:
        self.app = app
        self.limit_of = limit_of
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await _refuse(send, 413, "payload_too_large", f"request body over the {limit}-byte limit")
            return
        received = 0
        deadline: float | None = None

        async def bounded() -> Message:
            nonlocal received, deadline
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.timeout
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                detail = f"the request body did not arrive within {self.timeout:g} s"
                raise HTTPException(408, detail, {"Connection": "close"}) from None  # the rest may never come
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body over the {limit}-byte limit")
            return message

        await self.app(scope, bounded, send)


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail, "request_id": request_id.get()}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
