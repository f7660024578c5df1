"""`viqa index --check`: do the corpus, its sidecars and the published index agree?"""

from __future__ import annotations

from pathlib import Path

from corpus.documents import corpus_debris, document_paths, read_document
from corpus.errors import CorpusError, RetrievalError
from index import journal
from index.build import stored_document
from index.segment import damaged_files
from index.store import POINTER, SEGMENTS, VERSIONS, current_version, load_version


def differences(corpus_dir: Path, index_dir: Path) -> list[str]:
    """Return every way the corpus and the published index version disagree (none: they agree).

    `viqa index` repairs all of them: it finishes an interrupted write, removes debris,
    and publishes a version of the corpus as it is; a segment file that no longer matches
    its checksum (every file is hashed here, only the small ones at load) needs `--full`.
    """
    found = []
    intent = journal.pending(index_dir)
    if intent is not None:
        found.append(f"an interrupted {intent.operation} of {intent.doc_id!r} is in the journal")
    for path in corpus_debris(corpus_dir) + index_debris(index_dir) + journal.debris(index_dir):
        found.append(f"{path} was left by an interrupted write")
    documents = {}
    for path in document_paths(corpus_dir):
        try:
            documents[path.stem] = stored_document(read_document(path))
        except CorpusError as exc:
            found.append(f"{path.name} cannot be indexed: {exc}")
    if current_version(index_dir) is None:
        return found + [f"no index version is published in {index_dir}"]
    try:
        version = load_version(index_dir)
    except RetrievalError as exc:
        return found + [str(exc)]
    for segment in version.segments:
        found += [f"{problem}: rebuild with `viqa index --full`" for problem in damaged_files(segment.path)]
    indexed = {record.meta.doc_id: record for record in version.documents.records()}
    for doc_id in sorted(documents.keys() - indexed.keys()):
        found.append(f"{doc_id} is in the corpus but not in index version {version.version}")
    for doc_id in sorted(indexed.keys() - documents.keys()):
        found.append(f"{doc_id} is in index version {version.version} but not in the corpus")
    for doc_id in sorted(documents.keys() & indexed.keys()):
        if documents[doc_id].fingerprint != indexed[doc_id].fingerprint:
            found.append(f"{doc_id} changed in the corpus since index version {version.version}")
    return found


def index_debris(index_dir: Path) -> list[Path]:
    """Return what a crashed writer left: unpublished pointers, staged versions and segments."""
    found = list(index_dir.glob(f".{POINTER}.*"))
    for folder in (VERSIONS, SEGMENTS):
        found += list((index_dir / folder).glob(".tmp-*"))
    return sorted(found)
