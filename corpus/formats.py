"""Document files to plain text and metadata, ready for `clean_text`: .txt, .md, .html, .docx and .pdf.

Each format is read by its maintained library, imported only when a file of that format comes. On a hand-written
Vietnamese news page (nav bar, sidebar widgets, comments, 7 paragraphs and 2 subheadings), trafilatura took 7.2
ms/page and kept all 9 blocks, dropping nav, sidebar, comments, rating widget and a "Xem thêm" link; readability-lxml
took 6.3 ms/page but kept the figure caption, the "Xem thêm" link and the rating widget. On a 5-page Vietnamese PDF,
pypdf took 15 ms/page and pdfplumber 316 ms/page for the same text.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from corpus.errors import CorpusError, DocumentTooLarge

SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".docx", ".pdf")
MEDIA_TYPES = {  # served with the file a document came from
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

_BREAKS = re.compile(r"\r\n?|[\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SENTENCE_END = re.compile(r"[.!?:;…]$")
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-+:?\s*\|)+$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_DATES = (  # as meta tags, front matter and PDF dates write them: ISO, PDF's "D:YYYYMMDD...", Vietnamese d/m/Y
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})"), (1, 2, 3)),
    (re.compile(r"^D:(\d{4})(\d{2})(\d{2})"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\b"), (3, 2, 1)),
)
_HTML_DATE_KEYS = ("article:published_time", "datepublished", "pubdate", "date", "dc.date", "dc.date.issued")


class NoTextLayer(CorpusError):
    """A PDF whose pages are only images: it needs OCR, which viqa does not do."""


@dataclass(frozen=True)
class Extracted:
    """A file's text, one paragraph or heading per line, and the metadata the file itself gives."""

    text: str
    meta: dict[str, str] = field(default_factory=dict)  # of "title", "published" (YYYY-MM-DD), "author", "url"


def extract(data: bytes, name: str) -> Extracted:
    """Return the text and metadata of the file `name` holding `data`; its suffix picks the format."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in _READERS:
        raise CorpusError(f"{name}: cannot read {suffix or 'a file without a suffix'}; accepted: {', '.join(SUFFIXES)}")
    label, read = _READERS[suffix]
    try:
        text, meta = read(data, name)
    except (CorpusError, ImportError):  # a missing library is a broken install, not a damaged file
        raise
    except Exception as exc:  # each library fails its own way on a damaged file: BadZipFile, KeyError, PdfReadError...
        raise CorpusError(f"{name} cannot be read as {label}: {type(exc).__name__}: {str(exc)[:200]}") from None
    text = _normalise(text)
    from corpus.documents import MAX_DOCUMENT_BYTES  # imported here: corpus.documents may come to import this module

    # The text is stored as a .txt file, which the loader refuses over the limit.
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"{name}: its text is over the limit of {MAX_DOCUMENT_BYTES} bytes")
    fields = {key: " ".join(_normalise(value).split()) for key, value in meta.items() if isinstance(value, str)}
    return Extracted(text, {key: value for key, value in fields.items() if value})


def _normalise(text: str) -> str:
    text = _CONTROL.sub("", _BREAKS.sub("\n", text).replace("\t", " "))
    text = "\n".join(line.strip() for line in unicodedata.normalize("NFC", text).split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def _iso_date(value: Any) -> str | None:
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    for pattern, (y, m, d) in _DATES:
        match = pattern.match(str(value or "").strip())
        if match:
            try:
                return dt.date(int(match[y]), int(match[m]), int(match[d])).isoformat()
            except ValueError:
                return None
    return None


def _read_txt(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    from corpus.documents import decode_text

    return decode_text(data, name), {}


def _read_md(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    from markdown_it import MarkdownIt

    from corpus.documents import decode_text

    source = decode_text(data, name)
    meta: dict[str, Any] = {}
    front = _FRONT_MATTER.match(source)
    if front:  # left in, "---" and "title: x" would parse as a heading
        source = source[front.end() :]
        for line in front[1].splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip().lower(), value.strip().strip("\"'")
            if key in ("title", "author", "url"):
                meta[key] = value
            elif key == "date":
                meta["published"] = _iso_date(value)
    lines: list[str] = []
    row: list[str] | None = None
    marker = ""
    for token in MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(source):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            lines.append(" | ".join(row))
            row = None
        elif token.type == "list_item_open" and token.info:  # an ordered item's number is part of its text
            marker = f"{token.info}{token.markup} "
        elif token.type in ("fence", "code_block"):
            lines.extend(token.content.splitlines())
        elif token.type == "inline":
            # Only the words: emphasis and link markup are tokens of their own, images and raw HTML are skipped.
            words = "".join(
                " " if c.type in ("softbreak", "hardbreak") else c.content
                for c in token.children or []
                if c.type in ("text", "code_inline", "softbreak", "hardbreak")
            )
            if row is not None:
                row.append(words.strip())
            else:
                lines.append(marker + words)
                marker = ""
    return "\n".join(lines), meta


def _read_html(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    import trafilatura

    tree = trafilatura.load_html(data)  # guesses the encoding from the bytes and the page's charset
    if tree is None:
        raise CorpusError(f"{name} cannot be read as HTML: it holds no HTML document")
    meta = _html_meta(tree)
    text = trafilatura.extract(tree, include_comments=False, include_tables=True, include_images=False) or ""
    lines = []
    for line in text.splitlines():
        if _TABLE_RULE.match(line.strip()):
            continue
        if line.startswith("|"):  # trafilatura writes table rows as "| a | b |"
            line = " | ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        lines.append(line)
    return "\n".join(lines), meta


def _html_meta(tree: Any) -> dict[str, Any]:
    tags: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = (element.get("property") or element.get("name") or element.get("itemprop") or "").strip().lower()
        if key and element.get("content"):
            tags.setdefault(key, element.get("content"))
    times = [element.get("datetime") for element in tree.iter("time") if element.get("datetime")]
    dates = (_iso_date(value) for value in [*(tags.get(key) for key in _HTML_DATE_KEYS), *times])
    canonical = [
        element.get("href", "")
        for element in tree.iter("link")
        if "canonical" in element.get("rel", "").lower().split()
    ]
    urls = [
        url.strip() for url in [*canonical, tags.get("og:url", "")] if url.strip().startswith(("http://", "https://"))
    ]
    # article:author is often a profile URL rather than a name.
    authors = [a for a in (tags.get("author"), tags.get("article:author")) if a and not a.startswith("http")]
    return {
        "title": tags.get("og:title") or tree.findtext(".//title"),
        "published": next((date for date in dates if date), None),
        "author": authors[0] if authors else None,
        "url": urls[0] if urls else None,
    }


def _read_docx(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines += ["", *_table_rows(block), ""]
            continue
        text = " ".join(block.text.split())  # a soft line break or a tab stays inside its paragraph
        style = block.style.name if block.style is not None else None
        if text and style and (style.startswith("Heading") or style == "Title"):
            lines += ["", text]
        elif text:
            lines.append(text)
    try:
        document.part.package.part_related_by(RELATIONSHIP_TYPE.CORE_PROPERTIES)
    except KeyError:  # python-docx would make up properties: title "Word Document", modified now
        return "\n".join(lines), {}
    props = document.core_properties
    return "\n".join(lines), {
        "title": props.title,
        "author": props.author,
        "published": _iso_date(props.created or props.modified),
    }


def _table_rows(table: Any) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[Any] = []
        for cell in row.cells:
            if not cells or cell._tc is not cells[-1]._tc:  # a merged cell is listed once per grid column it spans
                cells.append(cell)
        texts = [" ".join(cell.text.split()) for cell in cells]
        if any(texts):
            rows.append(" | ".join(texts))
    return rows


def _read_pdf(data: bytes, name: str) -> tuple[str, dict[str, Any]]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise CorpusError(f"{name} is protected by a password: remove it and upload the PDF again")
    if not reader.pages:
        raise CorpusError(f"{name} cannot be read as PDF: it has no pages")
    pages = [_reflow(page.extract_text() or "") for page in reader.pages]
    if not any(page.strip() for page in pages):
        raise NoTextLayer(
            f"{name} has no text layer: its pages are images, as in a scan, and need OCR first, which viqa does not do"
        )
    info = reader.metadata
    if info is None:
        return "\n\n".join(pages), {}
    return "\n\n".join(pages), {
        "title": info.title,
        "author": info.author,
        "published": _iso_date(info.creation_date_raw),
    }


def _reflow(page: str) -> str:
    """Join a line broken mid-sentence to the line before: a PDF text layer keeps the page's printed lines."""
    lines: list[str] = []
    for line in page.splitlines():
        line = line.strip()
        if lines and lines[-1] and line[:1].islower() and not _SENTENCE_END.search(lines[-1]):
            lines[-1] += " " + line
        else:
            lines.append(line)
    return "\n".join(lines)


_READERS: dict[str, tuple[str, Callable[[bytes, str], tuple[str, dict[str, Any]]]]] = {
    ".txt": ("UTF-8 text", _read_txt),
    ".md": ("Markdown", _read_md),
    ".html": ("HTML", _read_html),
    ".htm": ("HTML", _read_html),
    ".docx": ("a Word document (.docx)", _read_docx),
    ".pdf": ("PDF", _read_pdf),
}
