"""The years a passage is about, and how close they are to the years a question names.

A history tells a period once ("Những năm 2010 - 2015: ...", a heading "(1996 - 2005)")
and then describes it for paragraphs without repeating the years, so the passage that
answers "how many members were disciplined in the 2000 - 2005 term?" often names no
year at all. A passage's period is therefore the years it names, the years its section
heading names, and the years named just before it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.chunk import Chunk
from index.bm25 import mapped
from index.ranking import concat_ranges

_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
LEAD_IN_CHARS = 200  # about one sentence of the text before a passage
_LEAD_IN_YEARS = 2  # the period stated last before the passage: "2010 - 2015"


def years(text: str) -> frozenset[int]:
    """Return the years (1800-2099) written in `text`."""
    return frozenset(int(y) for y in _YEAR.findall(text))


def passage_years(document_text: str, chunk: Chunk) -> frozenset[int]:
    """Return the years `chunk` is about: its own, its heading's, and its lead-in's."""
    # The lead-in stays inside the section: the previous section's last years are another period.
    section_start = document_text.rfind(chunk.section, 0, chunk.start + len(chunk.section)) if chunk.section else -1
    lead_in = _YEAR.findall(document_text[max(0, section_start, chunk.start - LEAD_IN_CHARS) : chunk.start])
    return years(chunk.text) | years(chunk.section or "") | {int(y) for y in lead_in[-_LEAD_IN_YEARS:]}


def period_match(asked: frozenset[int], about: frozenset[int]) -> float:
    """Return how close a passage's years are to each asked year: 1 when all are named.

    Each asked year scores 1 / (1 + years to the nearest year of the passage), and the
    scores are averaged, so for "nhiệm kỳ 2000 - 2005" a passage of 2000 - 2005 beats
    one of 1996 - 2000 that shares a boundary year. 0 when either side names no year.
    """
    if not asked or not about:
        return 0.0
    return sum(1.0 / (1.0 + min(abs(year - y) for y in about)) for year in asked) / len(asked)


@dataclass(frozen=True)
class PeriodTable:
    """The years each passage is about, as one flat array: row r's are years[offsets[r] : offsets[r + 1]]."""

    offsets: np.ndarray
    years: np.ndarray

    @classmethod
    def build(cls, chunks: Sequence[Chunk], texts: Mapping[str, str]) -> PeriodTable:
        """Return the table of `chunks`; `texts` maps each document id to its clean text."""
        about = [sorted(passage_years(texts[chunk.doc_id], chunk)) for chunk in chunks]
        offsets = np.concatenate([[0], np.cumsum([len(y) for y in about])]).astype(np.int64)
        return cls(offsets, np.array([y for row in about for y in row], dtype=np.int64))

    @classmethod
    def joined(cls, tables: Sequence[PeriodTable]) -> PeriodTable:
        """Return the tables of consecutive segments as one (a lone table as it is)."""
        if len(tables) == 1:
            return tables[0]
        shifts = np.concatenate([[0], np.cumsum([len(t.years) for t in tables])]).astype(np.int64)
        offsets = [np.asarray(t.offsets[:-1], dtype=np.int64) + shift for t, shift in zip(tables, shifts)]
        return cls(
            np.concatenate([*offsets, shifts[-1:]]),
            np.concatenate([np.asarray(t.years, dtype=np.int64) for t in tables] or [np.zeros(0, np.int64)]),
        )

    def match(self, asked: frozenset[int], rows: np.ndarray) -> np.ndarray:
        """Return `period_match(asked, years of row)` for each of `rows`, without a loop over them."""
        rows = np.asarray(rows, dtype=np.int64)
        scores = np.zeros(len(rows), dtype=np.float64)
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        has = ends > starts
        if not asked or not has.any():
            return scores
        ids, begins = concat_ranges(starts, ends)
        wanted = np.array(sorted(asked), dtype=np.int64)
        closeness = 1.0 / (1.0 + np.abs(self.years[ids][:, None] - wanted[None, :]))  # (years, asked)
        nearest = np.maximum.reduceat(closeness, begins[has], axis=0)  # per row: its nearest year to each asked
        scores[has] = nearest.mean(axis=1)
        return scores

    def save(self, directory: Path, name: str) -> list[str]:
        """Write the table as `<name>.offsets.npy` and `<name>.years.npy`; return the file names."""
        np.save(directory / f"{name}.offsets.npy", self.offsets, allow_pickle=False)
        np.save(directory / f"{name}.years.npy", self.years, allow_pickle=False)
        return [f"{name}.offsets.npy", f"{name}.years.npy"]

    @classmethod
    def load(cls, directory: Path, name: str) -> PeriodTable:
        """Return the table saved under `name`, memory-mapped."""
        return cls(
            mapped(directory / f"{name}.offsets.npy"),
            mapped(directory / f"{name}.years.npy"),
        )
