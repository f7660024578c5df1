"""An index on disk: versioned directories of plain files and a pointer to the live one.

    <index_dir>/CURRENT                  name of the published version (one line)
    <index_dir>/versions/<version>/      one immutable version:
        manifest.json    what built it: format, embedder, chunker, corpus, counts, checksums
        faiss.index      the vectors (inner product over L2-normalised vectors)
        chunks.jsonl     row i is FAISS id i
        documents.jsonl  metadata and clean text of each document, so citations open

A version is written under a temporary name, renamed into place, and published by
replacing CURRENT atomically; a crash at any point leaves the previous version live.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from corpus.chunk import Chunk
from corpus.documents import DocumentMeta
from corpus.errors import IndexMismatch, IndexNotFound

FORMAT_VERSION = 2
POINTER = "CURRENT"
VERSIONS = "versions"
_FILES = ("faiss.index", "chunks.jsonl", "documents.jsonl")
_KEEP_VERSIONS = 3
_VERSION_NAME = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{6}$")


@dataclass(frozen=True)
class StoredDocument:
    """A document as the index serves it: metadata, clean text, chunk count."""

    meta: DocumentMeta
    text: str
    fingerprint: str
    chunk_count: int


@dataclass(frozen=True)
class Manifest:
    """Build information of one index version."""

    format_version: int
    viqa_version: str
    embedder: str
    dimension: int
    prompts: dict[str, str]
    chunker: dict[str, Any]
    corpus_fingerprint: str
    pipeline_fingerprint: str
    document_count: int
    chunk_count: int
    created_at: str
    checksums: dict[str, str]


@dataclass(frozen=True)
class IndexVersion:
    """One loaded, immutable index version."""

    version: str
    manifest: Manifest
    vectors: faiss.Index
    chunks: list[Chunk]
    documents: dict[str, StoredDocument]


def current_version(index_dir: Path) -> str | None:
    """Return the name of the published version, or None if nothing is published."""
    pointer = index_dir / POINTER
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    if name and not _VERSION_NAME.match(name):
        raise IndexMismatch(f"{pointer} names {name!r}, not an index version; rebuild with `viqa index --full`")
    return name or None


def save_version(
    index_dir: Path,
    vectors: np.ndarray,
    chunks: list[Chunk],
    documents: list[StoredDocument],
    manifest_fields: dict[str, Any],
) -> str:
    """Write a new version beside the current one and publish it; return its name."""
    if len(vectors) != len(chunks):
        raise ValueError(f"{len(vectors)} vectors for {len(chunks)} chunks")
    now = dt.datetime.now(dt.UTC)
    version = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:6]}"
    versions = index_dir / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    staging = versions / f".tmp-{version}"
    staging.mkdir()
    try:
        index = faiss.IndexFlatIP(int(manifest_fields["dimension"]))
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(index, str(staging / "faiss.index"))
        _write_jsonl(staging / "chunks.jsonl", (_chunk_to_json(c) for c in chunks))
        _write_jsonl(staging / "documents.jsonl", (_document_to_json(d) for d in documents))
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            created_at=now.isoformat(timespec="seconds"),
            document_count=len(documents),
            chunk_count=len(chunks),
            checksums={name: _sha256(staging / name) for name in _FILES},
            **manifest_fields,
        )
        _write_json(staging / "manifest.json", asdict(manifest))
        _fsync_dir(staging)
        os.rename(staging, versions / version)
        _fsync_dir(versions)
        _publish(index_dir, version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(index_dir, keep=version)
    return version


def read_manifest(index_dir: Path) -> Manifest:
    """Return the published version's manifest alone, without loading or checking its data."""
    version = current_version(index_dir)
    if version is None:
        raise IndexNotFound(f"no index in {index_dir}: build one with `viqa index` (or set VIQA_INDEX_DIR)")
    try:
        return Manifest(**json.loads((index_dir / VERSIONS / version / "manifest.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise IndexMismatch(
            f"index version {version} has no readable manifest ({exc}); rebuild with `viqa index --full`"
        ) from None


def load_version(index_dir: Path, version: str | None = None) -> IndexVersion:
    """Return the published (or named) version, checking its files against its manifest."""
    version = version or current_version(index_dir)
    if version is None:
        raise IndexNotFound(f"no index in {index_dir}: build one with `viqa index` (or set VIQA_INDEX_DIR)")
    path = index_dir / VERSIONS / version
    try:
        manifest = Manifest(**json.loads((path / "manifest.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise IndexMismatch(
            f"index version {version} has no readable manifest ({exc}); rebuild with `viqa index --full`"
        ) from None
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatch(
            f"index format {manifest.format_version} is not the supported {FORMAT_VERSION}; "
            "rebuild with `viqa index --full`"
        )
    try:
        for name, expected in manifest.checksums.items():
            if _sha256(path / name) != expected:
                raise IndexMismatch(f"{path / name} does not match its checksum; rebuild with `viqa index --full`")
        vectors = faiss.read_index(str(path / "faiss.index"))
        chunks = [_chunk_from_json(row) for row in _read_jsonl(path / "chunks.jsonl")]
        documents = [_document_from_json(row) for row in _read_jsonl(path / "documents.jsonl")]
    except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:  # a file gone or unreadable
        raise IndexMismatch(
            f"index version {version} cannot be read ({exc}); rebuild with `viqa index --full`"
        ) from None
    if vectors.ntotal != len(chunks) or vectors.d != manifest.dimension:
        raise IndexMismatch(
            f"index version {version} holds {vectors.ntotal} vectors of dimension {vectors.d} "
            f"for {len(chunks)} chunks of dimension {manifest.dimension}; rebuild with `viqa index --full`"
        )
    return IndexVersion(version, manifest, vectors, chunks, {d.meta.doc_id: d for d in documents})


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


def _publish(index_dir: Path, version: str) -> None:
    tmp = index_dir / f".{POINTER}.{uuid.uuid4().hex}"
    tmp.write_text(version + "\n", encoding="utf-8")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / POINTER)
    _fsync_dir(index_dir)


def _prune(index_dir: Path, keep: str) -> None:
    """Delete old versions and abandoned staging dirs; a serving process holds its data in memory."""
    versions = index_dir / VERSIONS
    staged = [p for p in versions.iterdir() if p.name.startswith(".tmp-")]
    published = sorted((p for p in versions.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    old = [p for p in published[:-_KEEP_VERSIONS] if p.name != keep]
    for path in staged + old:
        if path.name != f".tmp-{keep}":
            shutil.rmtree(path, ignore_errors=True)


def _chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    row = asdict(chunk)
    row["paragraphs"] = list(chunk.paragraphs)
    return row


def _chunk_from_json(row: dict[str, Any]) -> Chunk:
    return Chunk(**{**row, "paragraphs": tuple(row["paragraphs"])})


def _document_to_json(document: StoredDocument) -> dict[str, Any]:
    return {
        "doc_id": document.meta.doc_id,
        **document.meta.to_json(),
        "fingerprint": document.fingerprint,
        "chunk_count": document.chunk_count,
        "text": document.text,
    }


def _document_from_json(row: dict[str, Any]) -> StoredDocument:
    meta = DocumentMeta(row["doc_id"], row["title"], dt.date.fromisoformat(row["published"]), row["author"], row["url"])
    return StoredDocument(meta, row["text"], row["fingerprint"], row["chunk_count"])


def _write_jsonl(path: Path, rows: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
