"""Published page text to clean text, with a map back to the published offsets.

Cleaning is a pure function of the raw file and its title: NFC, canonical tone
placement, TCVN3 repair, removal of the page's widgets, stamp, signature and stray
captions, and whitespace. Every character of the clean text remembers the offset
it came from, so a citation can always be checked against the text as published.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from corpus.normalize import canonical_tones, has_diacritics, match_key, syllables
from corpus.tcvn3 import Replacement, find_tcvn3_runs

# Page furniture of the publisher's CMS, matched at the start of a line.
_WIDGETS = re.compile(
    r"^(Tổng số điểm của bài viết|Xếp hạng:|Click để đánh giá|Ý kiến bạn đọc|"
    r"Những tin mới hơn|Những tin cũ hơn|Bạn đã không sử dụng Site|Tác giả bài viết:)",
    re.IGNORECASE,
)
_STAMP = re.compile(
    r"^(Thứ (hai|ba|tư|năm|sáu|bảy)|Chủ nhật)\s*-\s*\d{1,2}/\d{1,2}/\d{4}(\s+\d{1,2}:\d{2})?$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?:;…]\s*$")
_SPACES = re.compile(r"\s+")
_CAPTION_MAX_WORDS = 20
_CLUSTER = re.compile(r".[\u0300-\u036f]*", re.DOTALL)


@dataclass(frozen=True)
class CleanedText:
    """Clean text plus, for each character, its offset in the published text."""

    text: str
    source_offsets: tuple[int, ...]  # len(text) + 1 entries; the last is the end

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """Return the published-text span that clean span [start, end) came from."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) is outside the text (length {len(self.text)})")
        if start == end:
            return self.source_offsets[start], self.source_offsets[start]
        return self.source_offsets[start], self.source_offsets[end - 1] + 1


def clean_text(raw: str, title: str | None = None) -> CleanedText:
    """Return the cleaned body of a published page: one paragraph or heading per line."""
    lines = _lines_with_offsets(raw)
    # Which lines hold a TCVN3 run does not depend on the vocabulary; only decoding does.
    garbled = {start for line, start in lines if find_tcvn3_runs(line, ())}
    vocabulary = {w for line, start in lines if start not in garbled for w in syllables(line)}
    kept = [(line, start) for line, start in lines if line.strip()]
    # A line without diacritics stands out as a caption only in a text that has them.
    accented = sum(has_diacritics(line) for line, _ in kept) > len(kept) / 2
    kept = _drop_page_furniture(kept, title, accented)
    chars: list[str] = []
    offsets: list[int] = []
    for line, start in kept:
        text, line_offsets = _clean_line(line, start, vocabulary if start in garbled else None)
        if not text:
            continue
        if chars:
            chars.append("\n")
            offsets.append(offsets[-1] + 1)
        chars.extend(text)
        offsets.extend(line_offsets)
    end = offsets[-1] + 1 if offsets else 0
    return CleanedText("".join(chars), (*offsets, end))


def _lines_with_offsets(raw: str) -> list[tuple[str, int]]:
    result = []
    start = 0
    for line in raw.splitlines(keepends=True):
        result.append((line.rstrip("\r\n"), start))
        start += len(line)
    return result


def _drop_page_furniture(lines: list[tuple[str, int]], title: str | None, accented: bool) -> list[tuple[str, int]]:
    kept = []
    for i, (line, start) in enumerate(lines):
        stripped = line.strip()
        if i == 0 and title and match_key(stripped) == match_key(title):
            continue
        if _STAMP.match(stripped) or _WIDGETS.match(stripped) or (accented and _is_caption(stripped)):
            continue
        kept.append((line, start))
    while kept and _is_signature(kept[-1][0].strip()):
        kept.pop()
    return kept


def _is_caption(line: str) -> bool:
    """A short line with no diacritics and no sentence end: an image caption."""
    words = line.split()
    return (
        0 < len(words) <= _CAPTION_MAX_WORDS
        and not has_diacritics(line)
        and not _SENTENCE_END.search(line)
        and any(w.isalpha() for w in words)
    )


def _is_signature(line: str) -> bool:
    """The author's signature closing an article: a short line in capitals."""
    letters = [c for c in line if c.isalpha()]
    return bool(letters) and len(line.split()) <= 15 and all(c.isupper() for c in letters)


def _clean_line(line: str, start: int, vocabulary: set[str] | None) -> tuple[str, list[int]]:
    """Clean one line; `vocabulary` is given only for a line that holds a TCVN3 run."""
    repairs = find_tcvn3_runs(line, vocabulary, canonical_tones) if vocabulary is not None else []
    text, offsets = _apply(line, [start + i for i in range(len(line))], repairs)
    text, offsets = _compose(text, offsets)
    # On composed text, moving a tone mark swaps one precomposed letter for another.
    canonical = canonical_tones(text)
    if len(canonical) != len(text):
        raise AssertionError(f"tone placement changed the length of {text!r}")
    return _collapse_spaces(canonical, offsets)


def _compose(text: str, offsets: list[int]) -> tuple[str, list[int]]:
    """NFC each base letter with its combining marks; each result maps to its letter's offset."""
    if unicodedata.is_normalized("NFC", text):
        return text, offsets
    out_chars: list[str] = []
    out_offsets: list[int] = []
    for match in _CLUSTER.finditer(text):
        composed = unicodedata.normalize("NFC", match.group())
        out_chars.extend(composed)
        out_offsets.extend([offsets[match.start()]] * len(composed))
    return "".join(out_chars), out_offsets


def _apply(text: str, offsets: list[int], repairs: list[Replacement]) -> tuple[str, list[int]]:
    out_chars: list[str] = []
    out_offsets: list[int] = []
    cursor = 0
    for r in repairs:
        out_chars.extend(text[cursor : r.start])
        out_offsets.extend(offsets[cursor : r.start])
        width = r.end - r.start
        out_chars.extend(r.new)
        out_offsets.extend(offsets[r.start + min(k, width - 1)] for k in range(len(r.new)))
        cursor = r.end
    out_chars.extend(text[cursor:])
    out_offsets.extend(offsets[cursor:])
    return "".join(out_chars), out_offsets


def _collapse_spaces(text: str, offsets: list[int]) -> tuple[str, list[int]]:
    out_chars: list[str] = []
    out_offsets: list[int] = []
    for match in re.finditer(r"\S+", text):
        if out_chars:
            out_chars.append(" ")
            out_offsets.append(offsets[match.start() - 1])
        out_chars.extend(match.group())
        out_offsets.extend(offsets[match.start() : match.end()])
    return "".join(out_chars), out_offsets
