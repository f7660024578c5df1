from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from corpus.chunk import ChunkSettings
from corpus.documents import DocumentMeta, corpus_fingerprint
from corpus.errors import CorpusError, DocumentExists, IndexBusy
from index.build import update_index, writer_lock
from index.encoder import QueryEncoder
from index.live import LiveIndex
from index.search import Retriever
from index.store import IndexVersion, current_version, load_version
from index.writer import add_document, new_doc_id, remove_document
from tests.conftest import THIRD, KeywordEmbedder, write_document

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)
META = DocumentMeta("cong-doan", "Công đoàn Viên chức", dt.date(2004, 5, 19))
QUESTIONS = ["Công đoàn có bao nhiêu đoàn viên?", "Trụ sở chuyển về đâu năm 2006?", "Đại hội lần thứ nhất họp khi nào?"]


def test_adding_a_document_embeds_only_its_chunks(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    first = update_index(small_corpus, index_dir, embedder, SETTINGS)
    embedder.passages_embedded = 0
    report = add_document(small_corpus, index_dir, embedder, SETTINGS, META, THIRD[3]).report
    new = [c for c in load_version(index_dir).chunks if c.doc_id == "cong-doan"]
    assert report.embedded == embedder.passages_embedded == len(new) == report.added > 0
    assert report.removed == 0 and report.chunks == first.chunks + len(new)
    assert (small_corpus / "cong-doan.txt").read_text(encoding="utf-8") == THIRD[3]


def test_invalid_input_writes_nothing(small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder) -> None:
    index_dir = tmp_path / "index"
    update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    before = (corpus_fingerprint(small_corpus), current_version(index_dir), sorted(os.listdir(small_corpus)))
    with pytest.raises(CorpusError, match="no text"):
        add_document(small_corpus, index_dir, keyword_embedder, SETTINGS, META, "  \n ")
    with pytest.raises(DocumentExists):
        add_document(
            small_corpus,
            index_dir,
            keyword_embedder,
            SETTINGS,
            dataclasses.replace(META, doc_id="thanh-lap"),
            "Văn bản.",
        )
    assert (corpus_fingerprint(small_corpus), current_version(index_dir), sorted(os.listdir(small_corpus))) == before


def test_replace_and_remove_change_only_that_document(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    kept = {c.chunk_id for c in load_version(index_dir).chunks if c.doc_id == "dai-hoi"}
    report = add_document(
        small_corpus,
        index_dir,
        embedder,
        SETTINGS,
        dataclasses.replace(META, doc_id="thanh-lap"),
        "Nội dung mới hoàn toàn.",
        replace=True,
    ).report
    assert report.added == 1 and report.removed > 0
    assert kept <= {c.chunk_id for c in load_version(index_dir).chunks}
    removed = remove_document(small_corpus, index_dir, embedder, SETTINGS, "thanh-lap").report
    assert removed.removed == 1 and removed.embedded == 0
    assert set(load_version(index_dir).documents) == {"dai-hoi"}


def test_incremental_and_full_rebuild_agree(small_corpus: Path, tmp_path: Path) -> None:
    embedder = KeywordEmbedder()
    update_index(small_corpus, tmp_path / "incremental", embedder, SETTINGS)
    add_document(small_corpus, tmp_path / "incremental", embedder, SETTINGS, META, THIRD[3])
    update_index(small_corpus, tmp_path / "full", embedder, SETTINGS, full=True)
    incremental, full = load_version(tmp_path / "incremental"), load_version(tmp_path / "full")
    assert (len(incremental.segments), len(full.segments)) == (2, 1)  # the added document has its own segment

    def vectors(version: IndexVersion) -> dict[str, np.ndarray]:
        rows = np.arange(version.size)
        return {version.chunks[r].chunk_id: v for r, v in zip(rows.tolist(), version.vectors(rows))}

    by_id, expected = vectors(incremental), vectors(full)
    assert sorted(by_id) == sorted(expected)
    assert all(np.allclose(by_id[i], expected[i]) for i in expected)
    for question in QUESTIONS:
        a = Retriever.build(incremental, QueryEncoder(embedder)).search(question, 5)
        b = Retriever.build(full, QueryEncoder(embedder)).search(question, 5)
        assert [(h.chunk.chunk_id, round(h.score, 6)) for h in a.hits] == [
            (h.chunk.chunk_id, round(h.score, 6)) for h in b.hits
        ]


def test_new_doc_ids_are_slugs_of_date_and_title(tmp_path: Path) -> None:
    assert new_doc_id(tmp_path, "Công đoàn Viên chức: 20 năm!", "2024-05-19") == "2024-05-19-cong-doan-vien-chuc-20-nam"
    (tmp_path / "2024-05-19-cong-doan.txt").write_text("x", encoding="utf-8")
    assert new_doc_id(tmp_path, "Công đoàn", "2024-05-19") == "2024-05-19-cong-doan-2"


def test_a_second_writer_gets_a_clear_message(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    with writer_lock(tmp_path / "index"), pytest.raises(IndexBusy, match="another writer"):
        add_document(small_corpus, tmp_path / "index", keyword_embedder, SETTINGS, META, THIRD[3])
    assert not (small_corpus / "cong-doan.txt").exists()


# The writer runs in a child process that pauses at a chosen point, so it can be killed there.
_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import index.store as store
    from corpus.chunk import ChunkSettings
    from index.build import update_index
    from tests.conftest import KeywordEmbedder

    corpus_dir, index_dir, where = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    embedder = KeywordEmbedder()
    if where == "embedding":
        original = embedder.embed_passages
        def slow(texts):
            print("embedding", flush=True); time.sleep(60); return original(texts)
        embedder.embed_passages = slow
    else:  # while the new version's files are half written
        original = store._write_json
        def slow(path, data):
            original(path, data); print("writing", flush=True); time.sleep(60)
        store._write_json = slow
    update_index(corpus_dir, index_dir, embedder, ChunkSettings(max_tokens=40, overlap_sentences=1))
    """
)


@pytest.mark.parametrize("where", ["embedding", "writing"])
def test_a_writer_killed_mid_update_leaves_the_old_version_serving(
    small_corpus: Path, tmp_path: Path, where: str
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    old = current_version(index_dir)
    live = LiveIndex(index_dir, QueryEncoder(embedder), SETTINGS)
    write_document(small_corpus, *THIRD)

    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(small_corpus), str(index_dir), where],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() in ("embedding", "writing")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

    assert current_version(index_dir) == old
    assert not live.refresh() and live.version.version == old
    assert "cong-doan" not in load_version(index_dir).documents
    assert live.search("Trụ sở chuyển về đâu năm 2006?", 1).hits[0].chunk.doc_id == "thanh-lap"

    started = time.monotonic()
    report = update_index(small_corpus, index_dir, embedder, SETTINGS)  # the dead writer's lock is gone
    assert time.monotonic() - started < 10 and report.version != old
    assert "cong-doan" in load_version(index_dir).documents
    assert not [p for p in (index_dir / "versions").iterdir() if p.name.startswith(".tmp-")]
    assert live.refresh() and live.version.version == report.version


def test_a_failed_publication_puts_the_corpus_back(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    original = (small_corpus / "thanh-lap.txt").read_text(encoding="utf-8")
    (small_corpus / "broken.txt").write_text("Văn bản không có tệp siêu dữ liệu.", encoding="utf-8")
    before = current_version(index_dir)
    with pytest.raises(CorpusError, match="broken.txt has no metadata"):
        add_document(small_corpus, index_dir, embedder, SETTINGS, META, THIRD[3])
    with pytest.raises(CorpusError, match="broken.txt has no metadata"):
        add_document(
            small_corpus,
            index_dir,
            embedder,
            SETTINGS,
            dataclasses.replace(META, doc_id="thanh-lap"),
            "Thay thế.",
            replace=True,
        )
    with pytest.raises(CorpusError, match="broken.txt has no metadata"):
        remove_document(small_corpus, index_dir, embedder, SETTINGS, "dai-hoi")
    assert not (small_corpus / "cong-doan.txt").exists() and not (small_corpus / "cong-doan.json").exists()
    assert (small_corpus / "thanh-lap.txt").read_text(encoding="utf-8") == original
    assert (small_corpus / "dai-hoi.txt").exists() and (small_corpus / "dai-hoi.json").exists()
    assert current_version(index_dir) == before


def test_new_id_is_chosen_under_the_lock(small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder) -> None:
    index_dir = tmp_path / "index"
    update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    texts = [THIRD[3], THIRD[3] + " Công đoàn có trụ sở riêng."]
    ids = [
        add_document(small_corpus, index_dir, keyword_embedder, SETTINGS, META, t, new_id=True).doc_id for t in texts
    ]
    assert ids == ["2004-05-19-cong-doan-vien-chuc", "2004-05-19-cong-doan-vien-chuc-2"]


def test_the_same_document_added_twice_is_stored_once(
    small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    index_dir = tmp_path / "index"
    update_index(small_corpus, index_dir, keyword_embedder, SETTINGS)
    first = add_document(small_corpus, index_dir, keyword_embedder, SETTINGS, META, THIRD[3], new_id=True)
    again = add_document(small_corpus, index_dir, keyword_embedder, SETTINGS, META, THIRD[3], new_id=True)
    assert first.outcome == "applied" and again.outcome == "unchanged"
    assert again.doc_id == first.doc_id and again.report.version == first.report.version
    assert len(list(small_corpus.glob("*.txt"))) == 3
