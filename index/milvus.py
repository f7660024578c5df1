"""Milvus as the candidate stage: HNSW and BM25 of each index version in Milvus collections.

With VIQA_BACKEND=milvus the index directory stays what it is: the segments hold the
texts, the documents and everything the shared scoring reads (sentence spans, the
restorer's counts, period tables, coverage). Each version is also written to two Milvus
collections before it is published:

    viqa_<version>_p   one entity per live passage: its row, its vector (HNSW, inner
                       product) and its terms, from which Milvus's BM25 function makes
                       a sparse vector
    viqa_<version>_s   one entity per sentence of a live passage: its number, its row, its terms

The terms are the ones the in-memory BM25 indexes: syllables and bigrams, accented and
diacritic-folded, each written as a token of its field ("a" or "f") and 64-bit hash, so
Milvus's analyser sees exactly them. One Milvus field holds both of ours: a passage has
as many folded terms as accented ones, so its length relative to the average, and with
it BM25's normalisation, is the same as in each of our fields, and the sum Milvus scores
is the sum we score. A version's collections hold its live passages only, so their BM25
statistics leave out deleted documents, which the in-memory path counts until a merge.

After publishing, the alias (VIQA_MILVUS_ALIAS, `viqa-live`) is moved to the new
passages collection in one call; collections of versions no longer kept on disk are
dropped.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus.errors import IndexMismatch, RetrievalError
from index.bm25 import term_hashes
from index.candidates import MemoryCandidates, TermMatch
from index.lexical import QueryTerms, terms
from index.ranking import Ranking, sort_rows
from index.store import IndexVersion

MAX_TOPK = 16_384  # the most entities one Milvus search returns
_BATCH = 1_000  # entities per insert call
_EMPTY = "e0"  # the one token of a passage without terms, so no text is empty


@dataclass(frozen=True)
class MilvusSettings:
    """Where the Milvus collections are, and how their vectors are indexed."""

    uri: str  # a file path runs Milvus Lite; http://host:19530 reaches a server
    token: str | None = None
    alias: str = "viqa-live"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80


_CLIENTS: dict[tuple[str, str | None], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def connect(settings: MilvusSettings) -> Any:
    """Return the process's client of `settings.uri` (Milvus Lite runs one server per file)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise RetrievalError("VIQA_BACKEND=milvus needs the Milvus client: pip install -e '.[milvus]'") from None

    key = (settings.uri, settings.token)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = MilvusClient(settings.uri, token=settings.token or "")
        return _CLIENTS[key]


def disconnect(settings: MilvusSettings) -> None:
    """Close this process's client of `settings.uri` (Milvus Lite then lets another process open the file)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.pop((settings.uri, settings.token), None)
    if client is not None:
        client.close()
    if not settings.uri.startswith(("http://", "https://", "tcp://")):  # Milvus Lite: its server holds the file
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(settings.uri)


def collection_names(version: str) -> tuple[str, str]:
    """Return the names of the passages and the sentences collections of `version`."""
    base = "viqa_" + re.sub(r"[^0-9A-Za-z]", "_", version)
    return f"{base}_p", f"{base}_s"


def field_tokens(accented: list[str], folded: list[str]) -> str:
    """Return terms of both fields as one text of tokens Milvus's standard analyser keeps whole."""
    return " ".join(
        [f"a{h:x}" for h in term_hashes(accented).tolist()] + [f"f{h:x}" for h in term_hashes(folded).tolist()]
    )


def text_tokens(text: str) -> str:
    """Return the tokens of a passage's or a sentence's text."""
    return field_tokens(terms(text, folded=False), terms(text, folded=True)) or _EMPTY


def write_version(settings: MilvusSettings, version: IndexVersion, local: MemoryCandidates | None = None) -> None:
    """Write `version`'s live passages and sentences into its collections (replacing half-written ones).

    Args:
        local: `version`'s in-memory candidate stage, if the caller has built it (its sentence spans).
    """
    client = connect(settings)
    passages, sentences = collection_names(version.version)
    for name in (passages, sentences):
        if client.has_collection(name):
            client.drop_collection(name)
    _create(client, passages, version.manifest.dimension, settings)
    _create(client, sentences, None, settings)
    local = local or MemoryCandidates.build(version)
    live = np.setdiff1d(np.arange(version.size), version.deleted_rows, assume_unique=True)
    for batch in _batches(live):
        chunks = [version.chunks[int(row)] for row in batch]
        vectors = version.vectors(batch)
        client.insert(
            passages,
            [
                {"id": int(row), "row": int(row), "dense": vector.tolist(), "terms": text_tokens(chunk.text)}
                for row, chunk, vector in zip(batch, chunks, vectors)
            ],
        )
        client.insert(sentences, list(_sentence_entities(local, batch, chunks)))
    for name in (passages, sentences):
        client.flush(name)


def has_version(settings: MilvusSettings, version: str) -> bool:
    """Return True when both collections of `version` exist."""
    client = connect(settings)
    return all(client.has_collection(name) for name in collection_names(version))


def publish_alias(settings: MilvusSettings, version: str) -> None:
    """Point the alias at `version`'s passages collection, in one call."""
    client = connect(settings)
    passages, _ = collection_names(version)
    if settings.alias in client.list_aliases().get("aliases", []):
        client.alter_alias(passages, settings.alias)
    else:
        client.create_alias(passages, settings.alias)


def drop_versions_except(settings: MilvusSettings, kept: set[str]) -> None:
    """Drop the collections of every version but `kept` (the versions still on disk)."""
    client = connect(settings)
    keep = {name for version in kept for name in collection_names(version)}
    for name in client.list_collections():
        if name.startswith("viqa_") and name not in keep:
            client.drop_collection(name)


def _create(client: Any, name: str, dimension: int | None, settings: MilvusSettings) -> None:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("row", DataType.INT64)
    schema.add_field("terms", DataType.VARCHAR, max_length=65_535, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("bm25", FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    if dimension is not None:
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
        params = {"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction}
        index.add_index("dense", index_type="HNSW", metric_type="IP", params=params)
    client.create_collection(name, schema=schema, index_params=index)


def _batches(rows: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), _BATCH):
        yield rows[start : start + _BATCH]


def _sentence_entities(local: MemoryCandidates, rows: np.ndarray, chunks: list[Any]) -> Iterator[dict[str, Any]]:
    for row, chunk in zip(rows.tolist(), chunks):
        for sentence in range(int(local.first_sentence[row]), int(local.first_sentence[row + 1])):
            start, end = local.sentence_spans[sentence]
            yield {"id": sentence, "row": row, "terms": text_tokens(chunk.text[start:end])}


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
        passages, sentences = collection_names(local.version.version)
        for name in (passages, sentences):
            if not client.has_collection(name):
                raise IndexMismatch(
                    f"Milvus at {settings.uri} has no collection {name} for index version {local.version.version}; "
                    "rebuild with `VIQA_BACKEND=milvus viqa index --full`"
                )
            client.load_collection(name)
        return cls(local, client, passages, sentences)

    @property
    def size(self) -> int:
        return self.local.size

    @functools.cached_property
    def _live(self) -> int:
        return self.local.size - len(self.local.version.deleted_rows)

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = 128) -> Ranking:
        limit = min(n, self._live, MAX_TOPK)
        if limit <= 0:
            return Ranking(np.zeros(0, np.int64), np.zeros(0), complete=True)
        params = {"metric_type": "IP", "params": {"ef": max(ef_search, limit)}}
        query = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        hits = self.client.search(
            self.passages, data=[query], anns_field="dense", limit=limit, search_params=params, output_fields=["row"]
        )[0]
        rows = np.array([hit["entity"]["row"] for hit in hits], dtype=np.int64)
        scores = np.array([hit["distance"] for hit in hits], dtype=np.float64)
        return sort_rows(rows, scores, limit=n, complete=limit >= self._live)

    def dense_ranks(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.local.dense_ranks(vector, rows)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.local.vectors(rows)

    def match(self, query: QueryTerms, wanted: int | None = None) -> TermMatch:
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
            limit=min(limit, MAX_TOPK),
            filter=where,
            output_fields=["row"],
        )[0]
        ids = np.array([hit["id"] for hit in hits], dtype=np.int64)
        found = np.array([hit["entity"]["row"] for hit in hits], dtype=np.int64)
        scores = np.abs(np.array([hit["distance"] for hit in hits], dtype=np.float64))  # Milvus Lite gives -BM25
        return ids, found, scores


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

    def _scores(self, rows: list[int], ids: np.ndarray) -> np.ndarray:
        """Return the BM25 score of each sentence of `ids` (the sentences of `rows`), 0 where it has no term."""
        found, _, scores = self._stage.bm25(self._stage.sentences, self._tokens, len(ids), [int(r) for r in rows])
        by_id = dict(zip(found.tolist(), scores.tolist()))
        return np.array([by_id.get(i, 0.0) for i in ids.tolist()], dtype=np.float64)
