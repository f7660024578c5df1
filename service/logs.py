"""Request ids and log lines: every request gets an id, and every line it causes carries it.

The id comes from the client's `X-Request-ID` when it sends a sane one, else it is made
here; it is returned in the response header and in error bodies. Logs are JSON lines
(`VIQA_LOG_FORMAT=json`, the default when the output is not a terminal) or plain text,
with one line per request: route, status, duration and, for searches, the query's
length. The query itself is logged only with `VIQA_LOG_QUERIES=true`: questions can be
personal.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("log_fields", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # anything else could forge log lines or headers
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
access = logging.getLogger("viqa.access")
_HANDLER = "viqa"


def note(**fields: Any) -> None:
    """Add fields to the current request's log line (from the request's own task)."""
    current = _fields.get()
    if current is not None:
        current.update(fields)


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and the line's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _stamped(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """Return a record factory that stamps each record with the request it was made for."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    make.stamps_request_id = True  # type: ignore[attr-defined]
    return make


if not getattr(logging.getLogRecordFactory(), "stamps_request_id", False):
    logging.setLogRecordFactory(_stamped(logging.getLogRecordFactory()))


def configured() -> bool:
    """Return whether `configure_logging` set up this process's log lines (as `viqa serve` does)."""
    return any(handler.get_name() == _HANDLER for handler in logging.getLogger().handlers)


def configure_logging(log_format: str, level: str = "INFO") -> None:
    """Send every log line to stderr, as JSON lines or plain text ("auto": text on a terminal)."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER)
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line has the request id and the route


class RequestContext:
    """ASGI middleware: the request id, the `X-Request-ID` header, and one log line per request."""

    def __init__(self, app: ASGIApp, observe: Any = None) -> None:
        self.app = app
        self.observe = observe  # called with (route, method, status, seconds) after each request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token, fields_token = request_id.set(rid), _fields.set({})
        status, started, answered = 500, time.perf_counter(), False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, not by Starlette's outermost handler, so the 500 carries the request id too.
            logging.getLogger("viqa.errors").exception("unhandled error on %s %s", scope["method"], scope["path"])
            if answered:
                raise
            body = json.dumps(
                {"error": "internal_error", "detail": "the server failed to answer; see its log", "request_id": rid}
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send_with_id({"type": "http.response.start", "status": 500, "headers": headers})
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # a template, not the raw path
            fields = {"route": route, "method": scope["method"], "status": status, "duration_ms": seconds * 1000}
            access.info("%s %s %s", scope["method"], route, status, extra={**fields, **(_fields.get() or {})})
            if self.observe is not None:
                self.observe(route, scope["method"], status, seconds)
            request_id.reset(token)
            _fields.reset(fields_token)
