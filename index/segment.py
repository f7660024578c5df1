"""One segment of an index: passages, their documents, vectors and word indexes, as plain files.

    <index_dir>/segments/<name>/
        segment.json           rows, documents, dimension, dense layout, size and sha256 of every file
        chunks.*.npy           one column per chunk field (document, section, paragraphs, offsets, digest)
        chunks.text.bin        the passages' texts, UTF-8, at byte offsets chunks.text_at.npy
        sections.json          the section headings the chunks name
        documents.jsonl        metadata of each document, its rows and where its clean text is
        documents.bin          the documents' clean texts, UTF-8
        dense.faiss            the vectors (index/dense.py)
        passages-*, sentences-*, sentence.*, period.*, vocabulary.json   (index/textindex.py)

A segment never changes once written. A version is a list of segments plus the rows of
each that were deleted since (index/store.py), so adding a document writes one small
segment and removing one writes a list of rows; neither touches the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.chunk import Chunk
from corpus.documents import DocumentMeta, fsync
from index.bm25 import mapped
from index.dense import DenseIndex, build_index
from index.textindex import TextIndex

META = "segment.json"
_DENSE = "dense.faiss"


@dataclass(frozen=True)
class StoredDocument:
    """A document as the index serves it: metadata, clean text, chunk count."""

    meta: DocumentMeta
    text: str
    fingerprint: str
    chunk_count: int


@dataclass(frozen=True)
class DocumentRecord:
    """A document of a segment without its text: what listings and diffs need."""

    meta: DocumentMeta
    fingerprint: str
    first_row: int
    chunk_count: int
    text_at: tuple[int, int]  # byte range in documents.bin


@dataclass(frozen=True)
class Segment:
    """One loaded segment: columns and indexes memory-mapped, metadata in memory."""

    name: str
    path: Path
    rows: int
    dense: DenseIndex
    text: TextIndex
    documents: list[DocumentRecord]  # in row order: document i holds rows first_row .. + chunk_count
    _columns: dict[str, np.ndarray]
    _sections: list[str]

    def chunk(self, row: int) -> Chunk:
        """Return the passage at local `row`."""
        columns = self._columns
        record = self.documents[int(columns["doc"][row])]
        section = int(columns["section"][row])
        start, end = (int(x) for x in columns["offsets"][row])
        first, last = (int(x) for x in columns["paragraphs"][row])
        at, to = int(columns["text_at"][row]), int(columns["text_at"][row + 1])
        doc_id = record.meta.doc_id
        return Chunk(
            chunk_id=f"{doc_id}#{bytes(columns['digest'][row]).decode()}",
            doc_id=doc_id,
            section=self._sections[section] if section >= 0 else None,
            paragraphs=(first, last),
            start=start,
            end=end,
            text=bytes(self._columns["text"][at:to]).decode("utf-8"),
        )

    def document_text(self, record: DocumentRecord) -> str:
        """Return the clean text of one of this segment's documents."""
        start, end = record.text_at
        with open(self.path / "documents.bin", "rb") as handle:
            handle.seek(start)
            return handle.read(end - start).decode("utf-8")


def write_segment(
    directory: Path,
    chunks: Sequence[Chunk],
    documents: Sequence[StoredDocument],
    vectors: np.ndarray,
    text: TextIndex,
    layout: dict[str, Any],
) -> dict[str, Any]:
    """Write a segment into the new directory `directory` (atomically: staged, then renamed).

    `chunks` are in document order, each document's chunks together; row i of `vectors`
    and of `text` is chunk i. Returns the segment's metadata.
    """
    if not (len(chunks) == len(vectors) == text.size):
        raise ValueError(f"{len(chunks)} chunks, {len(vectors)} vectors and {text.size} indexed rows differ")
    staging = directory.with_name(f".tmp-{directory.name}")
    staging.mkdir(parents=True)
    try:
        files = _write_chunks(staging, chunks, documents)
        files += text.save(staging)
        DenseIndex(build_index(vectors, vectors.shape[1], layout), layout).save(staging / _DENSE)
        files.append(_DENSE)
        meta = {
            "rows": len(chunks),
            "documents": len(documents),
            "dimension": int(vectors.shape[1]),
            "dense": layout,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "files": {name: _describe(staging / name) for name in files},
        }
        (staging / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        for name in [*files, META]:
            fsync(staging / name)
        fsync(staging)
        os.rename(staging, directory)
        fsync(directory.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return meta


def load_segment(directory: Path, verify_up_to: int) -> Segment:
    """Return the segment in `directory`, checking every file's size and, up to `verify_up_to` bytes, its sha256.

    Raises:
        ValueError, OSError: a file is missing, damaged or unreadable.
    """
    meta = json.loads((directory / META).read_text(encoding="utf-8"))
    damaged = _damaged(directory, meta["files"], verify_up_to)
    if damaged:
        raise ValueError(damaged[0])
    columns = {name: mapped(directory / f"chunks.{name}.npy") for name in _COLUMNS}
    blob = directory / "chunks.text.bin"
    columns["text"] = (
        np.asarray(np.memmap(blob, dtype=np.uint8, mode="r")) if _nonempty(blob) else np.zeros(0, np.uint8)
    )
    documents = [_record(json.loads(line)) for line in (directory / "documents.jsonl").open(encoding="utf-8")]
    dense = DenseIndex.load(directory / _DENSE, meta["dense"])
    segment = Segment(
        directory.name,
        directory,
        int(meta["rows"]),
        dense,
        TextIndex.load(directory),
        documents,
        columns,
        json.loads((directory / "sections.json").read_text(encoding="utf-8")),
    )
    if not (segment.rows == dense.size == segment.text.size == len(columns["doc"])):
        raise ValueError(f"segment {directory.name} holds {dense.size} vectors for {segment.rows} rows")
    if dense.dimension != meta["dimension"]:
        raise ValueError(f"segment {directory.name} holds vectors of dimension {dense.dimension}")
    return segment


_COLUMNS = ("doc", "section", "paragraphs", "offsets", "digest", "text_at")


def _write_chunks(directory: Path, chunks: Sequence[Chunk], documents: Sequence[StoredDocument]) -> list[str]:
    doc_index = {d.meta.doc_id: i for i, d in enumerate(documents)}
    sections: dict[str, int] = {}
    encoded = [c.text.encode("utf-8") for c in chunks]
    columns: dict[str, np.ndarray] = {
        "doc": np.array([doc_index[c.doc_id] for c in chunks], dtype=np.int32),
        "section": np.array(
            [sections.setdefault(c.section, len(sections)) if c.section is not None else -1 for c in chunks],
            dtype=np.int32,
        ),
        "paragraphs": np.array([c.paragraphs for c in chunks], dtype=np.int32).reshape(-1, 2),
        "offsets": np.array([(c.start, c.end) for c in chunks], dtype=np.int64).reshape(-1, 2),
        "digest": np.array([c.chunk_id.rsplit("#", 1)[1].encode() for c in chunks], dtype="S16"),
        "text_at": np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64),
    }
    if np.any(np.diff(columns["doc"]) < 0):
        raise ValueError("a segment's chunks must come in document order")
    for name, column in columns.items():
        np.save(directory / f"chunks.{name}.npy", column, allow_pickle=False)
    with open(directory / "chunks.text.bin", "wb") as handle:
        for data in encoded:
            handle.write(data)
    (directory / "sections.json").write_text(json.dumps(list(sections), ensure_ascii=False), encoding="utf-8")
    counts = np.bincount(columns["doc"], minlength=len(documents))
    first_rows = np.concatenate([[0], np.cumsum(counts)])
    offset = 0
    with (
        open(directory / "documents.jsonl", "w", encoding="utf-8") as rows,
        open(directory / "documents.bin", "wb") as texts,
    ):
        for i, document in enumerate(documents):
            data = document.text.encode("utf-8")
            texts.write(data)
            row = {
                "doc_id": document.meta.doc_id,
                **document.meta.to_json(),
                "fingerprint": document.fingerprint,
                "first_row": int(first_rows[i]),
                "chunk_count": int(counts[i]),
                "text_at": [offset, offset + len(data)],
            }
            rows.write(json.dumps(row, ensure_ascii=False) + "\n")
            offset += len(data)
    return [f"chunks.{name}.npy" for name in columns] + [
        "chunks.text.bin",
        "sections.json",
        "documents.jsonl",
        "documents.bin",
    ]


def damaged_files(directory: Path, verify_up_to: int | None = None) -> list[str]:
    """Return how the segment's files differ from its record: size, and sha256 up to `verify_up_to` bytes (None: all).

    Raises:
        OSError: the segment's own record (segment.json) or a file is unreadable.
    """
    return _damaged(directory, json.loads((directory / META).read_text(encoding="utf-8"))["files"], verify_up_to)


def _damaged(directory: Path, files: dict[str, dict[str, Any]], verify_up_to: int | None) -> list[str]:
    found = []
    for name, expected in files.items():
        path = directory / name
        if not path.exists():
            found.append(f"{path} is missing")
            continue
        size = path.stat().st_size
        if size != expected["bytes"]:
            found.append(f"{path} has {size} bytes, not {expected['bytes']}")
        elif (verify_up_to is None or size <= verify_up_to) and _sha256(path) != expected["sha256"]:
            found.append(f"{path} does not match its checksum")
    return found


def _record(row: dict[str, Any]) -> DocumentRecord:
    meta = DocumentMeta(row["doc_id"], row["title"], dt.date.fromisoformat(row["published"]), row["author"], row["url"])
    return DocumentRecord(meta, row["fingerprint"], row["first_row"], row["chunk_count"], tuple(row["text_at"]))


def _describe(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _nonempty(path: Path) -> bool:
    return path.stat().st_size > 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
