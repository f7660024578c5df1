"""A version's passages and documents by global row and by id, read from its segments on demand."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from corpus.chunk import Chunk
from corpus.documents import DocumentMeta
from index.segment import DocumentRecord, Segment, StoredDocument


class ChunkTable(Sequence[Chunk]):
    """The passages of a version by global row, read from the segments' files on demand."""

    def __init__(self, segments: list[Segment], offsets: np.ndarray) -> None:
        self._segments = segments
        self._offsets = offsets

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, row: Any) -> Any:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if not 0 <= row < len(self):
            raise IndexError(row)
        at = int(np.searchsorted(self._offsets, row, side="right")) - 1
        return self._segments[at].chunk(row - int(self._offsets[at]))


class DocumentTable(Mapping[str, StoredDocument]):
    """The live documents of a version by id; texts are read from the segments on demand."""

    def __init__(self, segments: list[Segment], deleted: list[set[int]]) -> None:
        self._segments = segments
        self._records: dict[str, tuple[int, int, DocumentRecord]] = {}
        for at, (segment, gone) in enumerate(zip(segments, deleted)):
            for index, record in enumerate(segment.documents):
                if index not in gone:
                    self._records[record.meta.doc_id] = (at, index, record)

    def __getitem__(self, doc_id: str) -> StoredDocument:
        at, _, record = self._records[doc_id]
        text = self._segments[at].document_text(record)
        return StoredDocument(record.meta, text, record.fingerprint, record.chunk_count)

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def meta(self, doc_id: str) -> DocumentMeta:
        """Return the metadata of `doc_id` without reading its text."""
        return self._records[doc_id][2].meta

    def records(self) -> list[DocumentRecord]:
        """Return every live document without its text, in row order."""
        return [record for _, _, record in self._records.values()]

    def placed(self) -> Iterator[tuple[int, DocumentRecord]]:
        """Yield every live document without its text, with the position of its segment."""
        for at, _, record in self._records.values():
            yield at, record

    def record(self, doc_id: str) -> tuple[int, int, DocumentRecord] | None:
        """Return where `doc_id` is (segment position, index in the segment) and its record, or None."""
        return self._records.get(doc_id)
