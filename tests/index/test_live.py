from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

import index.build
from corpus.chunk import ChunkSettings
from corpus.errors import IndexMismatch
from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from index.publishing import check_servable
from index.search import Retriever
from index.store import POINTER, IndexVersion, current_version, load_version, read_manifest, save_version
from tests.conftest import THIRD, KeywordEmbedder, write_document

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)


def test_refresh_swaps_while_a_request_keeps_its_version(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    live = LiveIndex(index_dir, QueryEncoder(embedder), SETTINGS)
    in_flight = live.retriever  # what a request started before the swap holds
    write_document(small_corpus, *THIRD)
    report = update_index(small_corpus, index_dir, embedder, SETTINGS)
    assert live.version.version != report.version
    assert live.refresh() and live.version.version == report.version
    assert not live.refresh()
    assert "cong-doan" not in in_flight.version.documents
    assert in_flight.search("Công đoàn có bao nhiêu đoàn viên?", 1).hits  # still answers on its version
    assert live.search("Công đoàn có bao nhiêu đoàn viên?", 1).hits[0].chunk.doc_id == "cong-doan"


def test_a_checked_version_is_served_as_built_and_only_if_it_is_the_one_published(
    small_corpus: Path, tmp_path: Path
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    live = LiveIndex(index_dir, QueryEncoder(embedder), SETTINGS)
    checked: list[Retriever] = []
    write_document(small_corpus, *THIRD)
    adopted = update_index(small_corpus, index_dir, embedder, SETTINGS, ready=checked.append)
    live.adopt(checked[0])
    assert live.refresh() and live.version is checked[0].version
    assert live.retriever.rewriter is checked[0].rewriter and live.retriever.encoder is live.encoder
    assert live.search("Công đoàn có bao nhiêu đoàn viên?", 1).hits[0].chunk.doc_id == "cong-doan"
    # A checked version that another one superseded before the swap is not served.
    live.adopt(check_servable(load_version(index_dir, adopted.version)))
    newest = update_index(small_corpus, index_dir, embedder, SETTINGS, full=True)
    assert live.refresh() and live.version.version == newest.version


def test_a_write_that_fails_after_its_check_hands_over_no_retriever(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    write_document(small_corpus, *THIRD)

    def disk_full(*args: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(index.build, "published", disk_full)  # fails after the check passed
    checked: list[Retriever] = []
    with pytest.raises(OSError, match="No space"):
        update_index(small_corpus, index_dir, embedder, SETTINGS, ready=checked.append)
    assert checked == []


def test_a_broken_version_is_rejected_once_and_the_old_one_kept(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    first = update_index(small_corpus, index_dir, embedder, SETTINGS)
    live = LiveIndex(index_dir, QueryEncoder(embedder), SETTINGS)
    write_document(small_corpus, *THIRD)
    broken = update_index(small_corpus, index_dir, embedder, SETTINGS)
    segment = read_manifest(index_dir, broken.version).segments[-1]["name"]
    (index_dir / "segments" / segment / "chunks.text.bin").write_text("", encoding="utf-8")
    with pytest.raises(IndexMismatch):
        live.refresh()
    assert not live.refresh()  # not loaded again until another version is published
    assert live.version.version == first.version
    fixed = update_index(small_corpus, index_dir, embedder, SETTINGS, full=True)
    assert live.refresh() and live.version.version == fixed.version


def test_a_pointer_that_names_no_version_is_refused(small_corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    update_index(small_corpus, index_dir, KeywordEmbedder(), SETTINGS)
    (index_dir / POINTER).write_text("../../etc\n", encoding="utf-8")
    with pytest.raises(IndexMismatch, match="not an index version"):
        current_version(index_dir)


def test_a_service_starting_on_a_broken_version_serves_the_newest_that_loads(
    small_corpus: Path, tmp_path: Path
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    first = update_index(small_corpus, index_dir, embedder, SETTINGS)
    write_document(small_corpus, *THIRD)
    broken = update_index(small_corpus, index_dir, embedder, SETTINGS)
    segment = read_manifest(index_dir, broken.version).segments[-1]["name"]
    (index_dir / "segments" / segment / "chunks.text.bin").write_text("", encoding="utf-8")  # a disk fault, later
    live = LiveIndex(index_dir, QueryEncoder(embedder), SETTINGS)
    assert live.version.version == first.version
    assert live.problem is not None and broken.version in live.problem and first.version in live.problem
    assert live.search("Trụ sở chuyển về đâu năm 2006?", 1).hits[0].chunk.doc_id == "thanh-lap"
    fixed = update_index(small_corpus, index_dir, embedder, SETTINGS, full=True)
    assert live.refresh() and live.version.version == fixed.version and live.problem is None


def test_a_version_that_does_not_load_is_never_published(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    first = update_index(small_corpus, index_dir, embedder, SETTINGS)
    manifest = read_manifest(index_dir)
    fields = {k: v for k, v in asdict(manifest).items() if k not in ("format_version", "created_at", "segments")}
    missing = [{"name": "20990101T000000000000-abcdef", "rows": 3, "deleted_documents": [], "deleted_rows": 0}]
    with pytest.raises(IndexMismatch, match="not published"):
        save_version(index_dir, manifest.segments + missing, fields)

    def unservable(version: IndexVersion) -> None:
        raise RuntimeError("cannot build the BM25 fields")

    with pytest.raises(IndexMismatch, match="cannot build the BM25 fields"):
        save_version(index_dir, manifest.segments, fields, unservable)
    assert current_version(index_dir) == first.version
    assert [p.name for p in (index_dir / "versions").iterdir()] == [first.version]
