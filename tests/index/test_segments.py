from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

import index.textindex
from corpus.chunk import ChunkSettings
from index.build import optimize_index, update_index
from index.dense import DenseSettings
from index.encoder import QueryEncoder
from index.search import Retriever, SearchConfig
from index.store import IndexVersion, load_version, read_manifest
from tests.conftest import THIRD, KeywordEmbedder, write_document

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)
QUESTIONS = [
    "Công đoàn có bao nhiêu đoàn viên?",
    "Trụ sở chuyển về đâu năm 2006?",
    "Đại hội lần thứ nhất họp khi nào?",
    "dang bo khoi thanh lap nam nao",
    "Ban Chấp hành gồm bao nhiêu đồng chí?",
]
MODES = ("hybrid", "bm25", "dense")


def _results(version: IndexVersion, embedder: KeywordEmbedder) -> list[list[tuple[str, float]]]:
    retriever = Retriever.build(version, QueryEncoder(embedder))
    return [
        [(h.chunk.chunk_id, round(h.score, 6)) for h in retriever.search(q, 5, SearchConfig(mode=mode)).hits]
        for q in QUESTIONS
        for mode in MODES
    ]


def _add_news(corpus: Path, index_dir: Path, embedder: KeywordEmbedder, numbers: Iterable[int]) -> None:
    """Add one one-passage document per number, each in an update of its own (a segment each)."""
    for n in numbers:
        write_document(corpus, f"tin-{n}", f"Tin {n}", f"2024-01-0{n + 1}", f"Tin số {n} về công đoàn.")
        update_index(corpus, index_dir, embedder, SETTINGS)


def test_a_merge_changes_no_result(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    write_document(small_corpus, *THIRD)
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    segmented = load_version(index_dir)
    assert len(segmented.segments) == 2

    optimize_index(index_dir)
    merged = load_version(index_dir)
    assert len(merged.segments) == 1 and merged.size == segmented.size
    assert _results(merged, embedder) == _results(segmented, embedder)


def test_deleted_documents_are_tombstones_until_a_merge(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    write_document(small_corpus, *THIRD)
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    (small_corpus / "cong-doan.txt").unlink()
    (small_corpus / "cong-doan.json").unlink()
    report = update_index(small_corpus, index_dir, embedder, SETTINGS)

    version = load_version(index_dir)
    assert len(version.segments) == 1 and len(version.deleted_rows) == report.removed > 0  # rows stay, unseen
    assert "cong-doan" not in version.documents and version.manifest.chunk_count == version.size - report.removed
    retriever = Retriever.build(version, QueryEncoder(embedder))
    for mode in MODES:
        for candidates in (0, 200):
            config = SearchConfig(mode=mode, candidates=candidates)
            hits = retriever.search("Công đoàn Viên chức có bao nhiêu đoàn viên?", 10, config).hits
            assert hits and all(h.chunk.doc_id != "cong-doan" for h in hits)

    optimize_index(index_dir)
    merged = load_version(index_dir)
    assert merged.size == version.size - report.removed and not len(merged.deleted_rows)
    rebuilt = tmp_path / "rebuilt"
    update_index(small_corpus, rebuilt, embedder, SETTINGS)
    assert _results(merged, embedder) == _results(load_version(rebuilt), embedder)


def test_segments_beyond_the_limit_are_merged_into_one(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("index.segments.MAX_SEGMENTS", 3)
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    _add_news(small_corpus, index_dir, embedder, range(4))
    version = load_version(index_dir)
    assert len(version.segments) <= 3
    assert set(version.documents) == {"thanh-lap", "dai-hoi", "tin-0", "tin-1", "tin-2", "tin-3"}
    kept = {p.name for p in (index_dir / "segments").iterdir()}
    listed = {s["name"] for p in (index_dir / "versions").iterdir() for s in read_manifest(index_dir, p.name).segments}
    assert kept == listed  # a segment no kept version lists is deleted


def test_no_merge_writes_a_segment_above_the_largest_merged_size(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    _add_news(small_corpus, index_dir, embedder, range(4))
    segmented = load_version(index_dir)
    rows = [s.rows for s in segmented.segments]  # the two articles, then four one-passage documents
    assert len(rows) == 5 and rows[1:] == [1, 1, 1, 1] and rows[0] > 3
    # Automatic merges (here beyond 3 segments) join the smallest, up to the limit, even if more segments stay.
    monkeypatch.setattr("index.segments.MAX_SEGMENTS", 3)
    monkeypatch.setattr("index.segments.MAX_MERGED_ROWS", 3)
    _add_news(small_corpus, index_dir, embedder, [4])
    assert [s.rows for s in load_version(index_dir).segments] == [rows[0], 3, 1, 1]
    # --optimize merges neighbours up to the limit and leaves a larger segment without deletions alone.
    optimize_index(index_dir)
    optimized = load_version(index_dir)
    assert [s.rows for s in optimized.segments] == [rows[0], 3, 2] and optimized.segments[0] is segmented.segments[0]
    assert set(optimized.documents) == set(segmented.documents) | {"tin-4"}


def test_a_version_loads_from_its_files_alone(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    expected = _results(load_version(index_dir), embedder)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading analysed the collection's text")

    # Everything that reads passages' text to build an index: loading must not call any of it.
    monkeypatch.setattr(index.textindex.TextIndex, "build", refuse)
    monkeypatch.setattr(index.textindex, "split_sentences", refuse)
    monkeypatch.setattr(index.textindex.LexicalIndex, "build", refuse)
    monkeypatch.setattr(index.textindex.PeriodTable, "build", refuse)
    monkeypatch.setattr("index.store._LOADED", weakref.WeakValueDictionary())  # nothing cached from above
    assert _results(load_version(index_dir), embedder) == expected


def test_segments_from_the_threshold_up_get_an_hnsw_graph(small_corpus: Path, tmp_path: Path) -> None:
    embedder = KeywordEmbedder()
    update_index(small_corpus, tmp_path / "flat", embedder, SETTINGS, dense=DenseSettings(hnsw_threshold=1000))
    graph = DenseSettings(hnsw_threshold=2, hnsw_m=8, hnsw_ef_construction=16)
    update_index(small_corpus, tmp_path / "hnsw", embedder, SETTINGS, dense=graph)

    flat, hnsw = load_version(tmp_path / "flat"), load_version(tmp_path / "hnsw")
    layout = json.loads((hnsw.segments[0].path / "segment.json").read_text(encoding="utf-8"))["dense"]
    assert layout == {"kind": "hnsw", "m": 8, "ef_construction": 16, "codes": "sq8"}
    assert flat.segments[0].dense.layout == {"kind": "flat"}
    assert type(hnsw.segments[0].dense.index).__name__ == "IndexRefineFlat"  # the graph over codes, and floats
    # On a handful of passages the graph finds what exact search finds.
    assert _results(hnsw, embedder) == _results(flat, embedder)


def test_the_approximate_search_is_compared_with_exact_search_when_every_row_is_asked(
    small_corpus: Path, tmp_path: Path
) -> None:
    embedder = KeywordEmbedder()
    update_index(small_corpus, tmp_path / "hnsw", embedder, SETTINGS, dense=DenseSettings(hnsw_threshold=2))
    version = load_version(tmp_path / "hnsw")
    stage = Retriever.build(version, QueryEncoder(embedder)).candidates
    vector = embedder.embed_queries(["Trụ sở chuyển về đâu?"])[0]
    everything = stage.dense_top(vector, version.size)
    assert everything.complete and sorted(everything.rows.tolist()) == list(range(version.size))
    exact = version.vectors(everything.rows) @ vector
    assert np.allclose(everything.scores, exact, atol=1e-5)
    assert list(everything.scores) == sorted(everything.scores, reverse=True)
