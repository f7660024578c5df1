"""The pages, over HTTP without a browser: server-rendered, escaped, offline (tests/browser drives them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from service.web.text import document_blocks

QUESTION = "Trụ sở chuyển về Hồ Xuân Hương năm nào?"


def test_the_search_page_renders_results_without_javascript(client: TestClient) -> None:
    page = client.get("/", params={"q": QUESTION, "k": 3})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    html = page.text
    assert '<html lang="vi">' in html and "<main" in html and '<label for="q">' in html
    assert html.count('<li class="result">') == 3 and f'value="{QUESTION}"' in html
    api = client.get("/search", params={"q": QUESTION, "top_k": 3}).json()["results"][0]
    start, end = api["citation"]["char_start"], api["citation"]["char_end"]
    assert f"/documents/{api['citation']['doc_id']}/view?start={start}&amp;end={end}#cited" in html
    assert f"<mark>{api['highlight']['text']}</mark>" in html
    assert client.get("/").text.count('<li class="result">') == 0  # no question, no search


def test_the_search_page_says_how_it_searched_and_when_nothing_answers(client: TestClient) -> None:
    assert 'id="rewritten"' in client.get("/", params={"q": "tru so chuyen ve dau"}).text
    unanswered = client.get("/", params={"q": "Ban Chấp hành nhiệm kỳ 2035 gồm bao nhiêu người ở Đà Nẵng?"}).text
    assert 'id="not-answerable"' in unanswered
    too_long = client.get("/", params={"q": "đảng " * 400})
    assert too_long.status_code == 422 and "Lỗi:" in too_long.text


def test_user_text_is_escaped(client: TestClient) -> None:
    html = client.get("/", params={"q": '<script>alert("x")</script>'}).text
    assert '<script>alert("x")</script>' not in html and "&lt;script&gt;" in html


def test_the_document_view_marks_the_cited_passage(client: TestClient) -> None:
    hit = client.get("/search", params={"q": QUESTION, "top_k": 1}).json()["results"][0]
    citation = hit["citation"]
    view = client.get(
        f"/documents/{citation['doc_id']}/view", params={"start": citation["char_start"], "end": citation["char_end"]}
    )
    assert view.status_code == 200
    marked = re.findall(r"<mark[^>]*>(.*?)</mark>", view.text, flags=re.S)
    assert "".join(marked).replace("\n", "") == hit["text"].replace("\n", "")
    assert view.text.count('id="cited"') == 1 and re.search(r"<h2>(<mark[^>]*>)?I\. Trụ sở(</mark>)?</h2>", view.text)
    assert client.get("/documents/khong-co/view").status_code == 404


def test_document_blocks_cut_a_citation_across_lines() -> None:
    blocks = document_blocks("Mở đầu.\nII. Trụ sở\nSố 6 đường Đinh Tiên Hoàng.", (3, 14))
    assert [b.heading for b in blocks] == [False, True, False]
    assert [(p.text, p.cited, p.anchor) for p in blocks[0].pieces] == [("Mở ", False, False), ("đầu.", True, True)]
    assert [(p.text, p.cited, p.anchor) for p in blocks[1].pieces] == [("II. Tr", True, False), ("ụ sở", False, False)]


def test_the_library_lists_documents_and_hides_writes_without_a_token(client: TestClient) -> None:
    html = client.get("/library").text
    for document in client.get("/documents").json()["documents"]:
        assert f"/documents/{document['doc_id']}/view" in html
    assert 'id="upload-form"' not in html and "VIQA_ADMIN_TOKEN" in html


def test_the_evaluation_page_draws_the_latest_report(client: TestClient, tmp_path: Path) -> None:
    app = client.app
    settings = app.state.settings.model_copy(update={"reports_dir": tmp_path / "reports"})  # type: ignore[attr-defined]
    app.state.settings = settings  # type: ignore[attr-defined]
    assert "Chưa có báo cáo" in client.get("/evaluation").text
    run = {
        "name": "hybrid",
        "summary": {"overall": {"hit_rate@1": 0.8, "hit_rate@5": 0.95, "mrr@10": 0.86, "ndcg@10": 0.8}},
        "counts": {"overall": 2},
        "no_answer": {"calibrated_min_confidence": 0.5},
        "questions": [],
    }
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / "eval-20260101T000000.json").write_text(json.dumps({"runs": [run]}), encoding="utf-8")
    html = client.get("/evaluation").text
    assert "eval-20260101T000000.json" in html and html.count('role="img"') >= 3


def test_api_docs_load_nothing_from_elsewhere(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
    assert "/docs" not in client.get("/openapi.json").json()["paths"]  # pages are not the API
