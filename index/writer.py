"""Adding, replacing and removing documents: corpus files and index move together.

Each change validates its input completely before touching anything, then, holding
the index's single-writer lock, writes the corpus files and publishes a new index
version that embeds only the new chunks. A crash between the two steps leaves the
previous index version serving; the next update picks the corpus change up.
"""

from __future__ import annotations

import re
from pathlib import Path

from corpus.chunk import ChunkSettings
from corpus.documents import DocumentMeta, delete_document, make_document, validate_doc_id, write_document
from corpus.errors import DocumentNotFound
from corpus.normalize import fold_diacritics
from index.build import Progress, UpdateReport, update_locked, writer_lock
from index.embed import Embedder

_MAX_SLUG = 80


def new_doc_id(corpus_dir: Path, title: str, published: str) -> str:
    """Return an unused id made of the date and the title ("2025-02-03-tin-moi")."""
    words = re.sub(r"[^a-z0-9]+", "-", fold_diacritics(title).lower()).strip("-")
    base = f"{published}-{words}"[:_MAX_SLUG].rstrip("-")
    candidate, n = base, 1
    while (corpus_dir / f"{candidate}.txt").exists():
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
    progress: Progress | None = None,
) -> UpdateReport:
    """Store a new (or, with `replace`, changed) document and publish the index that has it."""
    make_document(meta, raw)  # refuse bad input before taking the lock or writing anything
    with writer_lock(index_dir):
        write_document(corpus_dir, meta, raw, replace=replace)
        return update_locked(corpus_dir, index_dir, embedder, settings, progress=progress)


def remove_document(
    corpus_dir: Path, index_dir: Path, embedder: Embedder, settings: ChunkSettings, doc_id: str
) -> UpdateReport:
    """Delete a document and publish the index without its chunks."""
    validate_doc_id(doc_id)
    if not (corpus_dir / f"{doc_id}.txt").exists():
        raise DocumentNotFound(f"no document {doc_id!r} in {corpus_dir}")
    with writer_lock(index_dir):
        delete_document(corpus_dir, doc_id)
        return update_locked(corpus_dir, index_dir, embedder, settings)
