"""Documents that come as files: their text and metadata, and the file kept for readers.

A file added through `viqa add` or `POST /documents` is stored like every document, as
text and sidecar (citations point into that text); when it was not plain text, the file
itself is kept as `originals/<doc_id><suffix>` in the corpus directory, so a reader can
open what the office published.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from corpus.documents import ORIGINALS, decode_text, source_path, write_atomic
from corpus.formats import SUFFIXES, extract


@dataclass(frozen=True)
class FileDocument:
    """A document read from a file: metadata fields (the file's, overridden by those given) and text."""

    fields: dict[str, Any]
    raw: str
    data: bytes
    suffix: str


def read_file(data: bytes, name: str, given: dict[str, Any]) -> FileDocument:
    """Return the document in the file `name` holding `data`; `given` fields override the file's metadata."""
    suffix = PurePath(name).suffix.lower()
    if suffix == ".txt" or not suffix:  # plain text is kept exactly as given, as in the corpus directory
        return FileDocument(dict(given), decode_text(data, name), data, ".txt")
    extracted = extract(data, name)
    return FileDocument(extracted.meta | given, extracted.text, data, suffix)


def keep_original(corpus_dir: Path, doc_id: str, document: FileDocument | None) -> None:
    """Keep the file `doc_id` was read from beside its text (none for plain text, which is the text).

    Called by the writer, under its lock, once the document's text is stored and indexed.
    """
    drop_originals(corpus_dir, doc_id)
    if document is not None and document.suffix != ".txt":
        (corpus_dir / ORIGINALS).mkdir(exist_ok=True)
        write_atomic(corpus_dir / ORIGINALS / f"{doc_id}{document.suffix}", document.data)


def drop_originals(corpus_dir: Path, doc_id: str) -> None:
    """Remove the kept file of `doc_id`, if any."""
    for suffix in SUFFIXES:
        (corpus_dir / ORIGINALS / f"{doc_id}{suffix}").unlink(missing_ok=True)


def original_path(corpus_dir: Path, doc_id: str) -> Path | None:
    """Return the file a reader opens for `doc_id`: the kept original, else the file it is read from."""
    for suffix in SUFFIXES:
        kept = corpus_dir / ORIGINALS / f"{doc_id}{suffix}"
        if kept.is_file():
            return kept
    return source_path(corpus_dir, doc_id)
