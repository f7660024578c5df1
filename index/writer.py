"""Adding, replacing and removing documents: corpus files and index move together, crash or not.

A write validates its input completely before touching anything. Then, holding the
index's single-writer lock, it:

1. finishes a write a crash left in the journal (index/journal.py) and removes crash debris;
2. answers a retried request from the journal (same idempotency key), or recognises a new
   document whose content is already stored;
3. records its intent, with the document's old and new content, in the journal;
4. writes the corpus files and publishes the index version that holds them;
5. keeps the result under the request's key and clears the intent.

A crash before step 3 changes nothing. After it, the next writer, or the next start of
`viqa serve`, `viqa index` or `viqa add`, rolls the change forward, or back if it can no
longer be applied. A write that fails puts the corpus back as it was and publishes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from corpus.chunk import ChunkSettings
from corpus.documents import (
    Document,
    DocumentMeta,
    corpus_debris,
    make_document,
    source_path,
    stored_content,
    validate_doc_id,
    write_sidecar,
    write_text,
)
from corpus.errors import DocumentExists, DocumentNotFound, IndexBusy, RetrievalError
from corpus.normalize import fold_diacritics
from corpus.originals import FileDocument, drop_originals, keep_original
from index import journal
from index.build import Progress, Ready, UpdateReport, stored_document, update_locked, writer_lock
from index.check import index_debris
from index.dense import DenseSettings
from index.embed import Embedder
from index.journal import Content, Intent, crash_point
from index.milvus import MilvusSettings
from index.store import current_version, load_version

log = logging.getLogger(__name__)
_MAX_SLUG = 80


@dataclass(frozen=True)
class Written:
    """What a write did: the document it concerned and the index version that holds it."""

    doc_id: str
    report: UpdateReport
    outcome: Literal["applied", "replayed", "unchanged"]  # replayed: same key as a finished write

    def to_json(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "report": asdict(self.report)}

    @classmethod
    def replay(cls, data: dict[str, Any]) -> Written:
        return cls(data["doc_id"], UpdateReport(**data["report"]), "replayed")


def new_doc_id(corpus_dir: Path, title: str, published: str) -> str:
    """Return an unused id made of the date and the title ("2025-02-03-tin-moi")."""
    words = re.sub(r"[^a-z0-9]+", "-", fold_diacritics(title).lower()).strip("-")
    base = f"{published}-{words}"[:_MAX_SLUG].rstrip("-")
    candidate, n = base, 1
    while source_path(corpus_dir, candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return validate_doc_id(candidate)


def add_document(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    meta: DocumentMeta,
    raw: str,
    *,
    replace: bool = False,
    new_id: bool = False,
    key: str | None = None,
    progress: Progress | None = None,
    dense: DenseSettings | None = None,
    milvus: MilvusSettings | None = None,
    original: FileDocument | None = None,
    ready: Ready | None = None,
) -> Written:
    """Store a new (or, with `replace`, changed) document and publish the index that has it.

    Args:
        new_id: ignore `meta.doc_id` and give the document an unused id made of its date
            and title, chosen under the writer lock so concurrent adds cannot collide; a
            document with the same metadata and text already stored is answered instead.
        key: the client's idempotency key: a retry with the same key and request gets the
            first write's result; with another request, IdempotencyConflict.
        original: the file the document was read from, kept beside it once it is stored.
        ready: is given the new version's retriever once it is published (`update_index`).
    """
    document = make_document(meta, raw)  # refuse bad input before taking the lock or writing anything
    operation: journal.Operation = "replace" if replace else "add"
    request = journal.request_hash(operation, None if new_id else meta.doc_id, meta.to_json(), raw)
    writer = _Writer(corpus_dir, index_dir, embedder, settings, dense, milvus, ready)
    with writer_lock(index_dir):
        writer.recover_locked()
        done = journal.replayed(index_dir, key, request)
        if done is not None:
            return Written.replay(done)
        if new_id:
            same = _stored_alike(index_dir, document)
            if same is not None:
                return same
            meta = dataclasses.replace(meta, doc_id=new_doc_id(corpus_dir, meta.title, meta.published.isoformat()))
        old = stored_content(corpus_dir, meta.doc_id)
        if old is not None and not replace:
            raise DocumentExists(
                f"document {meta.doc_id!r} already exists; "
                f"replace it with PUT /documents/{meta.doc_id} or `viqa add --replace`"
            )
        if old is None and replace:
            raise DocumentNotFound(f"no document {meta.doc_id!r} to replace")
        new = Content(meta.to_json(), raw)
        intent = Intent(operation, meta.doc_id, new, Content(*old) if old else None, key, request)
        written = writer.logged(intent, progress)
        if written.outcome == "applied":
            keep_original(corpus_dir, meta.doc_id, original)  # the text is safe; a crash here loses only this file
        return written


def remove_document(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    doc_id: str,
    *,
    key: str | None = None,
    dense: DenseSettings | None = None,
    milvus: MilvusSettings | None = None,
    ready: Ready | None = None,
) -> Written:
    """Delete a document and publish the index without its chunks (`ready` as in `add_document`)."""
    validate_doc_id(doc_id)
    request = journal.request_hash("remove", doc_id)
    writer = _Writer(corpus_dir, index_dir, embedder, settings, dense, milvus, ready)
    with writer_lock(index_dir):
        writer.recover_locked()
        done = journal.replayed(index_dir, key, request)
        if done is not None:
            return Written.replay(done)
        old = stored_content(corpus_dir, doc_id)
        if old is None:
            raise DocumentNotFound(f"no document {doc_id!r}")
        intent = Intent("remove", doc_id, None, Content(*old), key, request)
        written = writer.logged(intent, None)
        if written.outcome == "applied":
            drop_originals(corpus_dir, doc_id)
        return written


def recover(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    dense: DenseSettings | None = None,
    milvus: MilvusSettings | None = None,
) -> list[str]:
    """Finish a write a crash interrupted and remove crash debris; return what was done.

    Another writer at work is left alone: it recovers before it writes.
    """
    try:
        with writer_lock(index_dir):
            return _Writer(corpus_dir, index_dir, embedder, settings, dense, milvus).recover_locked()
    except IndexBusy:
        return []


@dataclass(frozen=True)
class _Writer:
    """A corpus and its index, and how new versions are built: what a write and a recovery share."""

    corpus_dir: Path
    index_dir: Path
    embedder: Embedder
    settings: ChunkSettings
    dense: DenseSettings | None
    milvus: MilvusSettings | None
    ready: Ready | None = None  # see `update_index`

    def logged(self, intent: Intent, progress: Progress | None) -> Written:
        """Journal `intent`, apply it, and keep its result; a failure leaves the corpus as it was."""
        crash_point("before-journal")
        journal.begin(self.index_dir, intent)
        crash_point("journaled")
        try:
            report = self.apply(intent, progress)
        except BaseException:
            _put(self.corpus_dir, intent.doc_id, intent.old)
            journal.finish(self.index_dir, intent, None)
            raise
        crash_point("published")
        written = Written(intent.doc_id, report, "applied")
        journal.finish(self.index_dir, intent, written.to_json())
        crash_point("finished")
        return written

    def apply(self, intent: Intent, progress: Progress | None) -> UpdateReport:
        """Write the intent's corpus files and publish the index version that holds them."""
        _put(self.corpus_dir, intent.doc_id, intent.new)
        crash_point("corpus-written")
        return update_locked(
            self.corpus_dir,
            self.index_dir,
            self.embedder,
            self.settings,
            progress=progress,
            dense=self.dense,
            milvus=self.milvus,
            ready=self.ready,
        )

    def recover_locked(self) -> list[str]:
        """`recover` for a caller holding the writer lock."""
        done = []
        for path in corpus_debris(self.corpus_dir) + index_debris(self.index_dir) + journal.debris(self.index_dir):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            done.append(f"removed {path.name}, left by an interrupted write")
        intent = journal.pending(self.index_dir)
        if intent is not None:
            try:
                report = self.apply(intent, None)
            except RetrievalError as exc:
                _put(self.corpus_dir, intent.doc_id, intent.old)
                journal.finish(self.index_dir, intent, None)
                done.append(f"rolled back the interrupted {intent.operation} of {intent.doc_id!r}: {exc}")
            else:
                journal.finish(self.index_dir, intent, Written(intent.doc_id, report, "applied").to_json())
                done.append(
                    f"finished the interrupted {intent.operation} of {intent.doc_id!r} (index {report.version})"
                )
        journal.forget_old_results(self.index_dir)
        for line in done:
            log.warning("%s", line)
        return done


def _put(corpus_dir: Path, doc_id: str, content: Content | None) -> None:
    """Make the corpus hold `content` as `doc_id` (None: no such document); safe to repeat."""
    if content is None:
        (corpus_dir / f"{doc_id}.txt").unlink(missing_ok=True)  # the text first: a sidecar alone is no document
        crash_point("mid-corpus")
        (corpus_dir / f"{doc_id}.json").unlink(missing_ok=True)
        return
    write_sidecar(corpus_dir, doc_id, content.meta)
    crash_point("mid-corpus")
    write_text(corpus_dir, doc_id, content.raw)


def _stored_alike(index_dir: Path, document: Document) -> Written | None:
    """Return the published document with the same metadata and text as `document`, if any."""
    if current_version(index_dir) is None:
        return None
    version = load_version(index_dir)
    fingerprint = stored_document(document).fingerprint
    for record in version.documents.records():
        if record.fingerprint == fingerprint:
            manifest = version.manifest
            report = UpdateReport(version.version, manifest.document_count, manifest.chunk_count, 0, 0, 0, 0.0)
            return Written(record.meta.doc_id, report, "unchanged")
    return None
