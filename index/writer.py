"""Adding, replacing and removing documents: corpus files and index move together.

Each change validates its input completely before touching anything, then, holding
the index's single-writer lock, writes the corpus files and publishes a new index
version that embeds only the new chunks. If publishing fails, the corpus files are
put back as they were, so a refused change leaves nothing behind; a crash between
the two steps leaves the previous index version serving, and the next update picks
the corpus change up.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corpus.chunk import ChunkSettings
from corpus.documents import DocumentMeta, delete_document, make_document, validate_doc_id, write_document
from corpus.errors import DocumentNotFound
from corpus.normalize import fold_diacritics
from index.build import Progress, UpdateReport, update_locked, writer_lock
from index.dense import DenseSettings
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
    new_id: bool = False,
    progress: Progress | None = None,
    dense: DenseSettings | None = None,
) -> tuple[DocumentMeta, UpdateReport]:
    """Store a new (or, with `replace`, changed) document and publish the index that has it.

    Args:
        new_id: ignore `meta.doc_id` and give the document an unused id made of its date
            and title, chosen under the writer lock so concurrent adds cannot collide.
    """
    make_document(meta, raw)  # refuse bad input before taking the lock or writing anything
    with writer_lock(index_dir):
        if new_id:
            meta = dataclasses.replace(meta, doc_id=new_doc_id(corpus_dir, meta.title, meta.published.isoformat()))
        with _restored_on_failure(corpus_dir, meta.doc_id):
            write_document(corpus_dir, meta, raw, replace=replace)
            report = update_locked(corpus_dir, index_dir, embedder, settings, progress=progress, dense=dense)
    return meta, report


def remove_document(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    doc_id: str,
    *,
    dense: DenseSettings | None = None,
) -> UpdateReport:
    """Delete a document and publish the index without its chunks."""
    validate_doc_id(doc_id)
    with writer_lock(index_dir):
        if not (corpus_dir / f"{doc_id}.txt").exists():
            raise DocumentNotFound(f"no document {doc_id!r} in {corpus_dir}")
        with _restored_on_failure(corpus_dir, doc_id):
            delete_document(corpus_dir, doc_id)
            return update_locked(corpus_dir, index_dir, embedder, settings, dense=dense)


@contextmanager
def _restored_on_failure(corpus_dir: Path, doc_id: str) -> Iterator[None]:
    """Put the document's files back as they were if the block raises."""
    paths = [corpus_dir / f"{doc_id}{suffix}" for suffix in (".txt", ".json")]
    saved = {path: path.read_bytes() if path.exists() else None for path in paths}
    try:
        yield
    except BaseException:
        for path, content in saved.items():
            _restore(path, content)
        raise


def _restore(path: Path, content: bytes | None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(content)
