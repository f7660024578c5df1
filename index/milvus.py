"""Milvus as the candidate stage: HNSW and BM25 of each index version in Milvus collections.

With VIQA_BACKEND=milvus the index directory stays what it is: the segments hold the
texts, the documents and everything the shared scoring reads (sentence spans, the
restorer's counts, period tables, coverage). Each version is also held in two Milvus
collections, written before it is published (index/milvus_versions.py) and searched by
index/milvus_search.py:

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

The passages collection carries the version's manifest (embedder, chunker, fingerprints,
sizes) as its `viqa.manifest` property, and opening a version compares it with the
manifest on disk: an index directory and a Milvus that disagree are refused at start, as
an index built with another embedder is.

With a Milvus server (`in_place`), a version made from the one its collections hold, by
appending segments or dropping trailing ones, is written into them in place: those collections then hold the newer
version, under the older one's name. After publishing, the alias (VIQA_MILVUS_ALIAS,
`viqa-live`) is moved to the collections holding the new version in one call;
collections holding no version still on disk are dropped.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from corpus.errors import IndexMismatch, RetrievalError
from index.bm25 import term_hashes
from index.dense import DenseSettings
from index.lexical import terms
from index.store import IndexVersion

MAX_TOPK = 16_384  # the most entities one Milvus search returns
_EMPTY = "e0"  # the one token of a passage without terms, so no text is empty
MANIFEST_PROPERTY = "viqa.manifest"


@dataclass(frozen=True)
class MilvusSettings:
    """Where the Milvus collections are, and how their vectors are indexed."""

    uri: str  # a file path runs Milvus Lite; http://host:19530 reaches a server
    token: str | None = None
    alias: str = "viqa-live"
    hnsw_m: int = DenseSettings.hnsw_m  # the graphs FAISS builds, unless told otherwise
    hnsw_ef_construction: int = DenseSettings.hnsw_ef_construction
    # Updating collections in place keeps BM25 exact only where the engine scores with
    # collection-wide statistics; Milvus Lite 3.2 keeps them per segment (a TODO in its
    # engine/collection.py), so there a version written anew is the one that scores right.
    in_place: bool = False


def is_server(uri: str) -> bool:
    """Return True when `uri` reaches a Milvus server, False for a Milvus Lite file."""
    return uri.startswith(("http://", "https://", "tcp://"))


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
    if not is_server(settings.uri):  # Milvus Lite: its server holds the file
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


def locate(client: Any, version: str) -> tuple[str, str] | None:
    """Return the passages and sentences collections that hold `version`, or None."""
    passages, sentences = collection_names(version)
    if client.has_collection(passages) and client.has_collection(sentences):
        return passages, sentences
    for name in client.list_collections():  # a version updated in place lives in an older version's collections
        if name.startswith("viqa_") and name.endswith("_p"):
            if stored_manifest(client, name).get("version") == version:
                return name, name[:-2] + "_s"
    return None


def stored_manifest(client: Any, passages: str) -> dict[str, Any]:
    """Return the manifest stored with the passages collection `passages` ({} when it has none)."""
    stored = client.describe_collection(passages).get("properties", {}).get(MANIFEST_PROPERTY)
    return json.loads(stored) if stored else {}


def manifest_of(version: IndexVersion) -> dict[str, Any]:
    """Return what a version's collections must agree on with its manifest on disk."""
    manifest = version.manifest
    return {
        "version": version.version,
        "embedder": manifest.embedder,
        "dimension": manifest.dimension,
        "chunker": manifest.chunker,
        "corpus_fingerprint": manifest.corpus_fingerprint,
        "pipeline_fingerprint": manifest.pipeline_fingerprint,
        "rows": version.size,
        "live_rows": version.size - len(version.deleted_rows),
    }


def check_manifest(client: Any, passages: str, version: IndexVersion) -> None:
    """Raise IndexMismatch if the manifest stored with `passages` is not `version`'s."""
    expected, found = manifest_of(version), stored_manifest(client, passages)
    differing = [
        f"{key} {found.get(key)!r} (the index directory has {value!r})"
        for key, value in expected.items()
        if found.get(key) != value
    ]
    if differing:
        raise IndexMismatch(
            f"Milvus collection {passages} does not hold index version {version.version}: its manifest has "
            + "; ".join(differing)
            + ". Rebuild with `VIQA_BACKEND=milvus viqa index --full`, or point VIQA_MILVUS_URI at this index's Milvus"
        )
