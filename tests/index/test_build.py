from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.chunk import ChunkSettings
from corpus.documents import pipeline_fingerprint
from corpus.errors import IndexBusy, RetrievalError
from index.build import needs_rebuild, update_index, writer_lock
from index.store import load_version
from tests.conftest import THIRD, KeywordEmbedder, write_document

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)


def test_an_update_embeds_only_new_chunks(small_corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    embedder = KeywordEmbedder()
    first = update_index(small_corpus, index_dir, embedder, SETTINGS)
    assert first.embedded == first.chunks == first.added and first.removed == 0

    write_document(small_corpus, *THIRD)
    embedder.passages_embedded = 0
    second = update_index(small_corpus, index_dir, embedder, SETTINGS)
    new_chunks = [c for c in load_version(index_dir).chunks if c.doc_id == "cong-doan"]
    assert second.embedded == embedder.passages_embedded == len(new_chunks) == second.added
    assert second.removed == 0 and second.chunks == first.chunks + len(new_chunks)


def test_removed_documents_leave_the_index(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    first = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    gone = sum(1 for c in load_version(index_dir).chunks if c.doc_id == "dai-hoi")
    (small_corpus / "dai-hoi.txt").unlink()
    (small_corpus / "dai-hoi.json").unlink()
    second = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    assert (second.removed, second.embedded, second.chunks) == (gone, 0, first.chunks - gone)
    assert "dai-hoi" not in load_version(index_dir).documents


def test_needs_rebuild_follows_the_corpus(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    assert needs_rebuild(small_corpus, index_dir)
    update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    assert not needs_rebuild(small_corpus, index_dir)
    write_document(small_corpus, *THIRD)
    assert needs_rebuild(small_corpus, index_dir)


def test_a_second_writer_is_turned_away(small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder) -> None:
    index_dir = tmp_path / "index"
    with writer_lock(index_dir), pytest.raises(IndexBusy, match="another writer"):
        update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)


def test_an_index_built_by_other_chunking_code_needs_a_rebuild(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    report = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    assert load_version(index_dir).manifest.pipeline_fingerprint == pipeline_fingerprint()
    manifest_file = index_dir / "versions" / report.version / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["pipeline_fingerprint"] = "built-by-older-code"
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    assert needs_rebuild(small_corpus, index_dir)


def test_an_update_with_nothing_changed_publishes_nothing(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    first = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    again = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    assert again.version == first.version and (again.added, again.removed, again.embedded) == (0, 0, 0)
    assert again.chunks == first.chunks
    assert update_index(small_corpus, index_dir, keyword_embedder, SETTINGS, full=True).version != first.version


def test_chunks_larger_than_the_embedder_input_are_refused(small_corpus: Path, tmp_path: Path) -> None:
    embedder = KeywordEmbedder()
    embedder.max_tokens = 32
    with pytest.raises(RetrievalError, match="VIQA_CHUNK_MAX_TOKENS"):
        update_index(small_corpus, tmp_path / "index", embedder, SETTINGS)
