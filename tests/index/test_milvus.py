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
from index.dense import DenseSettings
from index.encoder import QueryEncoder
from index.lexical import query_terms
from index.milvus import MANIFEST_PROPERTY, MilvusSettings, collection_names, connect
from index.milvus_search import MilvusCandidates
from index.search import Retriever, SearchConfig
from index.store import load_version
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


def test_appends_go_into_the_collections_in_place_and_the_alias_follows(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings
) -> None:
    # the mechanics, on Milvus Lite (whose per-segment BM25 statistics make it off there by default)
    milvus = dataclasses.replace(milvus, in_place=True)
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    first = load_version(index_dir)
    served = MilvusCandidates.open(MemoryCandidates.build(first), milvus)  # a replica serving the first version
    shared = collection_names(first.version)
    question = query_terms("Công đoàn có bao nhiêu đoàn viên")
    before = served.match(question, None).passages_top(None).rows.tolist()

    write_document(small_corpus, *THIRD)  # appends a segment: its rows are added in place
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    remove_document(small_corpus, index_dir, embedder, SETTINGS, "thanh-lap", milvus=milvus)  # a tombstone
    current = load_version(index_dir)
    client = connect(milvus)
    assert sorted(client.list_collections()) == sorted(shared)
    assert client.describe_alias(milvus.alias)["collection_name"] == shared[0]
    assert client.query(shared[0], filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"] == current.size
    with pytest.raises(IndexMismatch, match="version"):  # the collections hold the newest version now
        MilvusCandidates.open(MemoryCandidates.build(first), milvus)

    remote = MilvusCandidates.open(MemoryCandidates.build(current), milvus)
    memory = MemoryCandidates.build(current)
    hits = remote.match(question, None).passages_top(None)
    # the same passages; their order may not be, as Lite scores BM25 per segment (why in_place is off there)
    assert sorted(hits.rows.tolist()) == sorted(memory.match(question, None).passages_top(None).rows.tolist())
    assert "thanh-lap" not in {current.chunks[int(r)].doc_id for r in hits.rows}  # the tombstone is skipped
    vector = embedder.embed_queries(["Trụ sở chuyển về đâu"])[0]
    assert remote.dense_top(vector, 50).rows.tolist() == memory.dense_top(vector, 50).rows.tolist()
    # the replica still on the first version sees its own rows only, the removed document's included
    assert served.match(question, None).passages_top(None).rows.tolist() == before
    assert all(int(r) < first.size for r in served.dense_top(vector, 50).rows)

    remove_document(small_corpus, index_dir, embedder, SETTINGS, "cong-doan", milvus=milvus)
    dropped = load_version(index_dir)  # the appended segment is gone: appending again would reuse its rows
    assert client.describe_alias(milvus.alias)["collection_name"] == collection_names(dropped.version)[0]
    optimize_index(index_dir, milvus=milvus)  # a merge renumbers rows: new collections
    merged = load_version(index_dir)
    assert client.describe_alias(milvus.alias)["collection_name"] == collection_names(merged.version)[0]
    for _ in range(3):  # the old ones are dropped with the last version on disk they hold
        optimize_index(index_dir, milvus=milvus)
    assert shared[0] not in client.list_collections()


def test_an_append_that_fails_half_way_leaves_the_served_version_whole(
    small_corpus: Path, tmp_path: Path, milvus: MilvusSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    milvus = dataclasses.replace(milvus, in_place=True)
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    first = load_version(index_dir)
    question = query_terms("Trụ sở chuyển về đâu")
    expected = MilvusCandidates.open(MemoryCandidates.build(first), milvus).match(question, None).passages_top(None)
    client = connect(milvus)
    upsert, calls = client.upsert, []

    def fail_second(*args: object, **kwargs: object) -> object:  # the sentences, after the passages went in
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return upsert(*args, **kwargs)

    monkeypatch.setattr(client, "upsert", fail_second)
    write_document(small_corpus, *THIRD)
    with pytest.raises(IndexMismatch, match="connection lost"):
        update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)
    assert load_version(index_dir).version == first.version  # nothing published
    again = MilvusCandidates.open(MemoryCandidates.build(first), milvus)  # a restart still loads it...
    got = again.match(question, None).passages_top(None)
    assert got.rows.tolist() == expected.rows.tolist() and np.allclose(got.scores, expected.scores)  # ...whole

    monkeypatch.setattr(client, "upsert", upsert)
    update_index(small_corpus, index_dir, embedder, SETTINGS, milvus=milvus)  # redone, not doubled
    current = load_version(index_dir)
    assert (
        client.query(collection_names(first.version)[0], filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"]
        == current.size
    )


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


def test_milvus_builds_the_graphs_faiss_builds_unless_told_otherwise() -> None:
    # The scale bench and code that builds the settings by hand get the graph the service builds.
    defaults, dense = MilvusSettings(uri="unused.db"), DenseSettings()
    assert (defaults.hnsw_m, defaults.hnsw_ef_construction) == (dense.hnsw_m, dense.hnsw_ef_construction)
