from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from corpus.chunk import ChunkSettings, split_into_chunks
from corpus.documents import DocumentMeta, make_document
from corpus.errors import CorpusError
from corpus.formats import SUFFIXES, Extracted, NoTextLayer, extract
from tests.files import blank_pdf, docx_bytes, pdf_bytes

INTRO = "Đảng bộ Khối các cơ quan thành phố được thành lập ngày 27-01-1994."
MEMBERS = "Lúc mới thành lập có 59 tổ chức đảng cơ sở với 2.522 đảng viên."
OFFICE = "Trụ sở đặt tại số 6 đường Đinh Tiên Hoàng, nay chuyển về số 18 Hồ Xuân Hương."


def _lines(extracted: Extracted) -> list[str]:
    assert unicodedata.is_normalized("NFC", extracted.text)
    return [line for line in extracted.text.splitlines() if line]


def _docx() -> bytes:
    blocks = [
        ("heading", "I. Quá trình hình thành"),
        ("paragraph", INTRO),
        ("paragraph", MEMBERS),
        ("table", "Năm|Tổ chức đảng|Đảng viên;1994|59|2.522"),
        ("heading", "II. Trụ sở"),
        ("paragraph", OFFICE),
    ]
    created = dt.datetime(2024, 1, 16, 9, 30)
    return docx_bytes(blocks, title="Lịch sử Đảng bộ Khối", author="Ban Tuyên giáo", created=created)


def test_docx_keeps_paragraphs_headings_and_table_rows_in_order() -> None:
    extracted = extract(_docx(), "lich-su.docx")
    assert _lines(extracted) == [
        "I. Quá trình hình thành",
        INTRO,
        MEMBERS,
        "Năm | Tổ chức đảng | Đảng viên",
        "1994 | 59 | 2.522",
        "II. Trụ sở",
        OFFICE,
    ]
    assert extracted.meta == {"title": "Lịch sử Đảng bộ Khối", "author": "Ban Tuyên giáo", "published": "2024-01-16"}


def test_docx_text_goes_through_the_pipeline_with_its_sections() -> None:
    extracted = extract(_docx(), "lich-su.docx")
    meta = DocumentMeta("lich-su", extracted.meta["title"], dt.date.fromisoformat(extracted.meta["published"]))
    chunks = split_into_chunks(make_document(meta, extracted.text), ChunkSettings())
    assert [c.section for c in chunks] == ["I. Quá trình hình thành", "II. Trụ sở"]
    assert OFFICE in chunks[1].text


def _pdf() -> bytes:
    pages = [
        ["I. Quá trình hình thành", INTRO, "Lúc mới thành lập có 59 tổ chức đảng cơ sở", "với 2.522 đảng viên."],
        ["II. Trụ sở", OFFICE],
    ]
    info = {"/Title": "Lịch sử Đảng bộ Khối", "/Author": "Ban Tuyên giáo", "/CreationDate": "D:20240116093000+07'00'"}
    return pdf_bytes(pages, info)


def test_pdf_text_layer_comes_out_page_by_page_with_lines_rejoined() -> None:
    extracted = extract(_pdf(), "lich-su.pdf")
    assert _lines(extracted) == ["I. Quá trình hình thành", INTRO, MEMBERS, "II. Trụ sở", OFFICE]
    assert extracted.meta == {"title": "Lịch sử Đảng bộ Khối", "author": "Ban Tuyên giáo", "published": "2024-01-16"}


def test_pdf_without_text_layer_says_it_needs_ocr() -> None:
    with pytest.raises(NoTextLayer, match=r"scan\.pdf has no text layer.*OCR") as info:
        extract(blank_pdf(), "scan.pdf")
    assert isinstance(info.value, CorpusError)


@pytest.mark.parametrize(
    ("data", "name", "label"),
    [
        (b"PK\x03\x04 not a zip archive", "bao-cao.docx", "Word document"),
        (_docx()[:500], "cut.docx", "Word document"),
        (b"%PDF-1.4\n1 0 obj garbage", "bao-cao.pdf", "PDF"),
        (b"", "empty.pdf", "PDF"),
    ],
)
def test_a_damaged_file_is_a_corpus_error_naming_it(data: bytes, name: str, label: str) -> None:
    with pytest.raises(CorpusError, match=rf"{name} cannot be read as .*{label}"):
        extract(data, name)


PAGE = (
    """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<title>Thành lập Đảng bộ Khối | Báo Thành phố</title>
<meta property="og:title" content="Thành lập Đảng bộ Khối">
<meta property="article:published_time" content="1994-01-27T08:00:00+07:00">
<meta name="author" content="Nguyễn Văn An">
<link rel="canonical" href="https://example.vn/thanh-lap.html">
<script>var tracking = "Không được xuất hiện";</script>
</head><body>
<nav><ul><li><a href="/">Trang chủ</a></li><li><a href="/thoi-su">Thời sự</a></li>
<li><a href="/kinh-te">Kinh tế</a></li></ul></nav>
<main><article>
<h1>Thành lập Đảng bộ Khối</h1>
<p>"""
    + INTRO
    + """ Đây là sự kiện quan trọng trong lịch sử xây dựng Đảng của thành phố.</p>
<p>"""
    + MEMBERS
    + """</p>
<table><tr><th>Năm</th><th>Đảng viên</th></tr><tr><td>1994</td><td>2.522</td></tr></table>
<h2>Trụ sở làm việc</h2>
<p>"""
    + OFFICE
    + """ Trụ sở mới rộng rãi và khang trang hơn nhiều.</p>
</article>
<section class="comments" id="comments"><h3>Bình luận</h3>
<div class="comment"><p>Bài viết rất hay, cảm ơn tác giả đã chia sẻ thông tin.</p></div></section>
</main>
<aside class="sidebar"><div class="widget"><h3>Tin đọc nhiều</h3>
<ul><li><a href="/1">Giá nông sản tăng mạnh trong quý một</a></li><li><a href="/2">Khai mạc lễ hội hoa</a></li></ul>
</div></aside>
<footer><p>Bản quyền thuộc về Báo Thành phố. Giấy phép số 123/GP.</p></footer>
</body></html>"""
)


def test_html_keeps_the_article_and_drops_nav_widgets_and_comments() -> None:
    extracted = extract(PAGE.encode(), "thanh-lap.html")
    text = extracted.text
    assert INTRO in text and MEMBERS in text and OFFICE in text
    lines = _lines(extracted)
    assert "Trụ sở làm việc" in lines  # the subheading is a line of its own
    assert lines[lines.index("Năm | Đảng viên") + 1] == "1994 | 2.522"
    for furniture in (
        "Trang chủ",
        "Thời sự",
        "Bình luận",
        "cảm ơn tác giả",
        "Tin đọc nhiều",
        "Giá nông sản",
        "Bản quyền",
    ):
        assert furniture not in text
    assert "tracking" not in text and "xuất hiện" not in text
    assert extracted.meta == {
        "title": "Thành lập Đảng bộ Khối",
        "published": "1994-01-27",
        "author": "Nguyễn Văn An",
        "url": "https://example.vn/thanh-lap.html",
    }


def test_html_meta_falls_back_to_title_and_time_element() -> None:
    page = PAGE.replace('<meta property="og:title" content="Thành lập Đảng bộ Khối">', "")
    page = page.replace('property="article:published_time" content="1994-01-27T08:00:00+07:00"', 'name="x" content="y"')
    page = page.replace("<h1>", '<time datetime="1994-01-28">28/01/1994</time><h1>')
    meta = extract(page.encode("utf-8"), "thanh-lap.htm").meta
    assert meta["title"] == "Thành lập Đảng bộ Khối | Báo Thành phố"
    assert meta["published"] == "1994-01-28"


def test_markdown_becomes_plain_lines() -> None:
    source = (
        '---\ntitle: "Thành lập Đảng bộ Khối"\ndate: 1994-01-27\n---\n'
        "# I. Quá trình hình thành\n\n"
        "Đảng bộ Khối các cơ quan thành phố được **thành lập** ngày 27-01-1994.\n\n"
        "Lúc mới thành lập có 59 *tổ chức đảng cơ sở*\nvới 2.522 [đảng viên](https://example.vn).\n\n"
        "## II. Trụ sở\n\n- Số 6 đường Đinh Tiên Hoàng\n- Số 18 Hồ Xuân Hương\n"
    )
    extracted = extract(source.encode(), "thanh-lap.md")
    assert _lines(extracted) == [
        "I. Quá trình hình thành",
        INTRO,
        MEMBERS,
        "II. Trụ sở",
        "Số 6 đường Đinh Tiên Hoàng",
        "Số 18 Hồ Xuân Hương",
    ]
    assert extracted.meta == {"title": "Thành lập Đảng bộ Khối", "published": "1994-01-27"}


def test_txt_is_decoded_and_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", INTRO)
    data = ("\ufeff" + decomposed + "  \r\n\r\n\r\n\r\n" + MEMBERS + "\x07\t\n").encode()
    extracted = extract(data, "thanh-lap.TXT")
    assert extracted == Extracted(INTRO + "\n\n" + MEMBERS, {})


def test_txt_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(CorpusError, match=r"thanh-lap.txt line 1: not UTF-8 text, and neither VNI"):
        extract(INTRO.encode("utf-16"), "thanh-lap.txt")


def test_unknown_suffix_names_the_file_and_the_accepted_ones() -> None:
    with pytest.raises(CorpusError, match=r"bao-cao\.odt.*\.odt.*accepted: \.txt, \.md, \.html, \.htm, \.docx, \.pdf"):
        extract(b"anything", "bao-cao.odt")
    assert SUFFIXES == (".txt", ".md", ".html", ".htm", ".docx", ".pdf")
