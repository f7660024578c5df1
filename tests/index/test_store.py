from __future__ import annotations

import dataclasses
import json
import weakref
from pathlib import Path

import pytest

from corpus.chunk import ChunkSettings
from corpus.errors import IndexMismatch, IndexNotFound
from index import store
from index.build import check_compatible, chunker_config, update_index
from index.check import differences
from index.encoder import QueryEncoder
from index.live import LiveIndex
from index.search import Retriever
from index.store import IndexVersion, current_version, load_version, read_manifest
from tests.conftest import KeywordEmbedder

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)


def test_round_trip_keeps_hits_and_manifest(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    report = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    loaded = load_version(index_dir)
    assert loaded.version == report.version == current_version(index_dir)
    manifest = loaded.manifest
    assert (manifest.embedder, manifest.dimension, manifest.chunker) == ("keyword-test", 256, chunker_config(SETTINGS))
    assert manifest.chunk_count == len(loaded.chunks) == loaded.size == report.chunks
    assert manifest.document_count == 2 and len(manifest.corpus_fingerprint) == 64
    assert [s["name"] for s in manifest.segments] == [s.name for s in loaded.segments]
    listed = json.loads((loaded.segments[0].path / "segment.json").read_text(encoding="utf-8"))["files"]
    assert {"dense.faiss", "chunks.text.bin", "documents.jsonl", "passages-folded.rows.npy"} <= set(listed)
    assert all(len(f["sha256"]) == 64 for f in listed.values())

    retriever = Retriever.build(loaded, QueryEncoder(keyword_embedder))
    hits = retriever.search("Trụ sở chuyển về Hồ Xuân Hương năm nào?", 3).hits
    assert "18 Hồ Xuân Hương" in hits[0].chunk.text
    again = load_version(index_dir)

    def ranked(version: IndexVersion) -> list[tuple[str, float]]:
        outcome = Retriever.build(version, QueryEncoder(keyword_embedder)).search("Trụ sở chuyển về đâu", 3)
        return [(h.chunk.chunk_id, h.score) for h in outcome.hits]

    assert ranked(again) == ranked(loaded)
    assert again.manifest == manifest


def test_documents_are_stored_with_clean_text_for_citations(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    update_index(small_corpus, tmp_path / "index", keyword_embedder, SETTINGS)
    loaded = load_version(tmp_path / "index")
    for chunk in loaded.chunks:
        assert loaded.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text


def test_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound, match="viqa index"):
        load_version(tmp_path / "nothing")


def test_index_of_another_embedder_or_chunker_is_refused(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    manifest = load_version(index_dir).manifest
    with pytest.raises(IndexMismatch, match=r"keyword-test.*other-model.*viqa index --full"):
        check_compatible(manifest, "other-model", 256, chunker_config(SETTINGS))
    with pytest.raises(IndexMismatch, match="chunker settings"):
        LiveIndex(index_dir, QueryEncoder(keyword_embedder), dataclasses.replace(SETTINGS, max_tokens=99))
    with pytest.raises(IndexMismatch, match="384 dims"):
        LiveIndex(index_dir, QueryEncoder(KeywordEmbedder(dim=384)), SETTINGS)


def test_a_damaged_file_is_detected(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    report = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    # Loaded as a process starting on these files: this one may still hold (until the garbage
    # collector runs) the segments update_index checked, and would not read them again.
    monkeypatch.setattr(store, "_LOADED", weakref.WeakValueDictionary())
    segment = index_dir / "segments" / read_manifest(index_dir, report.version).segments[0]["name"]
    text = segment / "chunks.text.bin"
    damaged = bytearray(text.read_bytes())
    damaged[10] ^= 0xFF  # same size, other bytes
    text.write_bytes(bytes(damaged))
    with pytest.raises(IndexMismatch, match="checksum"):
        load_version(index_dir)
    (segment / "passages-accented.tf.npy").unlink()
    with pytest.raises(IndexMismatch, match="rebuild"):
        load_version(index_dir)


def test_a_large_damaged_file_loads_but_the_check_reports_it(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    report = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    assert differences(small_corpus, index_dir) == []
    segment = index_dir / "segments" / read_manifest(index_dir, report.version).segments[0]["name"]
    postings = segment / "passages-accented.tf.npy"
    damaged = bytearray(postings.read_bytes())
    damaged[-1] ^= 0x01
    postings.write_bytes(bytes(damaged))
    monkeypatch.setattr(store, "VERIFY_UP_TO", 0)  # every file is "large": checked by size at load
    monkeypatch.setattr(store, "_LOADED", weakref.WeakValueDictionary())
    assert load_version(index_dir).size == report.chunks
    assert differences(small_corpus, index_dir) == [
        f"{postings} does not match its checksum: rebuild with `viqa index --full`"
    ]


def test_a_manifest_that_disagrees_with_the_vectors_is_refused(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    report = update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    manifest_file = index_dir / "versions" / report.version / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    manifest["dimension"] = 128
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="dimension"):
        load_version(index_dir)
