"""Queries to ranked, cited passages over one loaded index version."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.chunk import Chunk
from corpus.documents import DocumentMeta
from index.embed import Embedder
from index.store import IndexVersion


@dataclass(frozen=True)
class Hit:
    """One ranked passage."""

    rank: int
    score: float
    chunk: Chunk
    document: DocumentMeta


def search(version: IndexVersion, embedder: Embedder, query: str, top_k: int) -> list[Hit]:
    """Return the `top_k` passages of `version` closest to `query`."""
    if not version.chunks:
        return []
    vector = embedder.embed_queries([query])
    scores, rows = version.vectors.search(np.ascontiguousarray(vector), min(top_k, len(version.chunks)))
    hits = []
    for score, row in zip(scores[0], rows[0]):
        if row < 0:
            continue
        chunk = version.chunks[row]
        hits.append(Hit(len(hits) + 1, float(score), chunk, version.documents[chunk.doc_id].meta))
    return hits
