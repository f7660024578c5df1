from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from corpus import DEFAULT_CORPUS_DIR
from corpus.clean import clean_text
from corpus.documents import read_document
from corpus.normalize import match_key

ARTICLE_2019 = DEFAULT_CORPUS_DIR / "2019-01-04-25-nam-hoat-dong-va-truong-thanh.txt"
ARTICLE_2024 = DEFAULT_CORPUS_DIR / "2024-01-16-30-nam-xay-dung-va-phat-trien.txt"
WIDGETS = (
    "Tổng số điểm của bài viết",
    "Click để đánh giá bài viết",
    "Ý kiến bạn đọc",
    "Những tin mới hơn",
    "Những tin cũ hơn",
    "Bạn đã không sử dụng Site",
    "Xếp hạng",
    "Tác giả bài viết",
    "dai hoi dang bo khoi cac co quan tp hai phong",  # stray image caption
    "Thứ sáu - 04/01/2019",  # publication stamp
)


def test_tcvn3_sentence_is_recovered() -> None:
    text = read_document(ARTICLE_2019).text
    recovered = "tích cực thực hiện các chuyên đề cụ thể hoá Nghị quyết 32-NQ/TW của Bộ Chính trị"
    assert match_key(recovered) in match_key(text)
    assert "®" not in text and "Ý" not in text.replace("Ý kiến", "")


def test_tcvn3_repair_on_inline_text() -> None:
    garbled = "Đảng ủy đã chỉ đạo; tÝch cùc thực hiện c \u0327c chuyan ®Ò cô thÓ ho \u0327 NghÞ quyÕt của Đảng."
    cleaned = clean_text(garbled + "\nChuyên đề học tập được triển khai.")
    assert cleaned.text.startswith(
        "Đảng ủy đã chỉ đạo; tích cực thực hiện các chuyên đề cụ thể hóa Nghị quyết của Đảng."
    )


@pytest.mark.parametrize("path", [ARTICLE_2019, ARTICLE_2024])
def test_widgets_caption_stamp_and_signature_are_gone(path: Path) -> None:
    document = read_document(path)
    for widget in WIDGETS:
        assert match_key(widget) not in match_key(document.text)
    assert not document.text.startswith(document.meta.title)
    assert document.text.rstrip().endswith("vững mạnh./.")


def test_text_is_nfc_with_single_spaces_and_canonical_tones() -> None:
    text = read_document(ARTICLE_2024).text
    assert "  " not in text and "\xa0" not in text and "\n\n" not in text
    assert not re.search(r"\b(hoá|khoá|uỷ|Uỷ)\b", text)


@pytest.mark.parametrize("path", [ARTICLE_2019, ARTICLE_2024])
def test_offsets_map_back_to_the_published_text(path: Path) -> None:
    document = read_document(path)
    text = document.text
    checked = 0
    for start in range(0, len(text) - 200, 997):
        end = start + 150
        source_start, source_end = document.cleaned.to_source(start, end)
        published = document.raw[source_start:source_end]
        if "\n" in text[start:end] or "tích cực thực hiện các chuyên" in text[start - 200 : end + 200]:
            continue  # spans over dropped lines or the repaired run do not compare verbatim
        assert match_key(published) == match_key(text[start:end])
        checked += 1
    assert checked > 10


def test_repaired_span_maps_to_the_garbled_source() -> None:
    document = read_document(ARTICLE_2019)
    start = document.text.index("tích cực thực hiện")
    source_start, source_end = document.cleaned.to_source(start, start + len("tích cực"))
    assert document.raw[source_start:source_end] == "tÝch cùc"


def test_decomposed_input_is_composed_with_exact_offsets() -> None:
    raw = unicodedata.normalize("NFD", "Thành phố Hải Phòng có 59 tổ chức.")
    cleaned = clean_text(raw)
    assert cleaned.text == "Thành phố Hải Phòng có 59 tổ chức."
    start = cleaned.text.index("Hải")
    source_start, source_end = cleaned.to_source(start, start + 3)
    assert unicodedata.normalize("NFC", raw[source_start:source_end]) == "Hải"


def test_a_text_typed_without_diacritics_keeps_its_lines() -> None:
    assert clean_text("dang bo khoi thanh lap nam 1994\nco 59 to chuc co so dang").text.count("\n") == 1
