from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

FOUNDED = "Đảng bộ Khối được thành lập ngày nào?"


def test_post_search_returns_ranked_cited_passages(client: TestClient) -> None:
    response = client.post("/search", json={"query": "Trụ sở chuyển về Hồ Xuân Hương năm nào?", "top_k": 2})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"query", "results", "took_ms"}
    assert [r["rank"] for r in body["results"]] == [1, 2]
    top = body["results"][0]
    assert set(top) >= {"rank", "score", "text", "citation"}
    assert set(top["citation"]) >= {"doc_id", "title", "published", "section", "paragraphs", "char_start", "char_end"}
    assert "18 Hồ Xuân Hương" in top["text"]
    assert top["citation"]["section"] == "I. Trụ sở" and top["citation"]["published"] == "1994-01-27"


def test_vietnamese_is_not_escaped(client: TestClient) -> None:
    raw = client.post("/search", json={"query": "Đại hội lần thứ nhất"}).content.decode("utf-8")
    assert "Đại hội" in raw and "\\u" not in raw


def test_get_search_returns_the_same_as_post(client: TestClient) -> None:
    posted = client.post("/search", json={"query": "Đại hội lần thứ nhất", "top_k": 3}).json()
    got = client.get("/search", params={"q": "Đại hội lần thứ nhất", "top_k": 3}).json()
    assert [r["citation"] for r in got["results"]] == [r["citation"] for r in posted["results"]]
    assert len(got["results"]) == 3


def test_default_top_k_is_five_or_all_chunks(client: TestClient) -> None:
    chunks = client.get("/health").json()["chunks"]
    assert len(client.post("/search", json={"query": "đảng viên"}).json()["results"]) == min(5, chunks)


def test_every_citation_opens_in_its_document(client: TestClient) -> None:
    results = client.post("/search", json={"query": "Ban Chấp hành gồm 27 đồng chí", "top_k": 10}).json()["results"]
    for result in results:
        citation = result["citation"]
        document = client.get(f"/documents/{citation['doc_id']}").json()
        assert document["text"][citation["char_start"] : citation["char_end"]] == result["text"]
        assert document["title"] == citation["title"]


def test_documents_list_and_health(client: TestClient) -> None:
    documents = client.get("/documents").json()["documents"]
    assert {d["doc_id"] for d in documents} == {"thanh-lap", "dai-hoi"}
    assert all(d["chunk_count"] > 0 and d["published"] for d in documents)
    health = client.get("/health").json()
    assert health["index_loaded"] and health["documents"] == 2
    assert health["chunks"] == sum(d["chunk_count"] for d in documents)
    assert health["embedder"] == "keyword-test" and health["index_version"]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "fragment"),
    [
        ({"json": {"query": ""}}, 422, "query"),
        ({"json": {"query": "   \n "}}, 422, "empty"),
        ({"json": {"query": "x" * 1001}}, 422, "at most 1000 characters"),
        ({"json": {"query": "đảng", "top_k": 0}}, 422, "top_k"),
        ({"json": {"query": "đảng", "top_k": 51}}, 422, "top_k"),
        ({"json": {"query": "đảng", "top_k": "many"}}, 422, "top_k"),
        ({"json": {"query": "đảng", "top_k": True}}, 422, "top_k"),
        ({"json": {"top_k": 3}}, 422, "query"),
        ({"content": b'{"query": "abc"', "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ],
)
def test_bad_search_input_gets_a_clear_4xx(
    client: TestClient, request_kwargs: dict, status: int, fragment: str
) -> None:
    response = client.post("/search", **request_kwargs)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "detail", "request_id"} and fragment in body["detail"]


@pytest.mark.parametrize("params", [{"q": " "}, {"q": "đảng", "top_k": 99}, {}])
def test_bad_get_search_gets_a_4xx(client: TestClient, params: dict) -> None:
    response = client.get("/search", params=params)
    assert response.status_code == 422 and set(response.json()) == {"error", "detail", "request_id"}


def test_unknown_document_and_route_share_the_error_shape(client: TestClient) -> None:
    missing = client.get("/documents/khong-co")
    assert missing.status_code == 404 and missing.json()["error"] == "document_not_found"
    assert set(client.get("/nope").json()) == {"error", "detail", "request_id"}


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/documents", "/documents/{doc_id}", "/health"} <= set(paths)


def test_founding_date_is_the_top_answer_over_the_real_articles(articles_client: TestClient) -> None:
    body = articles_client.post("/search", json={"query": FOUNDED}).json()
    top = body["results"][0]
    assert "27-01-1994" in top["text"] or "27/01/1994" in top["text"]
    document = articles_client.get(f"/documents/{top['citation']['doc_id']}").json()
    assert document["text"][top["citation"]["char_start"] : top["citation"]["char_end"]] == top["text"]


@pytest.mark.parametrize("query", ["???", "😀", "1994", "\u0301", "ĐẢNG BỘ", "x" * 1000])
def test_odd_queries_get_an_answer_not_an_error(client: TestClient, query: str) -> None:
    response = client.post("/search", json={"query": query, "top_k": 50})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["answerable"], bool)


def test_filters_narrow_the_ranking_before_top_k(client: TestClient) -> None:
    chunks = {d["doc_id"]: d["chunk_count"] for d in client.get("/documents").json()["documents"]}
    question = {"query": "Trụ sở chuyển về Hồ Xuân Hương năm nào?", "top_k": 10}
    only = client.post("/search", json={**question, "filters": {"doc_ids": ["dai-hoi"]}}).json()["results"]
    assert {r["citation"]["doc_id"] for r in only} == {"dai-hoi"} and len(only) == chunks["dai-hoi"]
    later = client.post("/search", json={**question, "filters": {"published_from": "2000-01-01"}}).json()["results"]
    assert [r["citation"] for r in later] == [r["citation"] for r in only]  # dai-hoi is the one after 2000
    earlier = client.post("/search", json={**question, "filters": {"published_to": "1999-12-31"}}).json()["results"]
    assert {r["citation"]["doc_id"] for r in earlier} == {"thanh-lap"} and "18 Hồ Xuân Hương" in earlier[0]["text"]
    got = client.get(
        "/search", params={"q": question["query"], "top_k": 10, "doc_id": ["dai-hoi"], "published_to": "2030-01-01"}
    ).json()["results"]
    assert [r["citation"] for r in got] == [r["citation"] for r in only]


def test_a_filter_matching_nothing_gives_no_results(client: TestClient) -> None:
    for filters in ({"doc_ids": ["khong-co"]}, {"published_from": "2030-01-01"}):
        response = client.post("/search", json={"query": FOUNDED, "filters": filters})
        assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize(
    "filters",
    [
        {"published_from": "2024-13-01"},
        {"published_to": "27/01/1994"},
        {"doc_ids": []},
        {"doc_ids": ["Not An Id"]},
        {"doc_id": ["dai-hoi"]},
        {"published_from": "2024-01-01", "published_to": "2023-01-01"},
        "dai-hoi",
    ],
)
def test_a_malformed_filter_is_a_422(client: TestClient, filters: object) -> None:
    response = client.post("/search", json={"query": FOUNDED, "filters": filters})
    assert response.status_code == 422, response.text
    assert "filters" in response.text


def test_a_malformed_get_filter_is_a_422(client: TestClient) -> None:
    response = client.get("/search", params={"q": FOUNDED, "published_from": "yesterday"})
    assert response.status_code == 422 and "published_from" in response.text
