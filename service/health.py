"""Liveness, readiness and metrics: what a load balancer, an orchestrator and Prometheus ask.

`/health/live` answers while the process serves. `/health/ready` answers 503 until an
index version is loaded, and while the service has fallen back to an older version
than the published one, with the reason, so traffic goes to replicas that serve the
current index. `/metrics` is Prometheus's text format (service/metrics.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.schemas import Readiness


def health_routes(metrics: bool) -> APIRouter:
    """Return the probes' routes, and /metrics when `metrics` is on."""
    router = APIRouter(tags=["operations"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        """Answer 200 while the process serves requests."""
        return {"status": "alive"}

    @router.get(
        "/health/ready",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Starting, or serving an older index version."}},
    )
    async def ready(request: Request) -> JSONResponse:
        """Answer 200 when the published index version is loaded and served, else 503 with the reason."""
        state = request.app.state
        served = state.live
        reason = state.not_ready if served is None else served.problem
        body = Readiness(ready=reason is None, reason=reason, index_version=served.version.version if served else None)
        return JSONResponse(body.model_dump(), status_code=200 if reason is None else 503)

    if metrics:

        @router.get("/metrics", response_class=Response)
        async def scrape(request: Request) -> Response:
            """Return the service's metrics in Prometheus's text format."""
            return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
