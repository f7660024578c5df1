"""What an operator sees: metrics that move with searches and updates, request ids in answers and
log lines, liveness and readiness through a start and a failed load."""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corpus.chunk import ChunkSettings
from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from service.api import create_app
from service.logs import JsonLines
from service.settings import Settings
from tests.conftest import THIRD, KeywordEmbedder, wait_ready
from tests.service.conftest import AUTH

NEW = {"title": THIRD[1], "published": THIRD[2], "text": THIRD[3]}


def _sample(text: str, name: str, **labels: str) -> float:
    """Return the value of one sample of Prometheus text (0 when it is absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        base, _, given = metric.partition("{")
        if base == name and ",".join(sorted(given.rstrip("}").split(","))) == wanted:
            return float(value)
    return 0.0


def test_metrics_move_with_searches_and_updates(admin: TestClient) -> None:
    before = admin.get("/metrics").text
    assert admin.get("/metrics").headers["content-type"].startswith("text/plain")
    for _ in range(3):
        assert admin.post("/search", json={"query": "Trụ sở ở đâu?"}).status_code == 200
    admin.post("/search", json={"query": "Ban Chấp hành nhiệm kỳ 2035 gồm bao nhiêu người ở Đà Nẵng?"})
    assert admin.post("/search", json={"query": ""}).status_code == 422
    assert admin.post("/documents", json=NEW, headers=AUTH).status_code == 201
    assert admin.put("/documents/khong-co", json=NEW, headers=AUTH).status_code == 404  # refused by the writer
    after = admin.get("/metrics").text

    def moved(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert moved("viqa_http_requests_total", route="/search", method="POST", status="200") == 4
    assert moved("viqa_http_requests_total", route="/search", method="POST", status="422") == 1
    assert moved("viqa_http_request_duration_seconds_count", route="/search", method="POST") == 5
    for stage in ("embed", "candidates", "scoring"):
        assert moved("viqa_search_stage_duration_seconds_count", stage=stage) == 4
    assert moved("viqa_search_unanswerable_total") >= 1
    assert moved("viqa_embed_batch_size_count") >= 1  # the repeated question is a cache hit
    assert moved("viqa_query_cache_total", result="hit") >= 2
    assert moved("viqa_updates_total", operation="add", outcome="applied") == 1
    assert moved("viqa_updates_total", operation="replace", outcome="refused") == 1
    assert moved("viqa_update_duration_seconds_count", operation="add") == 1
    assert _sample(after, "viqa_documents") == 3 and _sample(after, "viqa_chunks") > 0
    assert 0 <= _sample(after, "viqa_index_age_seconds") < 60 and _sample(after, "viqa_index_ready") == 1
    assert _sample(after, "viqa_http_requests_total", route="/metrics", method="GET", status="200") == 0


def test_every_answer_carries_a_request_id_and_its_log_lines_do_too(
    admin: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="viqa.access"):
        given = admin.post("/search", json={"query": "Trụ sở ở đâu?"}, headers={"X-Request-ID": "trace-42"})
        error = admin.post("/search", json={"query": " "})
        forged = admin.get("/health/live", headers={"X-Request-ID": "bad id\r\nx"})
    assert given.headers["x-request-id"] == "trace-42"
    generated = error.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated) and error.json()["request_id"] == generated
    assert forged.headers["x-request-id"] != "bad id\r\nx"
    lines = [json.loads(JsonLines().format(r)) for r in caplog.records if r.name == "viqa.access"]
    search = next(line for line in lines if line["request_id"] == "trace-42")
    assert search["route"] == "/search" and search["status"] == 200 and search["duration_ms"] > 0
    assert search["query_length"] == len("Trụ sở ở đâu?") and "query" not in search  # questions can be personal
    assert next(line for line in lines if line["request_id"] == generated)["status"] == 422


def test_queries_are_logged_only_when_asked(
    small_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder, chunking = KeywordEmbedder(), ChunkSettings(max_tokens=40)
    settings = Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", chunk_max_tokens=40, log_queries=True)
    update_index(small_corpus, settings.index_dir, embedder, chunking)
    live = LiveIndex(settings.index_dir, QueryEncoder(embedder), chunking)
    with TestClient(create_app(settings, live)) as client, caplog.at_level(logging.INFO, logger="viqa.access"):
        client.get("/search", params={"q": "Trụ sở ở đâu?"})
    assert any(getattr(r, "query", None) == "Trụ sở ở đâu?" for r in caplog.records)


def test_readiness_waits_for_the_index_and_says_why_not(small_corpus: Path, tmp_path: Path) -> None:
    embedder, chunking = KeywordEmbedder(), ChunkSettings(max_tokens=40)
    settings = Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", chunk_max_tokens=40, reload_interval=0)
    update_index(small_corpus, settings.index_dir, embedder, chunking)
    release = threading.Event()

    def slow_open() -> LiveIndex:  # what a first build looks like from outside
        release.wait(30)
        return LiveIndex(settings.index_dir, QueryEncoder(embedder), chunking)

    with TestClient(create_app(settings, open_index=slow_open)) as client:
        assert client.get("/health/live").json() == {"status": "alive"}
        starting = client.get("/health/ready")
        assert starting.status_code == 503 and starting.json()["reason"] == "loading the index"
        search = client.get("/search", params={"q": "Trụ sở"})
        assert search.status_code == 503 and search.headers["retry-after"] and "loading" in search.json()["detail"]
        page = client.get("/", params={"q": "Trụ sở"})  # a browser gets a page, not JSON
        assert page.status_code == 503 and "đang khởi động" in page.text
        assert "viqa_index_ready 0.0" in client.get("/metrics").text
        release.set()
        wait_ready(client.get, timeout=30)
        ready = client.get("/health/ready").json()
        assert ready["ready"] and ready["index_version"] == client.get("/health").json()["index_version"]

        # a newly published version that cannot be loaded: the old one is served, and readiness says so
        live = client.app.state.live  # type: ignore[attr-defined]
        live.problem = "index version X cannot be loaded (checksum mismatch); serving Y"
        degraded = client.get("/health/ready")
        assert degraded.status_code == 503 and "cannot be loaded" in degraded.json()["reason"]
        assert client.get("/health").json()["status"] == "degraded"


def test_a_failed_load_leaves_the_service_alive_and_not_ready(tmp_path: Path) -> None:
    def broken() -> LiveIndex:
        raise RuntimeError("disk full")

    with TestClient(create_app(Settings(index_dir=tmp_path / "index"), open_index=broken)) as client:
        for _ in range(100):
            reason = client.get("/health/ready").json()["reason"]
            if reason != "loading the index":
                break
            threading.Event().wait(0.02)
        assert "could not be loaded (RuntimeError" in reason and client.get("/health/live").status_code == 200
        assert "disk full" not in reason  # the log has the detail; an unauthenticated probe does not


def test_metrics_can_be_turned_off(small_settings: Settings) -> None:
    app = create_app(small_settings.model_copy(update={"metrics": False}), open_index=lambda: None)  # type: ignore[arg-type,return-value]
    assert "/metrics" not in {getattr(r, "path", "") for r in app.routes}


def test_an_unexpected_error_is_a_json_500_with_the_request_id(small_settings: Settings) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    app = create_app(small_settings, open_index=lambda: None)  # type: ignore[arg-type,return-value]
    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "bug-1"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "bug-1"
    assert response.json() == {
        "error": "internal_error",
        "detail": "the server failed to answer; see its log",
        "request_id": "bug-1",
    }
