"""The HTTP API: thin routes over `index.live.LiveIndex`, errors in one JSON shape."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.types import Scope

from corpus.documents import DocumentMeta
from corpus.errors import DocumentNotFound, InvalidQuery
from corpus.formats import MEDIA_TYPES
from corpus.originals import original_path
from index.embed import Embedder
from index.live import LiveIndex
from index.search import Hit
from service.deps import Config, Live, Searches, SearchLimit
from service.errors import install_error_handlers
from service.health import health_routes
from service.limits import BoundedBodies
from service.logs import RequestContext, note
from service.metrics import Metrics
from service.pool import SearchPool
from service.schemas import (
    DEFAULT_TOP_K,
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    READ_ERRORS,
    Citation,
    DocumentDetail,
    DocumentList,
    DocumentSummary,
    ErrorResponse,
    Health,
    Highlight,
    Load,
    SearchRequest,
    SearchResponse,
    SearchResult,
    errors_of,
    search_request,
)
from service.settings import Settings
from service.startup import lifespan
from service.web.apidocs import install_docs
from service.web.pages import page_routes, static_files
from service.writes import MAX_REQUEST_BYTES, write_routes

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    live: LiveIndex | None = None,
    writer_embedder: Embedder | None = None,
    open_index: Callable[[], LiveIndex] | None = None,
) -> FastAPI:
    """Return the app, serving `live`, or the index `open_index` loads once the app has started.

    Args:
        writer_embedder: embeds the chunks of documents added over HTTP (default: a second
            instance of the configured embedder, loaded at start-up when VIQA_ADMIN_TOKEN is set).
        open_index: loads (and builds, if needed) the index in the background, so the
            process answers /health/live, and /health/ready with 503, meanwhile (default:
            load the published version).
    """

    app = FastAPI(
        title="viqa",
        summary="Question answering retrieval over Vietnamese documents, with citations.",
        lifespan=lifespan(settings, live, writer_embedder, open_index),
        docs_url=None,  # served from bundled assets instead of a CDN (service/web/apidocs.py)
        redoc_url=None,
        responses={422: {"model": ErrorResponse, "description": "A field is missing or invalid."}},
    )
    app.state.limits = settings.limits()
    app.state.metrics = Metrics(app.state)
    app.state.live = None
    app.add_middleware(BoundedBodies, limit_of=partial(_body_limit, settings), timeout=settings.body_timeout)
    app.add_middleware(RequestContext, observe=app.state.metrics.observe_request)  # outermost: sees every answer
    install_error_handlers(app)
    app.include_router(_routes())
    app.include_router(write_routes())
    app.include_router(health_routes(metrics=settings.metrics and settings.metrics_port is None))
    install_docs(app)
    app.mount("/static", static_files, name="static")
    app.include_router(page_routes())
    return app


def _routes() -> APIRouter:
    router = APIRouter()

    @router.post("/search", response_model=SearchResponse, responses=READ_ERRORS, dependencies=[SearchLimit])
    async def search_post(
        request: Request, body: SearchRequest, live: Live, settings: Config, searches: Searches
    ) -> SearchResponse:
        """Return the passages that best answer `query`, each with its citation."""
        return await search(request, live, settings, searches, body)

    @router.get("/search", response_model=SearchResponse, responses=READ_ERRORS, dependencies=[SearchLimit])
    async def search_get(
        request: Request,
        live: Live,
        settings: Config,
        searches: Searches,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The question.")],
        top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K)] = DEFAULT_TOP_K,
        doc_id: Annotated[list[str] | None, Query(description="Only these documents (repeat the parameter).")] = None,
        published_from: Annotated[dt.date | None, Query(description="Only documents published on or after.")] = None,
        published_to: Annotated[dt.date | None, Query(description="Only documents published on or before.")] = None,
    ) -> SearchResponse:
        """Same as POST /search, with the question in `q` and the filters as parameters."""
        if not request.query_params.get("top_k", "5").isdigit():  # "5.0" is a float to POST: the same here
            raise RequestValidationError([{"loc": ("query", "top_k"), "msg": "Input should be a whole number"}])
        try:
            body = search_request(q, top_k, doc_ids=doc_id, published_from=published_from, published_to=published_to)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        return await search(request, live, settings, searches, body)

    @router.get("/documents", response_model=DocumentList)
    def list_documents(live: Live) -> DocumentList:
        """Return every document of the served index."""
        records = live.version.documents.records()
        return DocumentList(documents=[_summary(r.meta, r.chunk_count) for r in records])

    @router.get("/documents/{doc_id}", response_model=DocumentDetail, responses=errors_of(404))
    def get_document(doc_id: str, live: Live) -> DocumentDetail:
        """Return one document's metadata and the clean text citations point into."""
        stored = live.version.documents.get(doc_id)
        if stored is None:
            raise DocumentNotFound(f"no document {doc_id!r}; GET /documents lists them")
        return DocumentDetail(**_summary(stored.meta, stored.chunk_count).model_dump(), text=stored.text)

    @router.get(
        "/documents/{doc_id}/source",
        response_class=FileResponse,
        responses={**errors_of(404), 200: {"description": "The file the document was added from."}},
    )
    def get_source(doc_id: str, live: Live, settings: Config) -> FileResponse:
        """Return the file the document came from (.docx, .pdf, .html, .md or its text), for a reader to open."""
        path = original_path(settings.corpus_dir, doc_id) if live.version.documents.get(doc_id) else None
        if path is None:
            raise DocumentNotFound(f"no document {doc_id!r}; GET /documents lists them")
        media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        # an uploaded page must not run scripts as this service (whose pages may hold the admin token)
        guard = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
        return FileResponse(
            path, media_type=media, filename=path.name, content_disposition_type="inline", headers=guard
        )

    @router.get("/health", response_model=Health)
    async def health(live: Live, searches: Searches) -> Health:
        """Return what is being served, and the load on it."""
        version, embedding = live.version, live.encoder.stats()
        load = Load(
            searches_pending=searches.pending,
            searches_refused=searches.refused,
            embeddings_queued=embedding.queued,
            cache_hits=embedding.cache_hits,
            cache_misses=embedding.cache_misses,
        )
        return Health(
            status="ok" if live.problem is None else "degraded",
            problem=live.problem,
            index_loaded=True,
            index_version=version.version,
            embedder=version.manifest.embedder,
            documents=version.manifest.document_count,
            chunks=version.manifest.chunk_count,
            load=load,
        )

    return router


async def search(
    request: Request, live: LiveIndex, settings: Settings, searches: SearchPool, body: SearchRequest
) -> SearchResponse:
    """Run one search on the pool, noting its query in the request's log line and its stages in the metrics."""
    note(query_length=len(body.query), **({"query": body.query} if settings.log_queries else {}))
    return await searches.run(run_search, live, settings, body, request.app.state.metrics.observe_search)


def run_search(
    live: LiveIndex, settings: Settings, body: SearchRequest, observe: Callable[..., None] | None = None
) -> SearchResponse:
    """Return the API response for `body`; the CLI prints the same.

    Args:
        observe: told the search's stage timings and whether it was answerable (metrics).
    """
    if len(body.query) > settings.max_query_chars:
        raise InvalidQuery(f"query is {len(body.query)} characters; the limit is {settings.max_query_chars}")
    tokens = live.encoder.embedder.count_tokens(body.query)
    if tokens > settings.max_query_tokens:
        raise InvalidQuery(f"query is {tokens} tokens long; the limit is {settings.max_query_tokens}")
    started = time.perf_counter()
    outcome = live.search(body.query, body.top_k, search_filter=body.filters.to_filter() if body.filters else None)
    took_ms = (time.perf_counter() - started) * 1000
    if observe is not None:
        observe(outcome.timings, outcome.answerable)
    return SearchResponse(
        query=body.query,
        results=[_result(h) for h in outcome.hits],
        took_ms=round(took_ms, 2),
        answerable=outcome.answerable,
        confidence=round(outcome.confidence, 4),
        rewritten_query=outcome.rewritten_query,
    )


def _result(hit: Hit) -> SearchResult:
    chunk, meta = hit.chunk, hit.document
    citation = Citation(
        doc_id=meta.doc_id,
        title=meta.title,
        published=meta.published,
        section=chunk.section,
        paragraphs=chunk.paragraphs,
        char_start=chunk.start,
        char_end=chunk.end,
    )
    start, end = hit.highlight
    highlight = Highlight(start=start, end=end, text=chunk.text[start:end])
    return SearchResult(
        rank=hit.rank, score=round(hit.score, 4), text=chunk.text, citation=citation, highlight=highlight
    )


def _summary(meta: DocumentMeta, chunk_count: int) -> DocumentSummary:
    return DocumentSummary(
        doc_id=meta.doc_id,
        title=meta.title,
        published=meta.published,
        author=meta.author,
        url=meta.url,
        chunk_count=chunk_count,
    )


def _body_limit(settings: Settings, scope: Scope) -> int:
    """Return how many bytes the body of a request may hold: a document's limit on document writes."""
    if scope["method"] in ("POST", "PUT") and scope["path"].startswith("/documents"):
        return MAX_REQUEST_BYTES
    return settings.max_body_bytes
