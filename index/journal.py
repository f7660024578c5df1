"""The write-ahead journal of document changes, and what a retried write gets back.

A change to a document touches two directories, the corpus and the index, in several
steps. Before the first of them the writer records its intent, with the document's new
content and its old one, in `<index_dir>/journal/pending.json`; after the index version
that holds the change is published it records the result under the request's
idempotency key and removes the intent. A crash in between leaves the intent behind, and
the next writer rolls it forward (or back, if it can no longer be applied): the corpus
and the published version never disagree for longer than a restart.

    <index_dir>/journal/pending.json        the change in progress, if any (one writer at a time)
    <index_dir>/journal/done/<sha256>.json  the result of a finished write, by idempotency key
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from corpus.documents import fsync
from corpus.errors import IdempotencyConflict

JOURNAL = "journal"
CRASH_AT = "VIQA_CRASH_AT"  # tests only: the write-path step at which the process kills itself
KEEP_RESULTS_S = 24 * 3600  # a client retrying a lost answer does so within a day

Operation = Literal["add", "replace", "remove"]


@dataclass(frozen=True)
class Content:
    """A document as the corpus stores it: its sidecar object and its text as published."""

    meta: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class Intent:
    """One write, recorded before any file of it changes."""

    operation: Operation
    doc_id: str
    new: Content | None  # None when the document is removed
    old: Content | None  # None when the document did not exist
    key: str | None  # the client's idempotency key
    request: str  # hash of what the client asked: a key reused for another request is refused

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Intent:
        content = {k: Content(**data[k]) if data[k] is not None else None for k in ("new", "old")}
        return cls(data["operation"], data["doc_id"], content["new"], content["old"], data["key"], data["request"])


def request_hash(*parts: Any) -> str:
    """Return a stable hash of a request's parts (JSON-serialisable)."""
    payload = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def crash_point(step: str) -> None:
    """Kill this process at `step` when the tests ask for it ($VIQA_CRASH_AT), as a power cut would."""
    if os.environ.get(CRASH_AT) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def begin(index_dir: Path, intent: Intent) -> None:
    """Record `intent` durably; the writer touches nothing before this returns."""
    _write_durably(_journal(index_dir) / "pending.json", asdict(intent))


def pending(index_dir: Path) -> Intent | None:
    """Return the write a crash left unfinished, if any."""
    path = index_dir / JOURNAL / "pending.json"
    if not path.exists():
        return None
    return Intent.from_json(json.loads(path.read_text(encoding="utf-8")))


def finish(index_dir: Path, intent: Intent, result: dict[str, Any] | None) -> None:
    """Keep `result` for retries of the same key (when applied), then drop the intent."""
    journal = _journal(index_dir)
    if intent.key is not None and result is not None:
        record = {"key": intent.key, "request": intent.request, "result": result}
        _write_durably(journal / "done" / f"{_key_name(intent.key)}.json", record)
    (journal / "pending.json").unlink(missing_ok=True)
    fsync(journal)


def replayed(index_dir: Path, key: str | None, request: str) -> dict[str, Any] | None:
    """Return the result of the write already done under `key`, or None.

    Raises:
        IdempotencyConflict: `key` was used for another request.
    """
    if key is None:
        return None
    path = index_dir / JOURNAL / "done" / f"{_key_name(key)}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if record["request"] != request:
        raise IdempotencyConflict("this Idempotency-Key was used for another request; use a new key for a new write")
    return record["result"]  # type: ignore[no-any-return]


def forget_old_results(index_dir: Path, now: float | None = None) -> None:
    """Delete results kept longer than a client would wait to retry."""
    done = index_dir / JOURNAL / "done"
    cutoff = (now or time.time()) - KEEP_RESULTS_S
    for path in done.glob("*.json") if done.exists() else []:
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def debris(index_dir: Path) -> list[Path]:
    """Return temporary files a crash left in the journal."""
    journal = index_dir / JOURNAL
    return [p for p in journal.rglob(".*.tmp")] if journal.exists() else []


def _journal(index_dir: Path) -> Path:
    journal = index_dir / JOURNAL
    (journal / "done").mkdir(parents=True, exist_ok=True)
    return journal


def _key_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _write_durably(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync(path.parent)
