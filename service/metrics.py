"""Prometheus metrics of one service process, from `prometheus-client`.

Counters and histograms are observed where things happen (requests, search stages,
embedding batches, updates); what the process already counts (documents, chunks, the
index version's age, the query cache, overload refusals) is read at scrape time by a
collector, so the numbers cannot drift from `/health`. Each app has its own registry.
The service is one process (its workers are threads), so no multiprocess mode is
needed; run replicas as separate processes and scrape each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_UPDATES = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class Metrics:
    """The metric objects of one app, in their own registry."""

    def __init__(self, app_state: Any) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "viqa_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "viqa_http_request_duration_seconds",
            "Time to answer a request",
            ["route", "method"],
            buckets=_LATENCY,
            registry=r,
        )
        self.stage = Histogram(
            "viqa_search_stage_duration_seconds",
            "Time of each search stage: embed (queue wait included), candidates, scoring",
            ["stage"],
            buckets=_LATENCY,
            registry=r,
        )
        self.batch = Histogram(
            "viqa_embed_batch_size", "Questions embedded by one model call", buckets=(1, 2, 4, 8, 16, 32), registry=r
        )
        self.unanswerable = Counter("viqa_search_unanswerable", "Searches answered with answerable=false", registry=r)
        self.updates = Counter("viqa_updates", "Index updates through the API", ["operation", "outcome"], registry=r)
        self.update_seconds = Histogram(
            "viqa_update_duration_seconds", "Time of an index update", ["operation"], buckets=_UPDATES, registry=r
        )
        r.register(_StateCollector(app_state))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if route == "/metrics":
            return  # scrapes would otherwise count themselves
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def observe_search(self, timings: dict[str, float], answerable: bool) -> None:
        for stage, seconds in timings.items():
            self.stage.labels(stage).observe(seconds)
        if not answerable:
            self.unanswerable.inc()


class _StateCollector(Collector):
    """What the running service already knows, read when Prometheus scrapes."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        live = getattr(self.state, "live", None)
        searches = getattr(self.state, "searches", None)
        yield GaugeMetricFamily(
            "viqa_index_ready", "1 when an index version is loaded and served", value=live is not None
        )
        if searches is not None:
            yield CounterMetricFamily(
                "viqa_overloaded", "Searches refused with 503 because too many were waiting", value=searches.refused
            )
            yield GaugeMetricFamily(
                "viqa_searches_pending", "Searches admitted and not yet answered", value=searches.pending
            )
        if live is None:
            return
        manifest = live.version.manifest
        yield GaugeMetricFamily(
            "viqa_documents", "Documents in the served index version", value=manifest.document_count
        )
        yield GaugeMetricFamily("viqa_chunks", "Passages in the served index version", value=manifest.chunk_count)
        created = dt.datetime.fromisoformat(manifest.created_at)
        age = (dt.datetime.now(dt.UTC) - created).total_seconds()
        yield GaugeMetricFamily("viqa_index_age_seconds", "Age of the served index version", value=age)
        yield GaugeMetricFamily(
            "viqa_index_degraded",
            "1 while an older version than the published one is served",
            value=live.problem is not None,
        )
        stats = live.encoder.stats()
        cache = CounterMetricFamily("viqa_query_cache", "Query vector cache lookups", labels=["result"])
        cache.add_metric(["hit"], stats.cache_hits)
        cache.add_metric(["miss"], stats.cache_misses)
        yield cache
        yield CounterMetricFamily("viqa_embed_failures", "Model calls that raised", value=stats.failures)
        yield GaugeMetricFamily("viqa_embed_queued", "Questions waiting for an embedding worker", value=stats.queued)
