"""Corpus to a published index version, embedding only chunks the live version lacks."""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from corpus.chunk import Chunk, ChunkSettings, split_into_chunks
from corpus.documents import Document, corpus_fingerprint, load_corpus, pipeline_fingerprint
from corpus.errors import IndexBusy, IndexMismatch, IndexNotFound, RetrievalError
from index.embed import Embedder
from index.store import (
    IndexVersion,
    Manifest,
    StoredDocument,
    check_compatible,
    current_version,
    load_version,
    read_manifest,
    save_version,
)

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
            raise IndexBusy(
                f"another writer is updating the index in {index_dir}; try again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
) -> UpdateReport:
    """Publish an index version for the corpus as it is now; return what changed.

    Args:
        full: embed every chunk again instead of reusing the live version's vectors.
    """
    with writer_lock(index_dir):
        return update_locked(corpus_dir, index_dir, embedder, settings, full=full, progress=progress)


def update_locked(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    *,
    full: bool = False,
    progress: Progress | None = None,
) -> UpdateReport:
    """`update_index` for a caller that already holds `writer_lock(index_dir)`."""
    if settings.max_tokens > embedder.max_tokens:
        raise RetrievalError(
            f"chunks of {settings.max_tokens} tokens exceed the {embedder.max_tokens}-token input of {embedder.name}; "
            f"lower VIQA_CHUNK_MAX_TOKENS"
        )
    started = time.perf_counter()
    fingerprint = corpus_fingerprint(corpus_dir)
    previous = None if full else _reusable(index_dir, embedder, settings)
    if previous and _up_to_date(previous.manifest, fingerprint):
        manifest = previous.manifest
        return UpdateReport(
            previous.version, manifest.document_count, manifest.chunk_count, 0, 0, 0, time.perf_counter() - started
        )
    documents = load_corpus(corpus_dir)
    per_document = {d.doc_id: split_into_chunks(d, settings, embedder.count_tokens) for d in documents}
    chunks = [c for d in documents for c in per_document[d.doc_id]]
    known = _vectors_by_id(previous) if previous else {}
    missing = [c for c in chunks if c.chunk_id not in known]
    fresh = _embed(missing, embedder, progress)
    known.update(zip((c.chunk_id for c in missing), fresh))
    vectors = np.stack([known[c.chunk_id] for c in chunks]) if chunks else np.zeros((0, embedder.dim), np.float32)
    stored = [_stored(d, len(per_document[d.doc_id])) for d in documents]
    version = save_version(
        index_dir,
        vectors,
        chunks,
        stored,
        {
            "viqa_version": metadata.version("viqa"),
            "embedder": embedder.name,
            "dimension": embedder.dim,
            "prompts": asdict(embedder.prompts),
            "chunker": chunker_config(settings),
            "corpus_fingerprint": fingerprint,
            "pipeline_fingerprint": pipeline_fingerprint(),
        },
    )
    old_ids = {c.chunk_id for c in previous.chunks} if previous else set()
    new_ids = {c.chunk_id for c in chunks}
    return UpdateReport(
        version=version,
        documents=len(documents),
        chunks=len(chunks),
        added=len(new_ids - old_ids),
        removed=len(old_ids - new_ids),
        embedded=len(missing),
        seconds=time.perf_counter() - started,
    )


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


def _vectors_by_id(version: IndexVersion) -> dict[str, np.ndarray]:
    if not version.chunks:
        return {}
    matrix = version.vectors.reconstruct_n(0, version.vectors.ntotal)
    return {chunk.chunk_id: matrix[i] for i, chunk in enumerate(version.chunks)}


def _embed(chunks: list[Chunk], embedder: Embedder, progress: Progress | None) -> list[np.ndarray]:
    vectors: list[np.ndarray] = []
    for start in range(0, len(chunks), _BATCH):
        batch = chunks[start : start + _BATCH]
        vectors.extend(embedder.embed_passages([c.text for c in batch]))
        if progress:
            progress(len(vectors), len(chunks))
    return vectors


def _stored(document: Document, chunk_count: int) -> StoredDocument:
    payload = json.dumps(document.meta.to_json(), ensure_ascii=False, sort_keys=True) + document.raw
    fingerprint = hashlib.sha256(payload.encode()).hexdigest()
    return StoredDocument(document.meta, document.text, fingerprint, chunk_count)
