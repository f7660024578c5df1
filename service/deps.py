"""What routes get from the app: the live index, the settings, the search pool, the admin check.

The getters are coroutines: FastAPI would run plain functions on its thread pool, a
thread hop per dependency for what is an attribute read.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from corpus.errors import NotReady
from index.embed import Embedder
from index.live import LiveIndex
from service.limits import Limits, client_of
from service.pool import SearchPool
from service.settings import Settings

# Declares the scheme in the OpenAPI schema; the check itself is `require_admin`'s, with our messages.
_BEARER = HTTPBearer(auto_error=False, description="The admin token (VIQA_ADMIN_TOKEN).")


async def get_live(request: Request) -> LiveIndex:
    live: LiveIndex | None = request.app.state.live
    if live is None:
        raise NotReady(f"no index is served yet: {request.app.state.not_ready}")
    return live


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


async def get_limits(request: Request) -> Limits:
    return request.app.state.limits  # type: ignore[no-any-return]


Throttles = Annotated[Limits, Depends(get_limits)]


async def limit_searches(request: Request, limits: Throttles) -> AsyncIterator[None]:
    """Refuse a search (429) from a client with too many running already."""
    client = client_of(request.scope)
    limits.searches.enter(client)
    try:
        yield
    finally:
        limits.searches.leave(client)


async def require_admin(
    request: Request,
    settings: Config,
    limits: Throttles,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    """Let a request through only with the configured bearer token, and within its client's limits."""
    if settings.admin_token is None:
        raise HTTPException(403, "write endpoints are disabled: set VIQA_ADMIN_TOKEN to enable them")
    client = client_of(request.scope)
    limits.tokens.check(client)  # a client guessing tokens is stopped before its next guess is compared
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        if request.headers.get("authorization"):
            limits.tokens.failed(client)
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>)", {"WWW-Authenticate": "Bearer"})
    token = credentials.credentials.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(token, settings.admin_token.get_secret_value().encode()):
        limits.tokens.failed(client)
        raise HTTPException(403, "invalid bearer token")
    limits.writes.take(client)


WriterEmbedder = Annotated[Embedder, Depends(get_writer_embedder)]
Admin = Depends(require_admin)
SearchLimit = Depends(limit_searches)
