"""A version's list of segments: adding one, deleting documents from them, merging them.

A version lists its segments as entries {"name", "rows", "deleted_documents",
"deleted_rows"}. Adding documents writes one new segment; deleting a document adds its
index to its segment's `deleted_documents` (a tombstone) and rewrites nothing; a merge
writes the live rows of some segments into one new segment, reusing their vectors and
re-analysing only their text. Row order is kept: a merge puts the merged rows where the
first merged segment was, each document's rows in the order they had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corpus.chunk import Chunk
from index.dense import DenseSettings
from index.segment import Segment, StoredDocument, write_segment
from index.store import SEGMENTS, IndexVersion, load_segment_cached, new_name, save_version
from index.textindex import TextIndex

Entry = dict[str, Any]
MAX_SEGMENTS = 8  # more than this after an update: the smallest segments are merged into one
# Live rows a merge may write into one segment (Lucene's largest merged segment). A merge
# analyses the merged text in memory: merging a million synthetic passages into one segment
# outgrew this machine's 24 GB and was killed, while segments of 250,000 build in a few GB.
MAX_MERGED_ROWS = 250_000


def write_new_segment(
    index_dir: Path,
    chunks: Sequence[Chunk],
    documents: Sequence[StoredDocument],
    vectors: np.ndarray,
    dense: DenseSettings,
    text: TextIndex | None = None,
) -> Entry:
    """Write the segment of `chunks` (in document order) and return its entry.

    Args:
        text: the chunks' text index when the caller has it already; else it is built here.
    """
    name = new_name()
    if text is None:
        text = TextIndex.build(chunks, {d.meta.doc_id: d.text for d in documents})
    write_segment(index_dir / SEGMENTS / name, chunks, documents, vectors, text, dense.layout(len(chunks)))
    return {"name": name, "rows": len(chunks), "deleted_documents": [], "deleted_rows": 0}


def publish(
    index_dir: Path,
    previous: IndexVersion | None,
    gone: Sequence[str],
    added: tuple[Sequence[Chunk], Sequence[StoredDocument], np.ndarray] | None,
    dense: DenseSettings,
    fields: dict[str, Any],
    servable: Callable[[IndexVersion], None] | None = None,
) -> tuple[str, int]:
    """Publish `previous` without the documents `gone`, plus a segment of the `added` documents.

    Args:
        servable: checks the new version before it is published (see `save_version`).
        added: chunks (in document order), their documents and vectors; None adds nothing.
        fields: manifest fields but for the segment list and the chunk count.
    Returns:
        the new version's name and its number of live chunks.
    """
    entries = without(previous, gone) if previous else []
    if added is not None:
        entries.append(write_new_segment(index_dir, *added, dense))
    if len(entries) > MAX_SEGMENTS:
        entries = merge(index_dir, entries, smallest(entries), dense)
    chunks = sum(_live(e) for e in entries)
    return save_version(index_dir, entries, {**fields, "chunk_count": chunks}, servable), chunks


def without(version: IndexVersion, doc_ids: Sequence[str]) -> list[Entry]:
    """Return the entries of `version` with `doc_ids` deleted; a segment left empty is dropped."""
    entries = [dict(entry, deleted_documents=list(entry["deleted_documents"])) for entry in version.manifest.segments]
    for doc_id in doc_ids:
        found = version.documents.record(doc_id)
        if found is None:
            continue
        at, index, record = found
        entries[at]["deleted_documents"].append(index)
        entries[at]["deleted_rows"] += record.chunk_count
    for entry in entries:
        entry["deleted_documents"].sort()
    return [entry for entry in entries if entry["rows"] > entry["deleted_rows"] or not entry["rows"]]


def old_vectors(version: IndexVersion, doc_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Return the vectors of the chunks of `doc_ids` by chunk id, for a changed document to reuse."""
    vectors: dict[str, np.ndarray] = {}
    for doc_id in doc_ids:
        found = version.documents.record(doc_id)
        if found is None:
            continue
        at, _, record = found
        segment = version.segments[at]
        rows = np.arange(record.first_row, record.first_row + record.chunk_count)
        for row, vector in zip(rows.tolist(), segment.dense.vectors(rows) if len(rows) else []):
            vectors[segment.chunk(row).chunk_id] = vector
    return vectors


def merge(index_dir: Path, entries: list[Entry], which: Sequence[int], dense: DenseSettings) -> list[Entry]:
    """Return `entries` with those at positions `which` replaced by one segment of their live rows."""
    which = sorted(which)
    if not which or (len(which) < 2 and not any(entries[i]["deleted_rows"] for i in which)):
        return entries
    chunks: list[Chunk] = []
    documents: list[StoredDocument] = []
    vectors: list[np.ndarray] = []
    for i in which:
        segment = load_segment_cached(index_dir / SEGMENTS / entries[i]["name"])
        _collect(segment, set(entries[i]["deleted_documents"]), chunks, documents, vectors)
    dimension = load_segment_cached(index_dir / SEGMENTS / entries[which[0]]["name"]).dense.dimension
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, dimension), dtype=np.float32)
    merged = [write_new_segment(index_dir, chunks, documents, matrix, dense)] if chunks else []
    return [*entries[: which[0]], *merged, *(e for i, e in enumerate(entries) if i > which[0] and i not in which)]


def smallest(entries: list[Entry]) -> list[int]:
    """Return the positions of the segments with the fewest live rows that one merge may join (none if under two)."""
    chosen, rows = [], 0
    for i in sorted(range(len(entries)), key=lambda i: _live(entries[i])):
        if rows + _live(entries[i]) > MAX_MERGED_ROWS:
            break
        chosen.append(i)
        rows += _live(entries[i])
    return chosen if len(chosen) > 1 else []


def merge_groups(entries: list[Entry]) -> list[list[int]]:
    """Return the runs of neighbouring segments that `--optimize` merges, each of MAX_MERGED_ROWS live rows at most.

    A segment alone in its run is rewritten only if it has deleted rows to drop.
    """
    groups: list[list[int]] = []
    rows = 0  # live rows of the last run
    for i, entry in enumerate(entries):
        if groups and rows + _live(entry) <= MAX_MERGED_ROWS:
            groups[-1].append(i)
            rows += _live(entry)
        else:
            groups.append([i])
            rows = _live(entry)
    return [g for g in groups if len(g) > 1 or entries[g[0]]["deleted_rows"]]


def _live(entry: Entry) -> int:
    return int(entry["rows"] - entry["deleted_rows"])


def _collect(
    segment: Segment,
    deleted: set[int],
    chunks: list[Chunk],
    documents: list[StoredDocument],
    vectors: list[np.ndarray],
) -> None:
    """Append the live documents of `segment`, their chunks and vectors."""
    for index, record in enumerate(segment.documents):
        if index in deleted:
            continue
        rows = np.arange(record.first_row, record.first_row + record.chunk_count)
        documents.append(StoredDocument(record.meta, segment.document_text(record), record.fingerprint, len(rows)))
        chunks.extend(segment.chunk(row) for row in rows.tolist())
        if len(rows):
            vectors.append(segment.dense.vectors(rows))
