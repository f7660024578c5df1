"""/docs and /redoc served with their scripts from a package, so they work without internet.

FastAPI's defaults load Swagger UI and ReDoc from a CDN; the `fastapi-offline` package
ships those files, and FastAPI's documented self-hosting serves them from here.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
_FAVICON = "/static/favicon.svg"
# ReDoc adds its logo from cdn.redoc.ly after loading: the browser must not even try.
_SAME_ORIGIN = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:"
}


def install_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI) and /redoc from bundled assets (`app` made with docs_url=None, redoc_url=None)."""
    app.mount("/static-docs", StaticFiles(directory=ASSETS), name="static-docs")
    openapi = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return _same_origin(
            get_swagger_ui_html(
                openapi_url=openapi,
                title=f"{app.title} · API",
                swagger_js_url="/static-docs/swagger-ui-bundle.js",
                swagger_css_url="/static-docs/swagger-ui.css",
                swagger_favicon_url=_FAVICON,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _same_origin(
            get_redoc_html(
                openapi_url=openapi,
                title=f"{app.title} · API",
                redoc_js_url="/static-docs/redoc.standalone.js",
                redoc_favicon_url=_FAVICON,
                with_google_fonts=False,
            )
        )


def _same_origin(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(_SAME_ORIGIN)
    return page
