"""Corpus to a published index version, embedding only chunks the live version lacks."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from corpus.chunk import Chunk, ChunkSettings, split_into_chunks
from corpus.documents import Document, corpus_fingerprint, load_corpus, pipeline_fingerprint
from corpus.errors import IndexBusy, IndexMismatch, IndexNotFound, RetrievalError
from index.dense import DenseSettings
from index.embed import Embedder
from index.milvus import MilvusSettings
from index.milvus_versions import holds, write_version
from index.publishing import Ready, publish_check, published
from index.search import Retriever
from index.segments import merge, merge_groups, old_vectors, publish
from index.store import (
    IndexVersion,
    Manifest,
    StoredDocument,
    current_version,
    load_version,
    read_manifest,
    save_version,
)
from index.tables import DocumentTable

Progress = Callable[[int, int], None]  # (done, total) chunks embedded
_BATCH = 16
LOCK_FILE = ".lock"


@dataclass(frozen=True)
class UpdateReport:
    """What an index update did."""

    version: str
    documents: int
    chunks: int
    added: int  # chunks new in this version
    removed: int  # chunks of the previous version that are gone
    embedded: int  # chunks sent to the embedder
    seconds: float


def chunker_config(settings: ChunkSettings) -> dict[str, int]:
    """Return the chunker settings as recorded in the manifest."""
    return asdict(settings)


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the single-writer lock of `index_dir`, or raise IndexBusy at once."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy("another writer is updating the index; try again when it has finished") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_compatible(manifest: Manifest, embedder: str, dimension: int, chunker: dict[str, Any]) -> None:
    """Raise IndexMismatch if the index was built with another embedder or chunker."""
    problems = []
    if manifest.embedder != embedder or manifest.dimension != dimension:
        problems.append(
            f"embedder {manifest.embedder} ({manifest.dimension} dims) "
            f"but the service runs {embedder} ({dimension} dims)"
        )
    if manifest.chunker != chunker:
        problems.append(f"chunker settings {manifest.chunker} but the service runs {chunker}")
    if problems:
        raise IndexMismatch(
            "the index was built with "
            + "; ".join(problems)
            + ". Rebuild it with `viqa index --full` (or point VIQA_INDEX_DIR at a matching index)"
        )


def needs_rebuild(corpus_dir: Path, index_dir: Path) -> bool:
    """Return True when no index is published, or it was built from other documents or other chunking code."""
    try:
        manifest = read_manifest(index_dir)
    except (IndexNotFound, IndexMismatch):
        return True
    return not _up_to_date(manifest, corpus_fingerprint(corpus_dir))


def update_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    *,
    full: bool = False,
    progress: Progress | None = None,
    dense: DenseSettings | None = None,
    milvus: MilvusSettings | None = None,
    ready: Ready | None = None,
) -> UpdateReport:
    """Publish an index version for the corpus as it is now; return what changed.

    Args:
        full: embed and index every chunk again, in one new segment, instead of adding
            a segment for what changed.
        dense: how a new segment's vectors are indexed (flat or HNSW by size).
        milvus: also write each new version to Milvus collections (VIQA_BACKEND=milvus).
        ready: is given the retriever the check before publishing built, once the version is published.
    """
    with writer_lock(index_dir):
        return update_locked(
            corpus_dir,
            index_dir,
            embedder,
            settings,
            full=full,
            progress=progress,
            dense=dense,
            milvus=milvus,
            ready=ready,
        )


def update_locked(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    *,
    full: bool = False,
    progress: Progress | None = None,
    dense: DenseSettings | None = None,
    milvus: MilvusSettings | None = None,
    ready: Ready | None = None,
) -> UpdateReport:
    """`update_index` for a caller that already holds `writer_lock(index_dir)`.

    Documents new or changed since the live version are chunked and indexed in one new
    segment (reusing the vectors of chunks that did not change); documents changed or
    gone are marked deleted in their segments. Nothing else is read or rewritten.
    """
    if settings.max_tokens > embedder.max_tokens:
        raise RetrievalError(
            f"chunks of {settings.max_tokens} tokens exceed the {embedder.max_tokens}-token input of {embedder.name}; "
            f"lower VIQA_CHUNK_MAX_TOKENS"
        )
    started = time.perf_counter()
    dense = dense or DenseSettings()
    fingerprint = corpus_fingerprint(corpus_dir)
    previous = None if full else _reusable(index_dir, embedder, settings)
    if previous and _up_to_date(previous.manifest, fingerprint):
        manifest = previous.manifest
        if milvus is not None and not holds(milvus, previous):  # the backend was switched to Milvus
            write_version(milvus, previous)
            published(index_dir, previous.version, milvus)
        return UpdateReport(
            previous.version, manifest.document_count, manifest.chunk_count, 0, 0, 0, time.perf_counter() - started
        )
    documents = load_corpus(corpus_dir)
    stored = {d.doc_id: stored_document(d) for d in documents}
    live = previous.documents if previous else None
    changed = [d for d in documents if _changed(live, d.doc_id, stored[d.doc_id])]
    gone = [doc_id for doc_id in live or () if doc_id not in stored or _changed(live, doc_id, stored[doc_id])]
    per_document = {d.doc_id: split_into_chunks(d, settings, embedder.count_tokens) for d in changed}
    chunks = [c for d in changed for c in per_document[d.doc_id]]
    known = old_vectors(previous, gone) if previous else {}
    missing = [c for c in chunks if c.chunk_id not in known]
    known.update(zip((c.chunk_id for c in missing), _embed(missing, embedder, progress)))
    added = None
    if changed:
        vectors = np.stack([known[c.chunk_id] for c in chunks]) if chunks else np.zeros((0, embedder.dim), np.float32)
        new = [dataclasses.replace(stored[d.doc_id], chunk_count=len(per_document[d.doc_id])) for d in changed]
        added = (chunks, new, vectors)
    fields = manifest_fields(embedder, settings, fingerprint, len(documents))
    checked: list[Retriever] = []
    version, live_chunks = publish(
        index_dir, previous, gone, added, dense, fields, publish_check(milvus, previous, checked.append)
    )
    published(index_dir, version, milvus)
    if ready is not None and checked:
        ready(checked[-1])  # only once published: a write that fails leaves no retriever behind
    removed = sum(_chunk_count(live, doc_id) for doc_id in gone) if live else 0
    kept = len({c.chunk_id for c in chunks} - {c.chunk_id for c in missing})
    return UpdateReport(
        version=version,
        documents=len(documents),
        chunks=live_chunks,
        added=len(chunks) - kept,
        removed=removed - kept,
        embedded=len(missing),
        seconds=time.perf_counter() - started,
    )


def optimize_index(
    index_dir: Path, dense: DenseSettings | None = None, milvus: MilvusSettings | None = None
) -> UpdateReport:
    """Merge the live version's segments, dropping deleted rows, into as few as MAX_MERGED_ROWS allows; publish it."""
    started = time.perf_counter()
    with writer_lock(index_dir):
        manifest = read_manifest(index_dir)
        entries = manifest.segments
        for group in reversed(merge_groups(entries)):  # the last first: earlier positions stay put
            entries = merge(index_dir, entries, group, dense or DenseSettings())
        skipped = ("format_version", "created_at", "segments")
        fields = {k: v for k, v in asdict(manifest).items() if k not in skipped}
        version = save_version(index_dir, entries, fields, publish_check(milvus))
        published(index_dir, version, milvus)
    return UpdateReport(version, manifest.document_count, manifest.chunk_count, 0, 0, 0, time.perf_counter() - started)


def _reusable(index_dir: Path, embedder: Embedder, settings: ChunkSettings) -> IndexVersion | None:
    """Return the live version if its vectors can be reused by this embedder and chunker."""
    if current_version(index_dir) is None:
        return None
    try:
        live = load_version(index_dir)
        check_compatible(live.manifest, embedder.name, embedder.dim, chunker_config(settings))
    except IndexMismatch:
        return None
    return live


def _up_to_date(manifest: Manifest, fingerprint: str) -> bool:
    """Return True when the live version was built from these documents by this chunking code."""
    return manifest.corpus_fingerprint == fingerprint and manifest.pipeline_fingerprint == pipeline_fingerprint()


def _changed(live: DocumentTable | None, doc_id: str, document: StoredDocument) -> bool:
    """Return True when `doc_id` is not in the live version, or is there with other content."""
    found = live.record(doc_id) if live is not None else None
    return found is None or found[2].fingerprint != document.fingerprint


def _chunk_count(live: DocumentTable, doc_id: str) -> int:
    found = live.record(doc_id)
    return found[2].chunk_count if found else 0


def manifest_fields(embedder: Embedder, settings: ChunkSettings, fingerprint: str, documents: int) -> dict[str, Any]:
    """Return what a version's manifest says of how it was built (all but its segments and chunk count)."""
    return {
        "viqa_version": metadata.version("viqa"),
        "embedder": embedder.name,
        "dimension": embedder.dim,
        "prompts": asdict(embedder.prompts),
        "chunker": chunker_config(settings),
        "corpus_fingerprint": fingerprint,
        "pipeline_fingerprint": pipeline_fingerprint(),
        "document_count": documents,
    }


def _embed(chunks: list[Chunk], embedder: Embedder, progress: Progress | None) -> list[np.ndarray]:
    vectors: list[np.ndarray] = []
    for start in range(0, len(chunks), _BATCH):
        batch = chunks[start : start + _BATCH]
        vectors.extend(embedder.embed_passages([c.text for c in batch]))
        if progress:
            progress(len(vectors), len(chunks))
    return vectors


def stored_document(document: Document) -> StoredDocument:
    """Return the document as stored, fingerprinted by its metadata and raw text (chunk count unset)."""
    payload = json.dumps(document.meta.to_json(), ensure_ascii=False, sort_keys=True) + document.raw
    fingerprint = hashlib.sha256(payload.encode()).hexdigest()
    return StoredDocument(document.meta, document.text, fingerprint, 0)
