"""The Milvus candidate stage (Milvus Lite, a real engine in a local file) proposes what the
in-memory one proposes, and its collections follow the published versions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from corpus.chunk import ChunkSettings
from corpus.errors import IndexMismatch
from index.build import optimize_index, update_index
from index.candidates import MemoryCandidates
from index.encoder import QueryEncoder
from index.lexical import query_terms
from index.milvus import MANIFEST_PROPERTY, MilvusSettings, collection_names, connect
from index.milvus_search import MilvusCandidates
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


def test_updates_change_the_collections_in_place_and_the_alias_follows(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings
) -> None:
    # the mechanics, on Milvus Lite (whose per-segment BM25 statistics make it off there by default)
    milvus = dataclasses.replace(milvus, in_place=True)
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    first = load_version(index_dir)
    served = MilvusCandidates.open(MemoryCandidates.build(first), milvus)  # a replica serving the first version
    write_document(small_corpus, *THIRD)
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    second = load_version(index_dir)
    question = query_terms("Công đoàn có bao nhiêu đoàn viên")
    found = MilvusCandidates.open(MemoryCandidates.build(second), milvus).match(question, None).passages_top(None).rows
    assert any(second.chunks[int(r)].doc_id == "cong-doan" and int(r) >= first.size for r in found)
    # the replica still on the first version is never shown a row the update added
    assert all(int(r) < first.size for r in served.match(question, None).passages_top(None).rows)
    assert all(int(r) < first.size for r in served.dense_top(embedder.embed_queries(["Công đoàn"])[0], 50).rows)
    for doc_id in ("cong-doan", "thanh-lap"):
        remove_document(small_corpus, index_dir, embedder, SETTINGS, doc_id, milvus=milvus)

    client = connect(milvus)
    current = load_version(index_dir)
    assert len(published_versions(index_dir)) == 3  # older versions were pruned from disk...
    shared = collection_names(first.version)  # ...and every update went into the first version's collections
    assert sorted(client.list_collections()) == sorted(shared)
    assert client.describe_alias(milvus.alias)["collection_name"] == shared[0]
    live = current.size - len(current.deleted_rows)
    assert client.query(shared[0], filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"] == live
    with pytest.raises(IndexMismatch, match="version"):  # the collections hold the newest version now
        MilvusCandidates.open(MemoryCandidates.build(first), milvus)

    remote = MilvusCandidates.open(MemoryCandidates.build(current), milvus)
    hits = remote.match(question, None).passages_top(None)
    assert {current.chunks[int(r)].doc_id for r in hits.rows} <= {"dai-hoi"}  # removed documents are gone
    memory = MemoryCandidates.build(current).match(question, None).passages_top(None)
    assert sorted(hits.rows.tolist()) == sorted(memory.rows.tolist())

    optimize_index(index_dir, milvus=milvus)  # a merge renumbers rows: new collections...
    merged = load_version(index_dir)
    assert sorted(client.list_collections()) == sorted([*shared, *collection_names(merged.version)])
    assert client.describe_alias(milvus.alias)["collection_name"] == collection_names(merged.version)[0]
    for _ in range(3):  # ...and the old ones are dropped with the last version on disk they hold
        optimize_index(index_dir, milvus=milvus)
    assert shared[0] not in client.list_collections()


def test_an_update_that_stopped_half_way_is_not_continued_in_place(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings
) -> None:
    milvus = dataclasses.replace(milvus, in_place=True)
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    first = load_version(index_dir)
    passages, _ = collection_names(first.version)
    client = connect(milvus)
    stored = json.loads(client.describe_collection(passages)["properties"][MANIFEST_PROPERTY])
    half = {MANIFEST_PROPERTY: json.dumps({**stored, "unfinished": True})}  # what an update leaves when killed
    client.alter_collection_properties(passages, properties=half)

    write_document(small_corpus, *THIRD)
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    current = load_version(index_dir)
    assert client.describe_alias(milvus.alias)["collection_name"] == collection_names(current.version)[0]
    MilvusCandidates.open(MemoryCandidates.build(current), milvus)


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


def test_a_collection_whose_manifest_disagrees_with_the_index_is_refused(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    version = load_version(index_dir)
    passages, _ = collection_names(version.version)
    client = connect(milvus)
    stored = json.loads(client.describe_collection(passages)["properties"][MANIFEST_PROPERTY])
    assert stored["embedder"] == embedder.name and stored["live_rows"] == version.size

    # what another index directory, built with another embedder, would have left under this name
    client.alter_collection_properties(
        passages, properties={MANIFEST_PROPERTY: json.dumps({**stored, "embedder": "other"})}
    )
    with pytest.raises(IndexMismatch, match=r"embedder 'other' \(the index directory has 'keyword"):
        MilvusCandidates.open(MemoryCandidates.build(version), milvus)
    client.alter_collection_properties(passages, properties={MANIFEST_PROPERTY: json.dumps(stored)})
    MilvusCandidates.open(MemoryCandidates.build(version), milvus)
