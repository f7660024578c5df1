"""What routes get from the app: the live index, the settings, the search pool, the admin check.

The getters are coroutines: FastAPI would run plain functions on its thread pool, a
thread hop per dependency for what is an attribute read.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from index.embed import Embedder
from index.live import LiveIndex
from service.pool import SearchPool
from service.settings import Settings


async def get_live(request: Request) -> LiveIndex:
    return request.app.state.live  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_searches(request: Request) -> SearchPool:
    return request.app.state.searches  # type: ignore[no-any-return]


Live = Annotated[LiveIndex, Depends(get_live)]
Config = Annotated[Settings, Depends(get_settings)]
Searches = Annotated[SearchPool, Depends(get_searches)]


async def get_writer_embedder(request: Request) -> Embedder:
    """Return the embedder of index updates, loaded at start-up when writes are enabled."""
    return request.app.state.writer_embedder  # type: ignore[no-any-return]


async def require_admin(request: Request, settings: Config) -> None:
    """Let a request through only with the configured bearer token."""
    if settings.admin_token is None:
        raise HTTPException(403, "write endpoints are disabled: set VIQA_ADMIN_TOKEN to enable them")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>)", {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(token.encode(), settings.admin_token.get_secret_value().encode()):
        raise HTTPException(403, "invalid bearer token")


WriterEmbedder = Annotated[Embedder, Depends(get_writer_embedder)]
Admin = Depends(require_admin)
