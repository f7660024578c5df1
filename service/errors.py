"""Every error as one JSON shape: `{"error", "detail", "request_id"}`, named by its HTTP status or our type."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from corpus.errors import RetrievalError
from service.logs import request_id
from service.schemas import ErrorResponse


def _error(status: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    content = ErrorResponse(error=error, detail=detail, request_id=request_id.get()).model_dump()
    return JSONResponse(status_code=status, content=content, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error the app raises with `ErrorResponse`, the request id included."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "malformed_json", "the request body is not valid JSON")
        parts = []
        for e in errors:
            loc = list(e.get("loc", ()))
            if loc and loc[0] in ("body", "query", "path"):
                loc = loc[1:]  # where the field came from is noise to the reader
            where = ".".join(str(p) for p in loc)
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return _error(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names the methods of the first route of that path only
            headers["Allow"] = ", ".join(_allowed_methods(app, request.scope))
        name = _snake(HTTPStatus(exc.status_code).phrase.replace(" ", "").replace("-", ""))
        if exc.status_code == 400 and exc.detail == _FASTAPI_UNPARSED:
            name, exc.detail = "malformed_json", "the request body is not valid JSON"
        return _error(exc.status_code, name, str(exc.detail), headers)

    @app.exception_handler(RetrievalError)
    async def retrieval_error(request: Request, exc: RetrievalError) -> JSONResponse:
        return _error(exc.status, _snake(type(exc).__name__), str(exc), exc.headers)


_FASTAPI_UNPARSED = "There was an error parsing the body"  # e.g. JSON nested deeper than Python parses


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Return the methods some route of the app answers at the request's path."""
    methods = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    return [m for m in methods if any(r.matches({**scope, "method": m})[0] == Match.FULL for r in app.router.routes)]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
