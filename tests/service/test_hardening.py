"""Input that cannot hurt the service: every bad request gets a 4xx in the JSON shape, and
what one client may cost (body size and time, query length, writes, failed tokens) is bounded."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from corpus.chunk import ChunkSettings
from corpus.errors import TooManyRequests
from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from index.store import read_manifest
from service.api import create_app
from service.limits import InFlight
from service.settings import Settings
from tests.conftest import THIRD, KeywordEmbedder, serving, write_document

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SMALL = ChunkSettings(max_tokens=40)
NEW = {"title": "Công đoàn Viên chức", "published": "2004-05-19", "text": THIRD[3]}
JSON = {"content-type": "application/json"}


def _app(small_corpus: Path, tmp_path: Path, **overrides: Any) -> Any:
    settings = Settings(
        corpus_dir=small_corpus,
        index_dir=tmp_path / "index",
        chunk_max_tokens=40,
        admin_token=TOKEN,
        reload_interval=0,
        **overrides,
    )
    embedder = KeywordEmbedder()
    update_index(settings.corpus_dir, settings.index_dir, embedder, SMALL)
    live = LiveIndex(settings.index_dir, QueryEncoder(embedder), SMALL)
    return create_app(settings, live, writer_embedder=embedder)


@pytest.fixture
def admin(small_corpus: Path, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(small_corpus, tmp_path)) as client:
        yield client


def _nested(depth: int) -> bytes:
    return b'{"query": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    [
        ("post", "/search", {"content": b'{"query": "\\ud800"}', "headers": JSON}, 422, "invalid_request"),
        ("post", "/search", {"content": _nested(20_000), "headers": JSON}, 400, "malformed_json"),
        ("get", "/search", {"params": {"q": "đảng", "top_k": "5.0"}}, 422, "invalid_request"),
        ("post", "/documents", {"content": b'{"title": "T", "published": "2024-01-02", "text": "\\ud800"}'}, 422, ""),
        ("post", "/documents", {"content": b'{"title": "\\udfff", "published": "2024-01-02", "text": "A."}'}, 422, ""),
        ("post", "/documents", {"content": b"[" * 100_000 + b"]" * 100_000}, 400, "malformed_json"),
        ("post", "/documents", {"content": b'{"title": '}, 400, "malformed_json"),
        ("post", "/documents", {"json": {**NEW, "text": "\x00" * 50}}, 422, "corpus_error"),
        ("post", "/documents", {"files": {"file": ("a.txt", b"a" * 2_000_001)}, "data": NEW}, 413, ""),
        ("delete", "/documents/khong-co", {}, 404, "document_not_found"),
        ("get", "/documents/khong-co", {}, 404, "document_not_found"),
        ("get", "/khong-co", {}, 404, "not_found"),
    ],
)
def test_bad_input_gets_a_4xx_in_the_json_shape_and_changes_nothing(
    admin: TestClient, tmp_path: Path, method: str, path: str, kwargs: dict, status: int, error: str
) -> None:
    before = admin.get("/health").json()["index_version"]
    if path == "/documents" and "content" in kwargs:
        kwargs = {**kwargs, "headers": JSON}
    kwargs = dict(kwargs)
    response = admin.request(method, path, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "request_id"} and (not error or body["error"] == error)
    assert str(tmp_path) not in body["detail"]  # no server paths
    assert admin.get("/health").json()["index_version"] == before


def test_405_names_every_method_of_the_path(admin: TestClient) -> None:
    response = admin.patch("/documents", headers=AUTH)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}


def test_a_query_too_long_to_embed_is_refused(admin: TestClient) -> None:
    words = " ".join(["trụ sở"] * 100)  # 200 syllables, in under the 1,000 characters
    response = admin.post("/search", json={"query": words})
    assert response.status_code == 422 and "tokens" in response.json()["detail"]


def test_wrong_tokens_lock_the_client_out_of_writes(small_corpus: Path, tmp_path: Path) -> None:
    with TestClient(_app(small_corpus, tmp_path, max_failed_tokens=3)) as client:
        for _ in range(3):
            assert client.delete("/documents/thanh-lap", headers={"Authorization": "Bearer guess"}).status_code == 403
        locked = client.delete("/documents/thanh-lap", headers=AUTH)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert locked.json()["error"] == "too_many_requests"
        assert client.get("/documents/thanh-lap").status_code == 200  # reading is not locked


def test_writes_are_rate_limited_per_client(small_corpus: Path, tmp_path: Path) -> None:
    with TestClient(_app(small_corpus, tmp_path, write_rate=0.01, write_burst=2)) as client:
        assert [client.delete("/documents/khong-co", headers=AUTH).status_code for _ in range(3)] == [404, 404, 429]


def test_searches_running_at_once_are_bounded_per_client() -> None:
    limit = InFlight("searches", 2)
    limit.enter("a")
    limit.enter("a")
    limit.enter("b")  # another client is not held back
    with pytest.raises(TooManyRequests, match="the limit is 2"):
        limit.enter("a")
    limit.leave("a")
    limit.enter("a")


def test_bodies_are_bounded_in_size_and_in_time(small_corpus: Path, tmp_path: Path) -> None:
    with serving(_app(small_corpus, tmp_path, body_timeout=0.5)) as url:
        big = httpx.post(f"{url}/search", content=b" " * 70_000, headers=JSON)
        assert big.status_code == 413 and big.json()["error"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(100):
                yield b" " * 1000

        streamed = httpx.post(f"{url}/search", content=chunks(), headers=JSON)
        assert streamed.status_code == 413

        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as slow:
            slow.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            slow.sendall(b'Content-Length: 50\r\n\r\n{"query":')
            started = time.monotonic()
            answer = _read_all(slow)
            assert answer.startswith("HTTP/1.1 408") and '"error":"request_timeout"' in answer.replace(" ", "")
            assert time.monotonic() - started < 5

        with socket.create_connection((host, int(port)), timeout=10) as garbage:
            garbage.sendall(b"NOT A REQUEST\r\n\r\n")
            answer = _read_all(garbage)
            assert answer.startswith("HTTP/1.1 400") and "application/json" in answer and '"error"' in answer


def _read_all(connection: socket.socket) -> str:
    """Return what the server sends until it closes the connection."""
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    return received.decode()


def test_the_schema_tells_a_client_every_status_the_token_and_the_limits(admin: TestClient) -> None:
    schema = admin.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token (VIQA_ADMIN_TOKEN).",
    }
    paths = schema["paths"]
    for method in ("post", "put", "delete"):
        operation = paths["/documents" if method == "post" else "/documents/{doc_id}"][method]
        assert operation["security"] == [{"HTTPBearer": []}]
        assert {"401", "403", "409", "413", "422", "429"} <= set(operation["responses"])
    assert {"200", "400", "413", "422", "429", "503"} <= set(paths["/search"]["post"]["responses"])
    assert "Idempotency-Key" in {p["name"] for p in paths["/documents"]["post"]["parameters"]}
    assert schema["components"]["schemas"]["SearchRequest"]["properties"]["query"]["maxLength"] == 1000
    document = paths["/documents"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert document["properties"]["published"]["format"] == "date"


def test_a_retried_post_is_answered_once(admin: TestClient) -> None:
    key = {**AUTH, "Idempotency-Key": "c0ffee"}
    first = admin.post("/documents", json=NEW, headers=key)
    again = admin.post("/documents", json=NEW, headers=key)
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    other = admin.post("/documents", json={**NEW, "title": "Khác"}, headers=key)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"
    same = admin.post("/documents", json=NEW, headers=AUTH)  # no key: the same content is recognised
    assert same.status_code == 200 and same.json()["doc_id"] == first.json()["doc_id"]
    assert len(admin.get("/documents").json()["documents"]) == 3


def test_health_says_when_an_older_version_is_served(small_corpus: Path, tmp_path: Path) -> None:
    settings = Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", chunk_max_tokens=40)
    update_index(small_corpus, settings.index_dir, KeywordEmbedder(), SMALL)
    write_document(small_corpus, *THIRD)
    broken = update_index(small_corpus, settings.index_dir, KeywordEmbedder(), SMALL)
    segment = read_manifest(settings.index_dir, broken.version).segments[-1]["name"]
    (settings.index_dir / "segments" / segment / "chunks.text.bin").write_bytes(b"")
    live = LiveIndex(settings.index_dir, QueryEncoder(KeywordEmbedder()), SMALL)
    with TestClient(create_app(settings, live)) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded" and broken.version in health["problem"]
