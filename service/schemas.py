"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corpus.documents import DOC_ID_PATTERN
from index.filters import SearchFilter

MAX_TOP_K = 50
DEFAULT_TOP_K = 5
MAX_FILTER_IDS = 1000
MAX_QUERY_CHARS = 1000  # the ceiling; VIQA_MAX_QUERY_CHARS may set a lower one


class SearchFilters(BaseModel):
    """Which documents may answer; every field given must hold. No match gives no results, not an error."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] | None = Field(
        None, min_length=1, max_length=MAX_FILTER_IDS, description="Only passages of these documents."
    )
    published_from: dt.date | None = Field(None, description="Only documents published on or after this day.")
    published_to: dt.date | None = Field(None, description="Only documents published on or before this day.")

    @field_validator("doc_ids")
    @classmethod
    def _valid_ids(cls, value: list[str] | None) -> list[str] | None:
        for doc_id in value or ():
            if not DOC_ID_PATTERN.match(doc_id):
                raise ValueError(f"{doc_id!r} is not a document id (GET /documents lists them)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SearchFilters:
        if self.published_from and self.published_to and self.published_from > self.published_to:
            raise ValueError(f"published_from {self.published_from} is after published_to {self.published_to}")
        return self

    def to_filter(self) -> SearchFilter:
        """Return the filter the retriever applies."""
        ids = frozenset(self.doc_ids) if self.doc_ids is not None else None
        return SearchFilter(ids, self.published_from, self.published_to)


class SearchRequest(BaseModel):
    """A question, how many passages to return, and which documents may answer."""

    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="The question, in Vietnamese (with or without diacritics) or English.",
    )
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, strict=True, description="Number of passages to return.")
    filters: SearchFilters | None = Field(None, description="Documents that may answer (default: all).")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be empty or only whitespace")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("query holds an invalid character (a lone surrogate)") from None
        return value.strip()


def first_error(exc: ValidationError) -> str:
    """Return the first problem of a validation error as one line: where, and what."""
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def search_request(query: str, top_k: int, **filters: Any) -> SearchRequest:
    """Return the request a GET query or a CLI call describes; filters given as None are absent.

    Raises:
        ValidationError: as for a POST body.
    """
    given = {key: value for key, value in filters.items() if value is not None} or None
    return SearchRequest.model_validate({"query": query, "top_k": top_k, "filters": given})


class Citation(BaseModel):
    """Where a passage comes from; `char_start:char_end` index GET /documents/{doc_id} text."""

    doc_id: str
    title: str
    published: dt.date
    section: str | None
    paragraphs: tuple[int, int] = Field(description="First and last paragraph (line of the clean text), 1-based.")
    char_start: int
    char_end: int


class Highlight(BaseModel):
    """The sentence of the passage that best answers the query: `text[start:end]`."""

    start: int
    end: int
    text: str


class SearchResult(BaseModel):
    rank: int
    score: float = Field(
        description="Ranking score: weighted reciprocal-rank fusion in hybrid mode, cosine in dense, BM25 in bm25."
    )
    text: str
    citation: Citation
    highlight: Highlight


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    took_ms: float
    answerable: bool = Field(description="False when nothing in the collection seems to answer the query.")
    confidence: float = Field(
        description="IDF-weighted share of the query's terms found in one of the top passages (0-1); "
        "`answerable` compares it to VIQA_MIN_CONFIDENCE."
    )
    rewritten_query: str | None = Field(
        None,
        description="The query as matched by BM25, when it differs: diacritics restored, English terms translated "
        "to Vietnamese, or the collection's wording of phrases it never uses added.",
    )


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    published: dt.date
    author: str | None
    url: str | None
    chunk_count: int


class DocumentDetail(DocumentSummary):
    text: str = Field(description="The clean text that citation offsets refer to.")


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class Load(BaseModel):
    """What the service is doing now, and its query-embedding cache since start."""

    searches_pending: int = Field(description="Searches admitted and not yet answered.")
    searches_refused: int = Field(description="Searches answered 503 since start (VIQA_MAX_PENDING).")
    embeddings_queued: int = Field(description="Queries waiting for an embedding worker.")
    cache_hits: int
    cache_misses: int


class Health(BaseModel):
    status: str = Field(description="'ok', or 'degraded' when an older index version than the published one is served.")
    problem: str | None = Field(None, description="Why the service is degraded.")
    index_loaded: bool
    index_version: str
    embedder: str
    documents: int
    chunks: int
    load: Load


class ErrorResponse(BaseModel):
    """The one shape of every error answer."""

    error: str = Field(description="Machine-readable error type.")
    detail: str = Field(description="What is wrong and how to fix it.")
    request_id: str | None = Field(None, description="The request's id (X-Request-ID), as the service's logs name it.")


class Readiness(BaseModel):
    """Whether this replica should get traffic."""

    ready: bool
    reason: str | None = Field(None, description="Why not: starting, or serving an older index version.")
    index_version: str | None = None


class DocumentIn(BaseModel):
    """A document to add or replace; the metadata names match the citation's."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=1000, description="Title of the document.")
    published: str = Field(
        max_length=10, json_schema_extra={"format": "date"}, description="Publication date, YYYY-MM-DD."
    )
    text: str = Field(description="The text as published, UTF-8, one paragraph per line; at most 2,000,000 bytes.")
    author: str | None = Field(None, max_length=1000)
    url: str | None = Field(None, max_length=2000)


class DocumentWriteResult(BaseModel):
    """What a write did to the corpus and the index."""

    doc_id: str
    index_version: str
    documents: int
    chunks: int
    added: int = Field(description="Chunks new in this index version.")
    removed: int = Field(description="Chunks of the previous version that are gone.")
    embedded: int = Field(description="Chunks sent to the embedder.")
    seconds: float


def errors_of(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse, "description": _WHY[status]} for status in statuses}


_WHY = {
    400: "The body is not valid JSON, or the request is malformed.",
    401: "No bearer token was sent.",
    403: "The token is wrong, or writes are disabled (no VIQA_ADMIN_TOKEN).",
    404: "No such document.",
    408: "The body did not arrive in time (VIQA_BODY_TIMEOUT).",
    409: "The document exists, another write is running, or the Idempotency-Key was used for another request.",
    411: "The Content-Length header is missing.",
    413: "The body or the document is over its size limit.",
    415: "The body is neither JSON nor multipart/form-data.",
    422: "A field is missing or invalid.",
    429: "Too many requests or failed tokens from this client; retry after Retry-After.",
    503: "Too many searches waiting, or no index can be served; retry after Retry-After.",
}
READ_ERRORS = errors_of(400, 408, 413, 422, 429, 503)
WRITE_ERRORS = errors_of(400, 401, 403, 404, 408, 409, 411, 413, 415, 422, 429, 503)
