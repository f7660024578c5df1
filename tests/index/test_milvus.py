"""The Milvus candidate stage (Milvus Lite, a real engine in a local file) proposes what the
in-memory one proposes, and its collections follow the published versions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from corpus.chunk import ChunkSettings
from index.build import update_index
from index.candidates import MemoryCandidates
from index.encoder import QueryEncoder
from index.lexical import query_terms
from index.milvus import MilvusCandidates, MilvusSettings, collection_names, connect
from index.search import Retriever, SearchConfig
from index.store import load_version, published_versions
from index.writer import remove_document
from tests.conftest import THIRD, KeywordEmbedder, write_document

pytest.importorskip("milvus_lite")

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)
QUESTIONS = [
    "Trụ sở chuyển về đâu năm 2006?",
    "Đại hội lần thứ nhất họp khi nào?",
    "dai hoi bau ban chap hanh gom bao nhieu dong chi",
    "Đảng bộ Khối có bao nhiêu đảng viên lúc mới thành lập?",
    "truyền thống của cán bộ",
]


@pytest.fixture
def milvus(tmp_path: Path) -> MilvusSettings:
    return MilvusSettings(uri=str(tmp_path / "milvus.db"), alias="viqa-test")


def test_milvus_proposes_what_the_memory_stage_proposes(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings
) -> None:
    embedder = KeywordEmbedder()
    write_document(small_corpus, *THIRD)
    update_index(small_corpus, tmp_path / "index", embedder, SETTINGS, milvus=milvus)
    version = load_version(tmp_path / "index")
    memory = MemoryCandidates.build(version)
    remote = MilvusCandidates.open(memory, milvus)
    for question in QUESTIONS:
        terms = query_terms(question)
        ours, theirs = memory.match(terms, None), remote.match(terms, None)
        for signal in ("passages_top", "sentences_top"):
            expected, got = getattr(ours, signal)(None), getattr(theirs, signal)(None)
            assert got.rows.tolist() == expected.rows.tolist(), (question, signal)
            assert got.complete and np.allclose(got.scores / got.scores[0], expected.scores / expected.scores[0])
        rows = list(range(version.size))
        assert theirs.best_sentences(rows) == ours.best_sentences(rows)
        vector = embedder.embed_queries([question])[0]
        assert remote.dense_top(vector, 3).rows.tolist() == memory.dense_top(vector, 3).rows.tolist()

    encoder = QueryEncoder(embedder)
    served = Retriever.build(version, encoder, lambda local: MilvusCandidates.open(local, milvus))
    alone = Retriever.build(version, encoder)
    for mode in ("hybrid", "bm25", "dense"):
        config = dataclasses.replace(SearchConfig(), mode=mode)
        for question in QUESTIONS:
            expected = [(h.chunk.chunk_id, h.highlight) for h in alone.search(question, 5, config).hits]
            assert [(h.chunk.chunk_id, h.highlight) for h in served.search(question, 5, config).hits] == expected


def test_each_version_gets_collections_and_the_alias_follows(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    write_document(small_corpus, *THIRD)
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    for doc_id in ("cong-doan", "thanh-lap"):
        remove_document(small_corpus, index_dir, embedder, SETTINGS, doc_id, milvus=milvus)

    client = connect(milvus)
    kept = published_versions(index_dir)
    assert len(kept) == 3  # older versions were pruned from disk, and from Milvus
    assert sorted(client.list_collections()) == sorted(name for v in kept for name in collection_names(v))
    current = load_version(index_dir)
    assert client.describe_alias(milvus.alias)["collection_name"] == collection_names(current.version)[0]
    remote = MilvusCandidates.open(MemoryCandidates.build(current), milvus)
    hits = remote.match(query_terms("Công đoàn có bao nhiêu đoàn viên"), None).passages_top(None)
    assert {current.chunks[int(r)].doc_id for r in hits.rows} <= {"dai-hoi"}  # removed documents are gone


def test_switching_an_index_to_milvus_writes_its_version_there(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    built = update_index(small_corpus, index_dir, embedder, SETTINGS)  # the faiss backend: nothing in Milvus
    with pytest.raises(Exception, match="no collection"):
        MilvusCandidates.open(MemoryCandidates.build(load_version(index_dir)), milvus)
    again = update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    assert again.version == built.version and again.embedded == 0
    MilvusCandidates.open(MemoryCandidates.build(load_version(index_dir)), milvus)
