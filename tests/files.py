"""Document files built in code for the tests: Word documents and PDFs with Vietnamese text."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import docx
from pypdf import PdfWriter


def docx_bytes(
    blocks: list[tuple[str, str]],
    *,
    title: str | None = None,
    author: str | None = None,
    created: dt.datetime | None = None,
) -> bytes:
    """Return a .docx of `blocks`: ("heading", text), ("paragraph", text) or ("table", "a|b;c|d") for rows of cells."""
    document = docx.Document()
    for kind, text in blocks:
        if kind == "heading":
            document.add_heading(text, level=1)
        elif kind == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for cells, values in zip(table.rows, rows):
                for cell, value in zip(cells.cells, values):
                    cell.text = value
        else:
            document.add_paragraph(text)
    props = document.core_properties
    props.title, props.author = title or "", author or ""
    if created is not None:
        props.created = created
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def font() -> Path:
    """Return a TrueType font with the Vietnamese letters."""
    system = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if system.exists():
        return system
    import matplotlib  # ships DejaVu Sans

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def pdf_bytes(pages: list[list[str]], info: dict[str, str] | None = None) -> bytes:
    """Return a PDF with a text layer: one line of text per item, one page per list; `info` is its /Info."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVuSans", str(font())))
    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    for lines in pages:
        pdf.setFont("DejaVuSans", 11)
        for i, line in enumerate(lines):
            pdf.drawString(72, 760 - 16 * i, line)
        pdf.showPage()
    pdf.save()
    writer = PdfWriter(clone_from=io.BytesIO(out.getvalue()))
    if info:
        writer.add_metadata(info)
    final = io.BytesIO()
    writer.write(final)
    return final.getvalue()


def blank_pdf() -> bytes:
    """Return a PDF of one page without text (a scan without OCR looks like this to a reader)."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
