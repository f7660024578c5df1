"""Index versions in Milvus: written with each version before it is published, in place when safe.

A new version is written into its own collections (see index/milvus.py), or, with
`in_place` (a Milvus server), when it only appends segments to the version its
collections hold and adds tombstones, into those collections: its new rows are
upserted, its deletions are skipped by readers until a merge, so an update costs what
changed. The alias then moves to the collections holding the published version, and
collections that hold no version kept on disk are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from corpus.errors import IndexMismatch
from index.candidates import MemoryCandidates
from index.milvus import (
    MANIFEST_PROPERTY,
    MilvusSettings,
    collection_names,
    connect,
    locate,
    manifest_of,
    stored_manifest,
    text_tokens,
)
from index.store import IndexVersion

_BATCH = 1_000  # entities per insert call


def write_version(
    settings: MilvusSettings,
    version: IndexVersion,
    local: MemoryCandidates | None = None,
    previous: IndexVersion | None = None,
) -> None:
    """Write `version`'s live passages and sentences to Milvus.

    In place, when the collections hold `previous` and `version` only appends segments to it
    and deletes rows of it: the new rows are inserted and the deleted ones deleted, so an
    update costs what changed. Otherwise into new collections of its own (replacing
    half-written ones).

    Args:
        local: `version`'s in-memory candidate stage, if the caller has built it (its sentence spans).
        previous: the version `version` was made from.
    """
    client = connect(settings)
    local = local or MemoryCandidates.build(version)
    shared = _in_place(client, previous, version) if previous is not None and settings.in_place else None
    if previous is not None and shared is not None:
        _update(client, shared, previous, version, local)
        return
    passages, sentences = collection_names(version.version)
    for name in (passages, sentences):
        if client.has_collection(name):
            client.drop_collection(name)
    _create(client, passages, version.manifest.dimension, settings, _manifest_property(version))
    _create(client, sentences, None, settings)
    live = np.setdiff1d(np.arange(version.size), version.deleted_rows, assume_unique=True)
    _insert(client, (passages, sentences), version, local, live)


def _in_place(client: Any, previous: IndexVersion, version: IndexVersion) -> tuple[str, str] | None:
    """Return the collections to add `version`'s new rows to, or None when that is not safe.

    It is safe when `version` keeps every segment of `previous` and appends after them:
    no row number then ever names another passage, in this version or a later one. Its
    deletions are tombstones that readers skip (and BM25 still counts, as in memory) until
    a merge writes new collections. Dropping a trailing segment writes anew too, since
    appending later would reuse its rows.
    """
    found = _holding(client, previous)
    if found is None:
        return None  # the collections hold something else
    before = [entry["name"] for entry in previous.manifest.segments]
    after = [entry["name"] for entry in version.manifest.segments]
    unchanged = ("embedder", "dimension", "chunker", "pipeline_fingerprint")
    same = all(getattr(previous.manifest, key) == getattr(version.manifest, key) for key in unchanged)
    tombstones_kept = np.isin(previous.deleted_rows, version.deleted_rows).all()
    return found if same and after[: len(before)] == before and tombstones_kept else None


def _update(
    client: Any, names: tuple[str, str], previous: IndexVersion, version: IndexVersion, local: MemoryCandidates
) -> None:
    """Add the rows `version` appends to `previous`'s collections, then say they hold `version`.

    Until the manifest is written last, the collections still serve `previous`: its readers
    skip rows past its size. Rows are upserted, so a write that stopped half-way is redone,
    not doubled.
    """
    added = np.setdiff1d(np.arange(previous.size, version.size), version.deleted_rows, assume_unique=True)
    _insert(client, names, version, local, added)
    client.alter_collection_properties(names[0], properties=_manifest_property(version))


def _insert(
    client: Any, names: tuple[str, str], version: IndexVersion, local: MemoryCandidates, rows: np.ndarray
) -> None:
    passages, sentences = names
    for batch in _batches(rows):
        chunks = [version.chunks[int(row)] for row in batch]
        vectors = version.vectors(batch)
        client.upsert(
            passages,
            [
                {"id": int(row), "row": int(row), "dense": vector.tolist(), "terms": text_tokens(chunk.text)}
                for row, chunk, vector in zip(batch, chunks, vectors)
            ],
        )
        client.upsert(sentences, list(_sentence_entities(local, batch, chunks)))
    for name in names:
        client.flush(name)


def _manifest_property(version: IndexVersion) -> dict[str, str]:
    return {MANIFEST_PROPERTY: json.dumps(manifest_of(version))}


def holds(settings: MilvusSettings, version: IndexVersion) -> bool:
    """Return True when Milvus holds `version`, as its manifest on disk describes it."""
    return _holding(connect(settings), version) is not None


def _holding(client: Any, version: IndexVersion) -> tuple[str, str] | None:
    """Return the collections holding `version` as its manifest on disk describes it, or None."""
    found = locate(client, version.version)
    return found if found is not None and stored_manifest(client, found[0]) == manifest_of(version) else None


def publish_alias(settings: MilvusSettings, version: str) -> None:
    """Point the alias at the passages collection holding `version`, in one call."""
    client = connect(settings)
    found = locate(client, version)
    if found is None:
        raise IndexMismatch(f"Milvus at {settings.uri} has no collection holding index version {version}")
    passages = found[0]
    if settings.alias in client.list_aliases().get("aliases", []):
        client.alter_alias(passages, settings.alias)
    else:
        client.create_alias(passages, settings.alias)


def drop_versions_except(settings: MilvusSettings, kept: set[str]) -> None:
    """Drop the collections of every version but `kept` (the versions still on disk)."""
    client = connect(settings)
    keep = {name for version in kept for name in locate(client, version) or ()}
    for name in client.list_collections():
        if name.startswith("viqa_") and name not in keep:
            client.drop_collection(name)


def _create(
    client: Any, name: str, dimension: int | None, settings: MilvusSettings, properties: dict[str, str] | None = None
) -> None:
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
    client.create_collection(name, schema=schema, index_params=index, properties=properties or {})


def _batches(rows: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), _BATCH):
        yield rows[start : start + _BATCH]


def _sentence_entities(local: MemoryCandidates, rows: np.ndarray, chunks: list[Any]) -> Iterator[dict[str, Any]]:
    for row, chunk in zip(rows.tolist(), chunks):
        for sentence in range(int(local.first_sentence[row]), int(local.first_sentence[row + 1])):
            start, end = local.sentence_spans[sentence]
            yield {"id": sentence, "row": row, "terms": text_tokens(chunk.text[start:end])}
