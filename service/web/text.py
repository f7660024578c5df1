"""A document's clean text as blocks to render: headings, paragraphs, and the cited span marked."""

from __future__ import annotations

from dataclasses import dataclass

from corpus.chunk import is_heading


@dataclass(frozen=True)
class Piece:
    """Part of a line: inside the citation or not; `anchor` on the first cited piece, where the page scrolls."""

    text: str
    cited: bool = False
    anchor: bool = False


@dataclass(frozen=True)
class Block:
    """One line of the clean text: a heading or a paragraph."""

    heading: bool
    pieces: list[Piece]


def document_blocks(text: str, cited: tuple[int, int] | None) -> list[Block]:
    """Return the non-empty lines of `text` as blocks, the characters `cited[0]:cited[1]` marked."""
    blocks: list[Block] = []
    start, anchored = 0, False
    for line in text.split("\n"):
        if line.strip():
            pieces = _cut(line, start, cited, anchored)
            anchored = anchored or any(p.cited for p in pieces)
            blocks.append(Block(is_heading(line), pieces))
        start += len(line) + 1
    return blocks


def _cut(line: str, start: int, cited: tuple[int, int] | None, anchored: bool) -> list[Piece]:
    if cited is None:
        return [Piece(line)]
    lo, hi = max(cited[0] - start, 0), min(cited[1] - start, len(line))
    if lo >= hi:
        return [Piece(line)]
    pieces = [Piece(line[:lo]), Piece(line[lo:hi], True, not anchored), Piece(line[hi:])]
    return [p for p in pieces if p.text]
