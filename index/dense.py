"""The vectors of one segment in FAISS: exact below a size, HNSW above it.

A flat index is exact and needs no tuning; its search visits every vector, which at a
million passages costs tens of milliseconds per query. Above `hnsw_threshold` vectors
a segment gets an HNSW graph instead (inner product over L2-normalised vectors, as the
flat index). Its parameters are recorded in the segment's metadata; how much of the
exact top 10 it finds is measured by `viqa bench scale`, not assumed.

A graph search reads a few thousand vectors at random, so its time is the memory it
reads. By default the graph compares vectors held as a byte per dimension (faiss's 8-bit
scalar quantizer, a quarter of float32's bytes) and the rows it returns are scored again
from the float vectors kept beside it, so every score a search returns is exact.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from index.ranking import Ranking, sort_rows

# Candidates an HNSW segment keeps while searching, by default (more: better recall, slower).
# At a million synthetic passages (4 segments), 128 kept recall@10 against exhaustive scoring
# at 0.933, 400 at 0.960 (40 questions), for 24 ms more at the median.
EF_SEARCH = 400


@dataclass(frozen=True)
class DenseSettings:
    """How a segment's vectors are indexed."""

    hnsw_threshold: int = 50_000  # vectors from which a segment is indexed by HNSW
    hnsw_m: int = 32  # graph neighbours per vector
    # Candidates kept while the graph is built (a search's are SearchConfig.hnsw_ef_search). On
    # 100,000 synthetic passages (one segment, sq8, 100 questions, ef_search 400) 200 found 0.941
    # of the exact dense top 10 against 0.906 at 80, for the same search time; building the graph
    # took 85 against 48 s. (A float graph at 80 found 0.898: the loss was the graph's, not the codes'.)
    hnsw_ef_construction: int = 200
    # What the graph compares: "sq8", a byte per dimension (the rows found scored again from
    # the float vectors), or "float". On a 250,000-vector synthetic segment, ef 400, one
    # thread: 2.7 against 4.1 ms a search, the same share of the exact top 200 (0.401).
    hnsw_codes: Literal["sq8", "float"] = "sq8"

    def layout(self, rows: int) -> dict[str, Any]:
        """Return the index kind and build parameters for a segment of `rows` vectors."""
        if rows < self.hnsw_threshold:
            return {"kind": "flat"}
        graph = {"m": self.hnsw_m, "ef_construction": self.hnsw_ef_construction, "codes": self.hnsw_codes}
        return {"kind": "hnsw", **graph}


def build_index(vectors: np.ndarray, dimension: int, layout: dict[str, Any]) -> faiss.Index:
    """Return the FAISS index of `vectors` with the given layout (from `DenseSettings.layout`)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dimension)
    index: Any  # faiss's stubs know little of its index classes
    if layout["kind"] == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif layout["kind"] == "hnsw" and _codes(layout) == "float":
        index = faiss.IndexHNSWFlat(dimension, int(layout["m"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(layout["ef_construction"])
    elif layout["kind"] == "hnsw" and _codes(layout) == "sq8":
        byte: Any = faiss.ScalarQuantizer.QT_8bit
        graph = faiss.IndexHNSWSQ(dimension, byte, int(layout["m"]), faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = int(layout["ef_construction"])
        index = faiss.IndexRefineFlat(graph)  # one file: the graph over codes, and the float vectors
        if len(vectors):
            index.train(vectors)  # each dimension's range, over this segment's vectors
    else:
        raise ValueError(f"unknown dense index kind {layout['kind']!r} (codes {_codes(layout)!r})")
    if len(vectors):
        index.add(vectors)
    return index


def _codes(layout: dict[str, Any]) -> str:
    """Return what an HNSW layout's graph compares (segments written before codes were recorded: floats)."""
    return str(layout.get("codes", "float"))


@dataclass(frozen=True)
class DenseIndex:
    """One segment's vectors, searched approximately (when HNSW) or exactly."""

    index: Any  # a faiss.Index; its type stubs know few of the attributes used here
    layout: dict[str, Any]

    @classmethod
    def load(cls, path: Path, layout: dict[str, Any]) -> DenseIndex:
        return cls(faiss.read_index(str(path)), layout)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, vector: np.ndarray, n: int, deleted: np.ndarray, *, ef_search: int, exact: bool) -> Ranking:
        """Return the `n` best rows of this segment (local ids), skipping `deleted` rows.

        Args:
            exact: search every vector even when the segment has a graph (the reference
                the approximate search is measured against).
        """
        n = min(n, self.size - len(deleted))
        if n <= 0:
            return Ranking(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), complete=True)
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        graph, flat = self._parts
        # The inner selector must outlive the search: FAISS holds it by a raw pointer.
        excluded = faiss.IDSelectorBatch(deleted.astype(np.int64)) if len(deleted) else None
        selector = faiss.IDSelectorNot(excluded) if excluded is not None else None
        index, params = flat, None
        if graph is None or exact:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None  # type: ignore[call-arg]
        else:
            index = graph
            params = faiss.SearchParametersHNSW(efSearch=max(ef_search, n))  # type: ignore[attr-defined]
            if selector is not None:
                params.sel = selector
        # One query is too little work to share between OpenMP threads: a flat search of 10k
        # vectors took 6 ms on two threads, 1.4 ms on one, with the other core busy. The setting
        # is this thread's own; searches run side by side on the service's threads instead.
        faiss.omp_set_num_threads(1)
        scores, rows = index.search(query, n, params=params)
        valid = rows[0] >= 0
        found, found_scores = rows[0][valid], scores[0][valid]
        if index is graph and _codes(self.layout) == "sq8":  # it compared codes: its rows scored from their floats
            found_scores = self.matrix[found] @ query[0]
        # FAISS orders equal scores arbitrarily; the scoring wants the lower row first.
        return sort_rows(found, found_scores.astype(np.float64), complete=n == self.size - len(deleted))

    @functools.cached_property
    def _parts(self) -> tuple[Any, Any]:
        """Return the HNSW graph to search (None: a flat index) and the flat index of the float vectors."""
        if self.layout["kind"] == "flat":
            return None, self.index
        if _codes(self.layout) == "float":
            return self.index, faiss.downcast_index(self.index.storage)  # the graph's own vectors
        return faiss.downcast_index(self.index.base_index), faiss.downcast_index(self.index.refine_index)

    @functools.cached_property
    def matrix(self) -> np.ndarray:
        """Return every stored vector as one (rows, dimension) array: a view of FAISS's memory, not a copy."""
        flat = self._parts[1]
        if not self.size:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return faiss.rev_swig_ptr(flat.get_xb(), self.size * self.dimension).reshape(self.size, self.dimension)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Return the stored vectors of local `rows`, one per line."""
        return self.matrix[np.asarray(rows, dtype=np.int64)]


def layout_json(settings: DenseSettings) -> dict[str, Any]:
    """Return the settings as recorded in a manifest."""
    return asdict(settings)
