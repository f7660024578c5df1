from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import DEFAULT_CORPUS_DIR
from corpus.documents import corpus_fingerprint, load_corpus, parse_meta, read_document, validate_doc_id
from corpus.errors import CorpusError


def test_corpus_holds_the_two_articles_with_metadata() -> None:
    documents = load_corpus(DEFAULT_CORPUS_DIR)
    assert [d.doc_id for d in documents] == [
        "2019-01-04-25-nam-hoat-dong-va-truong-thanh",
        "2024-01-16-30-nam-xay-dung-va-phat-trien",
    ]
    assert [d.meta.published.isoformat() for d in documents] == ["2019-01-04", "2024-01-16"]
    assert all(d.meta.title.startswith(("25 năm", "30 năm")) for d in documents)


def _write(directory: Path, doc_id: str, text: str, meta: dict[str, object]) -> Path:
    path = directory / f"{doc_id}.txt"
    path.write_text(text, encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_dropped_in_document_is_read_with_its_sidecar(tmp_path: Path) -> None:
    _write(tmp_path, "moi", "Đảng bộ Khối tổ chức hội nghị.", {"title": "Tin mới", "published": "2025-02-03"})
    [document] = load_corpus(tmp_path)
    assert document.meta.title == "Tin mới" and document.text == "Đảng bộ Khối tổ chức hội nghị."


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"published": "2025-02-03"}, "no title"),
        ({"title": "T", "published": "03/02/2025"}, "not a date"),
        ({"title": "T", "published": "2025-02-03", "extra": 1}, "unknown metadata"),
    ],
)
def test_bad_metadata_is_refused_with_the_reason(tmp_path: Path, meta: dict[str, object], message: str) -> None:
    path = _write(tmp_path, "bad", "Nội dung.", meta)
    with pytest.raises(CorpusError, match=message):
        read_document(path)


def test_missing_sidecar_and_non_utf8_text_are_refused(tmp_path: Path) -> None:
    (tmp_path / "lonely.txt").write_text("Nội dung.", encoding="utf-8")
    with pytest.raises(CorpusError, match="no metadata"):
        read_document(tmp_path / "lonely.txt")
    path = _write(tmp_path, "latin", "x", {"title": "T", "published": "2025-02-03"})
    path.write_bytes("Nội dung".encode("utf-16"))
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_document(path)


@pytest.mark.parametrize("doc_id", ["../etc/passwd", "a/b", "", "UPPER", "-x", "x" * 200, "a b"])
def test_unsafe_ids_are_refused(doc_id: str) -> None:
    with pytest.raises(CorpusError, match="invalid document id"):
        validate_doc_id(doc_id)


def test_fingerprint_changes_with_any_document_file(tmp_path: Path) -> None:
    _write(tmp_path, "a", "Một.", {"title": "A", "published": "2025-01-01"})
    before = corpus_fingerprint(tmp_path)
    (tmp_path / "a.json").write_text(json.dumps({"title": "B", "published": "2025-01-01"}), encoding="utf-8")
    assert corpus_fingerprint(tmp_path) != before


def test_parse_meta_keeps_optional_fields() -> None:
    meta = parse_meta("x", {"title": " T ", "published": "2024-01-16", "author": "Ban", "url": "https://example.org"})
    assert (meta.title, meta.author, meta.url) == ("T", "Ban", "https://example.org")
