"""An index on disk: immutable segments, versions that list them, and a pointer to the live one.

    <index_dir>/CURRENT                  name of the published version (one line)
    <index_dir>/segments/<segment>/      one immutable segment (index/segment.py)
    <index_dir>/versions/<version>/manifest.json
        what built the version (format, embedder, chunker, corpus), its segments in row
        order and, per segment, the documents deleted since it was written (tombstones)

Rows of a version are its segments' rows one after the other; a deleted document's rows
stay in their segment, unseen, until a merge writes the live rows into a new segment.
A new segment or version is written under a temporary name and renamed into place, and a
version is published by replacing CURRENT atomically: a crash at any point leaves the
previous version live. Segments no kept version lists are deleted.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import shutil
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.documents import fsync
from corpus.errors import IndexMismatch, IndexNotFound
from index.journal import crash_point
from index.ranking import concat_ranges
from index.segment import Segment, StoredDocument, load_segment
from index.tables import ChunkTable, DocumentTable

FORMAT_VERSION = 3
POINTER = "CURRENT"
VERSIONS = "versions"
SEGMENTS = "segments"
_KEEP_VERSIONS = 3
_VERSION_NAME = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{6}$")
# Files up to this size are checked against their sha256 when a segment is loaded, larger ones
# by size: hashing the 6 GB of postings below 256 MB took 4.4 s of a 7.7 s load at a million
# passages (more from a cold disk). `viqa index --check` hashes every file.
VERIFY_UP_TO = 16 << 20

__all__ = ["StoredDocument", "IndexVersion", "Manifest", "load_version", "save_version", "new_name"]


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
    segments: list[dict[str, Any]]  # {"name", "rows", "deleted_documents": [index in it, ...], "deleted_rows"}


@dataclass(frozen=True)
class IndexVersion:
    """One loaded, immutable index version: its segments, and what was deleted from them."""

    version: str
    manifest: Manifest
    segments: list[Segment]
    deleted: list[np.ndarray]  # per segment: sorted local rows of deleted documents

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        """Return the first row of each segment, and the total, as one array."""
        return np.concatenate([[0], np.cumsum([s.rows for s in self.segments])]).astype(np.int64)

    @property
    def size(self) -> int:
        """Return the number of rows, deleted ones included."""
        return int(self.offsets[-1])

    @functools.cached_property
    def chunks(self) -> ChunkTable:
        """Return the passages by row (a deleted row still reads, but no search proposes it)."""
        return ChunkTable(self.segments, self.offsets)

    @functools.cached_property
    def documents(self) -> DocumentTable:
        """Return the live documents by id."""
        return DocumentTable(self.segments, [set(e["deleted_documents"]) for e in self.manifest.segments])

    @functools.cached_property
    def deleted_rows(self) -> np.ndarray:
        """Return every deleted row (global), sorted."""
        parts = [d + o for d, o in zip(self.deleted, self.offsets[:-1])]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Return the stored vectors of `rows` (global), one per line."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.manifest.dimension), dtype=np.float32)
        segment_of = np.searchsorted(self.offsets, rows, side="right") - 1
        for i, segment in enumerate(self.segments):
            here = segment_of == i
            if here.any():
                out[here] = segment.dense.vectors(rows[here] - self.offsets[i])
        return out


def new_name() -> str:
    """Return a fresh version or segment name: sortable by time, unique."""
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:6]}"


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
    segments: list[dict[str, Any]],
    manifest_fields: dict[str, Any],
    servable: Callable[[IndexVersion], None] | None = None,
) -> str:
    """Publish a version made of `segments` (already written under segments/); return its name.

    The version is loaded from its files before it is published, and not published if that
    fails: a service restarting on it would have nothing to serve.

    Args:
        segments: in row order, each {"name", "rows", "deleted_documents"}.
        servable: a further check of the loaded version (building what searches it), raising if it fails.
    """
    version = new_name()
    versions = index_dir / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    staging = versions / f".tmp-{version}"
    staging.mkdir()
    try:
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            segments=segments,
            **manifest_fields,
        )
        _write_json(staging / "manifest.json", asdict(manifest))
        fsync(staging)
        os.rename(staging, versions / version)
        fsync(versions)
        _loads(index_dir, version, servable)
        crash_point("mid-version")
        _publish(index_dir, version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if current_version(index_dir) != version:
            shutil.rmtree(versions / version, ignore_errors=True)
        raise
    _prune(index_dir, keep=version)
    return version


def _loads(index_dir: Path, version: str, servable: Callable[[IndexVersion], None] | None) -> None:
    """Raise IndexMismatch, saying nothing was published, unless `version` loads (and serves)."""
    try:
        loaded = load_version(index_dir, version)
        if servable is not None:
            servable(loaded)
    except Exception as exc:
        raise IndexMismatch(
            f"the new index version could not be loaded ({exc}); it was not published, the previous one stays live"
        ) from exc


def published_versions(index_dir: Path) -> list[str]:
    """Return the names of the versions kept on disk, newest first."""
    versions = index_dir / VERSIONS
    names = [p.name for p in versions.iterdir() if _VERSION_NAME.match(p.name)] if versions.exists() else []
    return sorted(names, reverse=True)


def read_manifest(index_dir: Path, version: str | None = None) -> Manifest:
    """Return the published (or named) version's manifest alone, without loading its segments."""
    version = version or current_version(index_dir)
    if version is None:
        raise IndexNotFound(f"no index in {index_dir}: build one with `viqa index` (or set VIQA_INDEX_DIR)")
    try:
        manifest = Manifest(**json.loads((index_dir / VERSIONS / version / "manifest.json").read_text("utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise IndexMismatch(
            f"index version {version} has no readable manifest ({exc}); rebuild with `viqa index --full`"
        ) from None
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatch(
            f"index format {manifest.format_version} is not the supported {FORMAT_VERSION}; "
            "rebuild with `viqa index --full`"
        )
    return manifest


def load_version(index_dir: Path, version: str | None = None) -> IndexVersion:
    """Return the published (or named) version; segments already loaded by this process are shared."""
    version = version or current_version(index_dir)
    manifest = read_manifest(index_dir, version)
    assert version is not None  # read_manifest raised otherwise
    segments, deleted = [], []
    for entry in manifest.segments:
        try:
            segment = load_segment_cached(index_dir / SEGMENTS / entry["name"])
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:  # gone, damaged, unreadable
            raise IndexMismatch(
                f"index version {version} cannot be read ({exc}); rebuild with `viqa index --full`"
            ) from None
        if segment.rows != entry["rows"] or segment.dense.dimension != manifest.dimension:
            raise IndexMismatch(
                f"index version {version} expects {entry['rows']} rows of dimension {manifest.dimension} in segment "
                f"{segment.name}, which holds {segment.rows} of dimension {segment.dense.dimension}; "
                "rebuild with `viqa index --full`"
            )
        records = [segment.documents[i] for i in entry["deleted_documents"]]
        rows, _ = concat_ranges(
            np.array([r.first_row for r in records], dtype=np.int64),
            np.array([r.first_row + r.chunk_count for r in records], dtype=np.int64),
        )
        segments.append(segment)
        deleted.append(np.sort(rows))
    return IndexVersion(version, manifest, segments, deleted)


_LOADED: weakref.WeakValueDictionary[Path, Segment] = weakref.WeakValueDictionary()
_LOADING = threading.Lock()


def load_segment_cached(path: Path) -> Segment:
    """Return the segment at `path`, loading (and checking) it unless this process holds it already."""
    with _LOADING:
        segment = _LOADED.get(path)
        if segment is None:
            segment = load_segment(path, VERIFY_UP_TO)
            _LOADED[path] = segment
        return segment


def _publish(index_dir: Path, version: str) -> None:
    tmp = index_dir / f".{POINTER}.{uuid.uuid4().hex}"
    tmp.write_text(version + "\n", encoding="utf-8")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / POINTER)
    fsync(index_dir)


def _prune(index_dir: Path, keep: str) -> None:
    """Delete old versions, abandoned staging dirs and segments no kept version lists.

    A serving process keeps reading a pruned segment through its open files and maps.
    """
    versions = index_dir / VERSIONS
    staged = [p for p in versions.iterdir() if p.name.startswith(".tmp-") and p.name != f".tmp-{keep}"]
    published = sorted((p for p in versions.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    old = [p for p in published[:-_KEEP_VERSIONS] if p.name != keep]
    for path in staged + old:
        shutil.rmtree(path, ignore_errors=True)
    listed: set[str] = set()
    for path in versions.iterdir():
        if not path.name.startswith("."):
            try:
                listed.update(s["name"] for s in json.loads((path / "manifest.json").read_text("utf-8"))["segments"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
    segments = index_dir / SEGMENTS
    for path in segments.iterdir() if segments.exists() else []:
        if path.name not in listed:
            shutil.rmtree(path, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
