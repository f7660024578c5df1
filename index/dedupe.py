"""Passages a reader has mostly seen already: overlapping chunks of one document.

Chunks overlap their neighbours by a sentence or two, so the same answer often comes
back in two adjacent chunks; a hit is skipped when most of it was shown by a better one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from corpus.chunk import Chunk


def without_repeats(order: Iterator[int], chunks: Sequence[Chunk], top_k: int, max_overlap: float) -> list[int]:
    """Return the first `top_k` rows of `order`, skipping passages mostly shown already."""
    kept: list[int] = []
    shown: list[Chunk] = []
    for row in order:
        chunk = chunks[row]
        if not any(_overlap(chunk, other) > max_overlap for other in shown):
            kept.append(int(row))
            shown.append(chunk)
            if len(kept) == top_k:
                break
    return kept


def _overlap(a: Chunk, b: Chunk) -> float:
    if a.doc_id != b.doc_id:
        return 0.0
    shared = min(a.end, b.end) - max(a.start, b.start)
    return max(shared, 0) / max(min(a.end - a.start, b.end - b.start), 1)
