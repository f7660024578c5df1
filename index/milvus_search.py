"""The candidate stage of one index version, answered by its Milvus collections (see index/milvus.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus.errors import IndexMismatch
from index.candidates import MemoryCandidates, TermMatch
from index.dense import EF_SEARCH
from index.lexical import QueryTerms
from index.milvus import MAX_TOPK, MilvusSettings, check_manifest, connect, field_tokens, locate
from index.ranking import Ranking, sort_rows


@dataclass(frozen=True)
class MilvusCandidates:
    """The candidate stage of one version, answered by its Milvus collections.

    Vectors of given rows, and the dense-rank estimate that reads them, come from the
    segments, as the scoring's other inputs do.
    """

    local: MemoryCandidates
    client: Any
    passages: str
    sentences: str

    @classmethod
    def open(cls, local: MemoryCandidates, settings: MilvusSettings) -> MilvusCandidates:
        """Return the stage of `local`'s version; raise IndexMismatch if Milvus does not have it."""
        client = connect(settings)
        found = locate(client, local.version.version)
        if found is None:
            raise IndexMismatch(
                f"Milvus at {settings.uri} has no collection for index version {local.version.version}; "
                "rebuild with `VIQA_BACKEND=milvus viqa index --full`"
            )
        passages, sentences = found
        for name in found:
            client.load_collection(name)
        check_manifest(client, passages, local.version)
        return cls(local, client, passages, sentences)

    @property
    def size(self) -> int:
        return self.local.size

    @functools.cached_property
    def _live(self) -> int:
        return self.local.size - len(self._deleted)

    @functools.cached_property
    def _deleted(self) -> np.ndarray:
        return self.local.version.deleted_rows

    def _mine(self, rows: np.ndarray) -> np.ndarray:
        """Return which of `rows` are this version's live passages.

        Collections updated in place also hold rows a newer version appended (past this
        version's size) and rows deleted since they were written (tombstones, until a merge).
        """
        return (rows < self.size) & ~np.isin(rows, self._deleted)

    def _asked(self, limit: int) -> int:
        """Return how many entities to ask for so that `limit` of this version's remain after `_mine`."""
        return min(limit + len(self._deleted), MAX_TOPK)

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = EF_SEARCH) -> Ranking:
        limit = min(n, self._live, MAX_TOPK)
        if limit <= 0:
            return Ranking(np.zeros(0, np.int64), np.zeros(0), complete=True)
        asked = self._asked(limit)
        params = {"metric_type": "IP", "params": {"ef": max(ef_search, asked)}}
        query = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        hits = self.client.search(
            self.passages, data=[query], anns_field="dense", limit=asked, search_params=params, output_fields=["row"]
        )[0]
        rows = np.array([hit["entity"]["row"] for hit in hits], dtype=np.int64)
        scores = np.array([hit["distance"] for hit in hits], dtype=np.float64)
        mine = self._mine(rows)
        return sort_rows(rows[mine], scores[mine], limit=n, complete=len(hits) < asked or limit >= self._live)

    def dense_ranks(self, vector: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        return self.local.dense_ranks(vector, similarity)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.local.vectors(rows)

    def match(
        self, query: QueryTerms, wanted: int | None = None, *, passages: bool = True, sentences: bool = True
    ) -> TermMatch:
        return _MilvusMatch(self, field_tokens(query.accented, query.folded))

    def bm25(self, collection: str, tokens: str, limit: int, rows: list[int] | None = None) -> tuple[np.ndarray, ...]:
        """Return (ids, rows, scores) of the best `limit` entities for `tokens`, best first (scores above 0)."""
        if not tokens or limit <= 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        where = f"row in {rows}" if rows is not None else ""
        hits = self.client.search(
            collection,
            data=[tokens],
            anns_field="sparse",
            limit=self._asked(limit),
            filter=where,
            output_fields=["row"],
        )[0]
        ids = np.array([hit["id"] for hit in hits], dtype=np.int64)
        found = np.array([hit["entity"]["row"] for hit in hits], dtype=np.int64)
        scores = np.abs(np.array([hit["distance"] for hit in hits], dtype=np.float64))  # Milvus Lite gives -BM25
        mine = self._mine(found)
        return ids[mine], found[mine], scores[mine]


class _MilvusMatch:
    """BM25 of one query over a version's Milvus collections."""

    def __init__(self, stage: MilvusCandidates, tokens: str) -> None:
        self._stage = stage
        self._tokens = tokens

    def passages_top(self, n: int | None = None) -> Ranking:
        limit = min(n or self._stage._live, MAX_TOPK)
        _, rows, scores = self._stage.bm25(self._stage.passages, self._tokens, limit)
        return sort_rows(rows, scores, limit=n, complete=len(rows) < limit or limit >= self._stage._live)

    def sentences_top(self, n: int | None = None) -> Ranking:
        total = int(self._stage.local.first_sentence[-1])
        limit = min(total if n is None else n * 3, MAX_TOPK)
        _, rows, scores = self._stage.bm25(self._stage.sentences, self._tokens, limit)
        unique, first = np.unique(rows, return_index=True)  # best first: a row's first hit is its best sentence
        complete = (len(rows) < limit or limit >= total) and (n is None or len(unique) <= n)
        return sort_rows(unique, scores[first], limit=n, complete=complete)

    def best_sentences(self, rows: list[int]) -> list[tuple[int, int] | None]:
        return self._stage.local.best_spans(rows, functools.partial(self._scores, rows))

    def scores_of(self, rows: np.ndarray, *, sentences: bool) -> np.ndarray | None:
        return None  # Milvus's BM25 has its own scale: a row below a list ranks just below it

    def _scores(self, rows: list[int], ids: np.ndarray) -> np.ndarray:
        """Return the BM25 score of each sentence of `ids` (the sentences of `rows`), 0 where it has no term."""
        found, _, scores = self._stage.bm25(self._stage.sentences, self._tokens, len(ids), [int(r) for r in rows])
        by_id = dict(zip(found.tolist(), scores.tolist()))
        return np.array([by_id.get(i, 0.0) for i in ids.tolist()], dtype=np.float64)
