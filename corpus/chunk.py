"""Clean text to chunks: sections, paragraphs, sentences, packed to a token budget.

The clean text has one paragraph per line; a line like "II. ..." opens a section.
A chunk packs whole sentences of one section, up to `max_tokens` as counted by the
embedder's own tokenizer, and repeats the last sentence(s) of the chunk before it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from corpus.documents import Document

TokenCounter = Callable[[str], int]

# "I." to "XXXIX." opening a line; not an initial such as "V. I. Lênin" or "C. Mác".
_HEADING = re.compile(r"^(?=[IVX])X{0,3}(?:IX|IV|V?I{0,3})\.\s+(?![A-ZĐ]\.\s)\S")
# A sentence ends at . ! ? … (or the "./." closing mark) before an upper-case letter,
# digit, quote or bracket; the look-behind skips abbreviations such as "TP." or "v.v.".
_SENTENCE_BREAK = re.compile(r"(?<!\bTP\.)(?<!\bTp\.)(?<!\bv\.v\.)(?<!\bTS\.)(?<=[.!?…])\s+(?=[\"“(\[]?[\dA-ZÀ-Ỹ])")
_SOFT_BREAKS = (re.compile(r"(?<=;)\s+"), re.compile(r"(?<=,)\s+"), re.compile(r"\s+"))


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut; recorded in the index manifest."""

    max_tokens: int = 200
    overlap_sentences: int = 2


@dataclass(frozen=True)
class Chunk:
    """A passage of one section of one document, with its provenance."""

    chunk_id: str  # "<doc_id>#<hash of section, offsets and text>"
    doc_id: str
    section: str | None  # heading of the section; None before the first heading
    paragraphs: tuple[int, int]  # first and last line of the clean text, 1-based
    start: int  # offsets into the clean text
    end: int
    text: str


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    paragraph: int


def is_heading(line: str) -> bool:
    """Return True when `line` opens a section ("II. Trụ sở")."""
    return bool(_HEADING.match(line))


def approximate_tokens(text: str) -> int:
    """Return a tokenizer-free estimate: Vietnamese syllables cost ~1.5 subword tokens."""
    return 2 + (3 * len(text.split()) + 1) // 2


def split_into_chunks(
    document: Document, settings: ChunkSettings, count_tokens: TokenCounter = approximate_tokens
) -> list[Chunk]:
    """Return the chunks of `document` in reading order."""
    text = document.text
    chunks: list[Chunk] = []
    for heading, spans in _sections(text, settings, count_tokens):
        for group in _pack(text, spans, settings, count_tokens):
            start, end = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(document.doc_id, heading, start, text[start:end]),
                    doc_id=document.doc_id,
                    section=heading,
                    paragraphs=(group[0].paragraph, group[-1].paragraph),
                    start=start,
                    end=end,
                    text=text[start:end],
                )
            )
    return chunks


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Return (start, end) offsets of the sentences of `text[start:end]`."""
    end = len(text) if end is None else end
    spans = []
    cursor = start
    for match in _SENTENCE_BREAK.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        spans.append((cursor, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _sections(
    text: str, settings: ChunkSettings, count_tokens: TokenCounter
) -> Iterator[tuple[str | None, list[_Span]]]:
    heading: str | None = None
    spans: list[_Span] = []
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        start, end = offset, offset + len(line)
        offset = end + 1
        if is_heading(line):
            if spans:
                yield heading, spans
            heading = line
            # "I. THÀNH LẬP ..." is one unit, not the sentence "I." and another.
            spans = [_Span(a, b, number) for a, b in _fit(text, start, end, settings.max_tokens, count_tokens)]
            continue
        budget = settings.max_tokens
        if heading is not None and len(spans) == 1 and text[spans[0].start : spans[0].end] == heading:
            # A heading alone says little; leave room for it in the first piece after it.
            budget = max(settings.max_tokens - count_tokens(heading), settings.max_tokens // 4)
        for s, e in split_sentences(text, start, end):
            spans.extend(_Span(a, b, number) for a, b in _fit(text, s, e, budget, count_tokens))
            budget = settings.max_tokens
    if spans:
        yield heading, spans


def _fit(
    text: str, start: int, end: int, max_tokens: int, count_tokens: TokenCounter, level: int = 0
) -> list[tuple[int, int]]:
    """Split an over-long sentence at ";", then ",", then spaces, until pieces fit."""
    if count_tokens(text[start:end]) <= max_tokens or level == len(_SOFT_BREAKS):
        return [(start, end)]
    cuts = [m for m in _SOFT_BREAKS[level].finditer(text, start, end)]
    pieces: list[tuple[int, int]] = []
    piece_start = start
    for i, cut in enumerate(cuts):
        next_end = cuts[i + 1].start() if i + 1 < len(cuts) else end
        if count_tokens(text[piece_start:next_end]) > max_tokens:
            pieces.append((piece_start, cut.start()))
            piece_start = cut.end()
    pieces.append((piece_start, end))
    return [p for s, e in pieces for p in _fit(text, s, e, max_tokens, count_tokens, level + 1)]


def _pack(text: str, spans: list[_Span], settings: ChunkSettings, count_tokens: TokenCounter) -> list[list[_Span]]:
    groups: list[list[_Span]] = []
    current: list[_Span] = []
    for span in spans:
        candidate = current + [span]
        if current and count_tokens(text[candidate[0].start : span.end]) > settings.max_tokens:
            groups.append(current)
            overlap = current[-settings.overlap_sentences :] if settings.overlap_sentences else []
            current = overlap + [span]
            while len(current) > 1 and count_tokens(text[current[0].start : span.end]) > settings.max_tokens:
                current = current[1:]
        else:
            current = candidate
    if current:
        groups.append(current)
    return groups


def chunk_id(doc_id: str, section: str | None, start: int, text: str) -> str:
    """Return the id of a chunk: its document and a digest of where it is and what it says."""
    digest = hashlib.sha256(f"{doc_id}\x1f{section or ''}\x1f{start}\x1f{text}".encode()).hexdigest()
    return f"{doc_id}#{digest[:16]}"
