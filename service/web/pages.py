"""Server-rendered pages: search, a document with its cited passage, the documents, the evaluation.

Every page works without JavaScript (forms are plain GETs rendered here); the scripts
in static/ only make them quicker (results without a reload) and carry the admin
token, which lives in the browser's session storage and never in a URL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from corpus.errors import NotReady, RetrievalError
from service.deps import Config, Searches, SearchLimit, get_live
from service.schemas import DEFAULT_TOP_K, MAX_TOP_K, SearchRequest
from service.web import charts
from service.web.text import document_blocks

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
# The pages run only their own scripts and styles: nothing inline, nothing from elsewhere.
SAME_ORIGIN = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"}
static_files = StaticFiles(directory=HERE / "static")


def page_routes() -> APIRouter:
    """Return the router of the HTML pages (left out of the OpenAPI schema: they are not the API)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse, dependencies=[SearchLimit])
    async def search_page(request: Request, settings: Config, searches: Searches) -> HTMLResponse:
        from service.api import search  # the API's own search: same limits, log fields and metrics

        question = request.query_params.get("q", "").strip()
        top_k = _top_k(request.query_params.get("k"))
        context: dict[str, Any] = {"q": question, "k": top_k, "max_k": MAX_TOP_K, "response": None, "error": None}
        status, headers = 200, {}
        if question:
            try:
                body = SearchRequest(query=question, top_k=top_k, filters=None)
                context["response"] = await search(request, await get_live(request), settings, searches, body)
            except ValidationError as exc:
                context["error"], status = exc.errors()[0]["msg"], 422
            except NotReady as exc:
                return starting_page(request, exc)
            except RetrievalError as exc:  # too long, overloaded: the API's status, said on the page
                context["error"], status, headers = str(exc), exc.status, dict(exc.headers)
        return _page(request, "search.html", context, status, headers)

    @router.get("/documents/{doc_id}/view", response_class=HTMLResponse)
    async def document_page(
        request: Request, doc_id: str, start: int | None = None, end: int | None = None
    ) -> HTMLResponse:
        try:
            live = await get_live(request)
        except NotReady as exc:
            return starting_page(request, exc)
        stored = live.version.documents.get(doc_id)
        if stored is None:
            missing = {"message": f"Không có tài liệu “{doc_id}”.", "back": "/library"}
            return _page(request, "missing.html", missing, 404)
        cited = (start, end) if start is not None and end is not None and 0 <= start < end <= len(stored.text) else None
        context: dict[str, Any] = {"meta": stored.meta, "blocks": document_blocks(stored.text, cited)}
        return _page(request, "document.html", context)

    @router.get("/library", response_class=HTMLResponse)
    async def library_page(request: Request, settings: Config) -> HTMLResponse:
        try:
            live = await get_live(request)
        except NotReady as exc:
            return starting_page(request, exc)
        records = sorted(live.version.documents.records(), key=lambda r: (r.meta.published, r.meta.title), reverse=True)
        context = {"records": records, "writes": settings.admin_token is not None}
        return _page(request, "library.html", context)

    @router.get("/evaluation", response_class=HTMLResponse)
    def evaluation_page(request: Request, settings: Config) -> HTMLResponse:
        path, report = latest_report(settings.reports_dir)
        context: dict[str, Any] = {"path": path, "report": report, "charts": None}
        runs = report.get("runs") if isinstance(report, dict) else None
        if isinstance(runs, list) and runs and all(isinstance(run, dict) for run in runs):
            context["charts"] = {
                "bars": [(run.get("name", "?"), charts.category_bars(run)) for run in runs],
                "side_by_side": charts.configurations_side_by_side(runs),
                "tradeoff": [(run.get("name", "?"), charts.abstention_tradeoff(run)) for run in runs],
            }
        return _page(request, "evaluation.html", context)

    return router


def _page(
    request: Request, name: str, context: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers={**SAME_ORIGIN, **(headers or {})}
    )


def starting_page(request: Request, exc: NotReady) -> HTMLResponse:
    """The page a browser gets while the service has no index loaded yet."""
    return _page(
        request,
        "missing.html",
        {"message": "Dịch vụ đang khởi động; hãy thử lại sau ít giây.", "back": "/"},
        exc.status,
        dict(exc.headers),
    )


def latest_report(reports_dir: Path) -> tuple[Path | None, dict[str, Any] | None]:
    """Return the newest `viqa eval` report of `reports_dir` and its content (None, None when there is none)."""
    reports = sorted(reports_dir.glob("eval-*.json")) if reports_dir.is_dir() else []
    for path in reversed(reports):  # names sort by time; a report being written may not parse yet
        try:
            return path, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None, None


def _top_k(raw: str | None) -> int:
    """Return the page's number of results: the API's default unless a whole number in range is given."""
    if raw and raw.isdigit():
        return min(max(int(raw), 1), MAX_TOP_K)
    return DEFAULT_TOP_K
