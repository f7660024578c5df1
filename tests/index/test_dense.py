"""One segment's vectors in FAISS: flat, HNSW over floats, HNSW over byte codes re-scored exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import faiss
import numpy as np
import pytest

from index.dense import DenseIndex, DenseSettings, build_index

DIMENSION = 24


def _vectors(count: int, seed: int = 3) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _index(vectors: np.ndarray, layout: dict) -> DenseIndex:
    return DenseIndex(build_index(vectors, DIMENSION, layout), layout)


GRAPH = DenseSettings(hnsw_threshold=1, hnsw_m=8, hnsw_ef_construction=64)


@pytest.mark.parametrize("codes", ["sq8", "float"])
def test_a_graph_finds_the_exact_best_rows_with_exact_scores(codes: str, tmp_path: Path) -> None:
    vectors, query = _vectors(400), _vectors(1, seed=9)[0]
    layout = dataclasses.replace(GRAPH, hnsw_codes=codes).layout(len(vectors))
    assert layout["codes"] == codes
    exact = np.argsort(-(vectors @ query), kind="stable")[:10]
    deleted = exact[[1, 4]]  # two of the best, deleted: skipped
    wanted = [row for row in np.argsort(-(vectors @ query), kind="stable") if row not in deleted][:10]

    dense = _index(vectors, layout)
    dense.save(tmp_path / "dense.faiss")
    for index in (dense, DenseIndex.load(tmp_path / "dense.faiss", layout)):
        found = index.search(query, 10, deleted, ef_search=400, exact=False)
        assert found.rows.tolist() == [int(r) for r in wanted]  # 400 candidates of 400 rows: every row seen
        np.testing.assert_allclose(found.scores, vectors[found.rows] @ query, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(index.vectors(np.arange(len(vectors))), vectors)  # floats, not codes


def test_a_graph_over_codes_compares_fewer_bytes_than_floats_but_keeps_the_floats() -> None:
    vectors = _vectors(300)
    sq8 = _index(vectors, GRAPH.layout(len(vectors)))
    floats = _index(vectors, dataclasses.replace(GRAPH, hnsw_codes="float").layout(len(vectors)))
    assert type(sq8.index).__name__ == "IndexRefineFlat" and type(floats.index).__name__ == "IndexHNSWFlat"

    def code_size(dense: DenseIndex) -> int:  # bytes a graph search reads per vector
        return int(faiss.downcast_index(dense._parts[0].storage).code_size)

    assert code_size(sq8) == DIMENSION and code_size(floats) == 4 * DIMENSION


def test_a_segment_written_before_codes_were_recorded_is_a_graph_over_floats() -> None:
    vectors, query = _vectors(200), _vectors(1, seed=5)[0]
    layout = {"kind": "hnsw", "m": 8, "ef_construction": 64}  # as stop 22's segments record it
    dense = _index(vectors, layout)
    assert type(dense.index).__name__ == "IndexHNSWFlat"
    found = dense.search(query, 5, np.zeros(0, dtype=np.int64), ef_search=200, exact=False)
    assert found.rows.tolist() == np.argsort(-(vectors @ query), kind="stable")[:5].tolist()


def test_an_exact_search_of_a_graph_over_codes_reads_the_floats() -> None:
    vectors, query = _vectors(150), _vectors(1, seed=11)[0]
    dense = _index(vectors, GRAPH.layout(len(vectors)))
    everything = dense.search(query, 150, np.zeros(0, dtype=np.int64), ef_search=16, exact=True)
    assert everything.complete and everything.rows.tolist() == np.argsort(-(vectors @ query), kind="stable").tolist()
    np.testing.assert_allclose(everything.scores, vectors[everything.rows] @ query, rtol=0, atol=1e-6)
