"""Documents as offices keep them: Word, PDF, web pages and Markdown, added through the API,
the CLI or the corpus directory, found by a question about them, cited into their text,
and kept as the file they came from."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.cli import main
from tests.files import blank_pdf, docx_bytes, pdf_bytes
from tests.service.conftest import AUTH
from tests.service.test_writes import _state

BOOKS = "Thư viện số của Khối ra mắt tháng 3 năm 2022 với 4.500 đầu sách điện tử."
CONTEST = "Hội thi Bí thư chi bộ giỏi năm 2023 có 120 thí sinh tham gia vòng chung kết."
FOOTBALL = "Giải bóng đá các cơ quan năm 2021 có 16 đội bóng tranh tài tại sân Lạch Tray."
SOFTWARE = "Năm 2020 Khối triển khai phần mềm quản lý văn bản điện tử cho 45 cơ quan."
PAGE = f"""<!doctype html><html lang="vi"><head><title>Giải bóng đá các cơ quan</title>
<meta property="article:published_time" content="2021-05-02T08:00:00+07:00"></head><body>
<nav><a href="/">Trang chủ</a> | <a href="/tin">Tin tức</a> | <a href="/lien-he">Liên hệ</a></nav>
<article><h1>Giải bóng đá các cơ quan</h1><p>{FOOTBALL}</p>
<p>Đội Văn phòng Thành ủy giành cúp vô địch sau loạt sút luân lưu kịch tính.</p></article>
<aside class="widget">Tin đọc nhiều: Thời tiết Hải Phòng hôm nay nắng nóng</aside>
<div class="comments"><p>Bạn đọc Minh: Trận chung kết rất hay!</p></div></body></html>"""

FILES = {
    "docx": (
        "hoi-thi.docx",
        docx_bytes(
            [("heading", "I. Hội thi"), ("paragraph", CONTEST), ("table", "Vòng|Thí sinh;Chung kết|120")],
            title="Hội thi Bí thư chi bộ giỏi",
            created=dt.datetime(2023, 6, 1, 9, 0),
        ),
        {},
        "Hội thi Bí thư chi bộ giỏi có bao nhiêu thí sinh?",
        "120 thí sinh",
    ),
    "pdf": (
        "thu-vien.pdf",
        pdf_bytes([["Thư viện số", BOOKS]], {"/Title": "Thư viện số", "/CreationDate": "D:20220315"}),
        {},
        "Thư viện số có bao nhiêu đầu sách?",
        "4.500 đầu sách",
    ),
    "html": ("bong-da.html", PAGE.encode("utf-8"), {}, "Giải bóng đá các cơ quan có bao nhiêu đội?", "16 đội"),
    "md": (
        "chuyen-doi-so.md",
        f"# Chuyển đổi số\n\n{SOFTWARE}\n".encode(),
        {"title": "Chuyển đổi số", "published": "2020-09-01"},
        "phần mềm quản lý văn bản điện tử cho bao nhiêu cơ quan?",
        "45 cơ quan",
    ),
}


@pytest.mark.parametrize("kind", FILES)
def test_an_uploaded_file_is_found_cited_and_kept(admin: TestClient, kind: str) -> None:
    name, data, fields, question, answer = FILES[kind]
    response = admin.post("/documents", files={"file": (name, data)}, data=fields, headers=AUTH)
    assert response.status_code == 201, response.text
    doc_id = response.json()["doc_id"]

    top = admin.post("/search", json={"query": question, "top_k": 3}).json()["results"][0]
    assert top["citation"]["doc_id"] == doc_id and answer in top["highlight"]["text"]
    text = admin.get(f"/documents/{doc_id}").json()["text"]
    citation = top["citation"]
    assert text[citation["char_start"] : citation["char_end"]] == top["text"]
    assert "Trang chủ" not in text and "Bạn đọc" not in text  # no page furniture from the web page

    source = admin.get(f"/documents/{doc_id}/source")
    assert source.status_code == 200 and source.content == data
    assert source.headers["content-security-policy"] == "sandbox"
    assert admin.delete(f"/documents/{doc_id}", headers=AUTH).status_code == 200
    assert admin.get(f"/documents/{doc_id}/source").status_code == 404
    settings = admin.app.state.settings  # type: ignore[attr-defined]
    assert not any((settings.corpus_dir / "originals").glob("*"))


def test_a_pdf_without_text_and_a_file_without_a_title_are_refused(admin: TestClient) -> None:
    before = _state(admin)
    scan = admin.post("/documents", files={"file": ("scan.pdf", blank_pdf())}, data={"title": "T"}, headers=AUTH)
    assert scan.status_code == 422 and "scan.pdf has no text layer" in scan.json()["detail"]
    untitled = admin.post("/documents", files={"file": ("note.md", SOFTWARE.encode())}, headers=AUTH)
    assert untitled.status_code == 422
    assert "note.md has no title and no published in it: send them as form fields" in untitled.json()["detail"]
    assert _state(admin) == before


def test_files_dropped_into_the_corpus_directory_are_documents(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind in ("docx", "pdf", "html"):
        name, data, *_ = FILES[kind]
        (small_corpus / name).write_bytes(data)  # no sidecar: the files say their title and date
    (small_corpus / "chuyen-doi-so.md").write_bytes(FILES["md"][1])
    (small_corpus / "chuyen-doi-so.json").write_text(json.dumps(FILES["md"][2]), encoding="utf-8")
    dirs = ["--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index")]
    assert main([*dirs, "index"]) == 0, capsys.readouterr().err
    assert "6 documents" in capsys.readouterr().out
    for kind, (name, _, _, question, answer) in FILES.items():
        assert main([*dirs, "ask", "--json", "-k", "1", question]) == 0
        [top] = json.loads(capsys.readouterr().out)["results"]
        assert top["citation"]["doc_id"] == Path(name).stem and answer in top["highlight"]["text"], kind

    # the write path leaves a hand-placed file to the hand that placed it
    assert main([*dirs, "remove", "hoi-thi"]) == 1
    assert (
        "hoi-thi.docx in the corpus directory" in capsys.readouterr().err and (small_corpus / "hoi-thi.docx").exists()
    )
    (small_corpus / "hoi-thi.txt").write_text("Trùng tên.", encoding="utf-8")
    assert main([*dirs, "index"]) == 1
    assert "hoi-thi.docx and hoi-thi.txt are both document 'hoi-thi'" in capsys.readouterr().err


def test_viqa_add_reads_a_word_file_and_keeps_it(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = ["--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index")]
    name, data, _, question, answer = FILES["docx"]
    (tmp_path / name).write_bytes(data)
    assert main([*dirs, "add", str(tmp_path / name), "--author", "Ban Tổ chức"]) == 0, capsys.readouterr().err
    assert "added hoi-thi" in capsys.readouterr().out
    assert (small_corpus / "originals" / name).read_bytes() == data
    meta = json.loads((small_corpus / "hoi-thi.json").read_text(encoding="utf-8"))
    assert meta["title"] == "Hội thi Bí thư chi bộ giỏi" and meta["author"] == "Ban Tổ chức"
    assert meta["published"] == "2023-06-01"
    assert main([*dirs, "ask", "--json", "-k", "1", question]) == 0
    assert answer in json.loads(capsys.readouterr().out)["results"][0]["highlight"]["text"]
    assert main([*dirs, "remove", "hoi-thi"]) == 0
    assert not (small_corpus / "originals" / name).exists()


def test_legacy_encoded_files_are_converted_and_found(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.corpus.test_legacy import viscii, vni

    (small_corpus / "thu-vien.txt").write_bytes(vni(BOOKS).encode("cp1252"))  # VNI, as a VNI font typed it
    (small_corpus / "bong-da.txt").write_bytes(viscii(FOOTBALL))
    for doc_id, title in (("thu-vien", "Thư viện số"), ("bong-da", "Giải bóng đá")):
        sidecar = {"title": title, "published": "2022-03-15"}
        (small_corpus / f"{doc_id}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    (tmp_path / "rac.txt").write_bytes(b"\xff\xfe\x81\x8d\x8f\x90 \x9d\x81\x8d\n")
    dirs = ["--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index")]
    for kind, doc_id, text in (("pdf", "thu-vien", BOOKS), ("html", "bong-da", FOOTBALL)):
        assert main([*dirs, "ask", "--json", "-k", "1", FILES[kind][3]]) == 0, capsys.readouterr().err
        [top] = json.loads(capsys.readouterr().out)["results"]
        assert top["citation"]["doc_id"] == doc_id and top["text"] == text
    code = main([*dirs, "add", str(tmp_path / "rac.txt"), "--title", "Rác", "--published", "2022-01-01"])
    assert code == 1 and "rac.txt line 1: not UTF-8 text" in capsys.readouterr().err


def test_sending_a_stored_document_again_keeps_its_original(admin: TestClient) -> None:
    name, data, fields, *_ = FILES["docx"]
    doc_id = admin.post("/documents", files={"file": (name, data)}, data=fields, headers=AUTH).json()["doc_id"]
    corpus = admin.app.state.settings.corpus_dir  # type: ignore[attr-defined]
    meta = json.loads((corpus / f"{doc_id}.json").read_text(encoding="utf-8"))
    text = (corpus / f"{doc_id}.txt").read_text(encoding="utf-8")
    again = admin.post("/documents", json={**meta, "text": text}, headers=AUTH)
    assert again.status_code == 200 and again.json()["doc_id"] == doc_id
    assert admin.get(f"/documents/{doc_id}/source").content == data


def test_the_same_words_composed_or_not_are_one_document(admin: TestClient) -> None:
    import unicodedata

    body = {"title": "Tin mới", "published": "2025-02-03", "text": CONTEST}
    first = admin.post("/documents", json=body, headers=AUTH)
    decomposed = {**body, "text": unicodedata.normalize("NFD", CONTEST)}  # as text copied on a Mac often is
    second = admin.post("/documents", json=decomposed, headers=AUTH)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["doc_id"] == first.json()["doc_id"]
