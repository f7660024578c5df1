"""Start-up and shutdown of the service: the pool, the writer's embedder, the index, the watcher.

The index is loaded (and, with `viqa serve`, built first when the corpus changed) on a
thread after the app has started, so the process answers `/health/live` at once and
`/health/ready` with 503 until a version is served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from prometheus_client import start_http_server

from index.embed import Embedder, load_embedder
from index.encoder import QueryEncoder, cores
from index.live import LiveIndex
from service.pool import SearchPool
from service.settings import Settings

log = logging.getLogger(__name__)


def lifespan(
    settings: Settings,
    live: LiveIndex | None,
    writer_embedder: Embedder | None,
    open_index: Callable[[], LiveIndex] | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Return the app's start-up and shutdown: `live` served at once, or `open_index` loaded in the background."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.searches = SearchPool(settings.search_threads or 2 * cores(), settings.max_pending)
        # Updates get their own embedder instance, so queries are not queued behind a build.
        writes_enabled = settings.admin_token is not None
        app.state.writer_embedder = writer_embedder or (load_embedder(settings.embedder) if writes_enabled else None)
        app.state.live, app.state.not_ready, app.state.stop_watch = None, "loading the index", None
        metrics_server = _metrics_server(app, settings)
        if live is not None:
            _serve_index(app, live)
        else:
            opener = open_index or partial(served_index, settings)
            # a daemon: stopping the service during a first build must not wait for it (writes are atomic)
            threading.Thread(target=_load_index, args=(app, opener), name="viqa-load", daemon=True).start()
        yield
        if app.state.stop_watch:
            app.state.stop_watch.set()
        app.state.searches.close()
        if live is None and app.state.live is not None:
            app.state.live.encoder.close()
        if metrics_server is not None:
            metrics_server.shutdown()

    return run


def served_index(settings: Settings, embedder: Embedder | None = None) -> LiveIndex:
    """Return the published index version as `settings` serve it (queries embedded by `embedder`)."""
    encoder = QueryEncoder(embedder or load_embedder(settings.embedder), settings.encoder_settings())
    return LiveIndex(
        settings.index_dir, encoder, settings.chunk_settings(), settings.search_config(), settings.engine()
    )


def _load_index(app: FastAPI, open_index: Callable[[], LiveIndex]) -> None:
    """Load the index off the event loop; until then, and if it fails, the service is not ready."""
    try:
        _serve_index(app, open_index())
    except Exception as exc:
        app.state.not_ready = f"the index could not be loaded ({type(exc).__name__}; see the service's log)"
        log.exception("the index could not be loaded; the service stays not ready")


def _serve_index(app: FastAPI, live: LiveIndex) -> None:
    settings: Settings = app.state.settings
    live.encoder.on_batch = app.state.metrics.batch.observe
    app.state.stop_watch = live.watch(settings.reload_interval) if settings.reload_interval else None
    app.state.live, app.state.not_ready = live, None
    log.info("serving index version %s", live.version.version)


def _metrics_server(app: FastAPI, settings: Settings) -> Any:
    """Start /metrics on its own port when VIQA_METRICS_PORT asks for one; return the server (or None)."""
    if not settings.metrics or settings.metrics_port is None:
        return None
    server, _ = start_http_server(settings.metrics_port, addr=settings.host, registry=app.state.metrics.registry)
    return server
