from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus.chunk import Chunk, ChunkSettings
from index.build import update_index
from index.encoder import QueryEncoder
from index.period import PeriodTable, passage_years, period_match, years
from index.search import Retriever, SearchConfig
from index.store import load_version
from tests.conftest import KeywordEmbedder, write_document

# Each term states its years once, in a short lead-in, then reports its figures.
HISTORY = (
    "I. Những năm 1996 - 2000\n"
    "Những năm 1996 - 2000: Đảng bộ tiến hành Đại hội lần thứ I.\n"
    "Công tác xây dựng Đảng được chú trọng. Đảng bộ đã thi hành kỷ luật 64 đảng viên vi phạm.\n"
    "II. Những năm 2000 - 2005\n"
    "Những năm 2000 - 2005: Đảng bộ tiến hành Đại hội lần thứ II.\n"
    "Công tác xây dựng Đảng được chú trọng. Đảng bộ đã thi hành kỷ luật 44 đảng viên vi phạm.\n"
)


def _chunk(text: str, start: int, section: str | None = None) -> Chunk:
    return Chunk("d#0", "d", section, (1, 1), start, start + len(text), text)


def test_years_are_four_digit_years_only() -> None:
    assert years("ngày 27-01-1994, nhiệm kỳ 2020 - 2025, 1.109 đồng chí, 12000 đoàn viên") == {1994, 2020, 2025}


def test_a_passage_is_about_its_own_its_heading_and_its_lead_in_years() -> None:
    document = "Những năm 2010 - 2015: Đại hội lần thứ IV. Kết nạp 1.109 đảng viên."
    start = document.index("Kết nạp")
    chunk = _chunk(document[start:], start, section="III. Giai đoạn (2005 - 2024)")
    assert passage_years(document, chunk) == {2005, 2024, 2010, 2015}
    assert passage_years(document, _chunk(document, 0)) == {2010, 2015}


def test_the_lead_in_does_not_reach_into_the_previous_section() -> None:
    document = "I. Thời kỳ đầu\nNăm 1994 thành lập. Năm 1995 họp.\nII. Giai đoạn sau\nKết nạp 712 đảng viên."
    section = "II. Giai đoạn sau"
    start = document.index(section)
    assert passage_years(document, _chunk(document[start:], start, section=section)) == set()
    inner = document.index("Kết nạp")
    assert passage_years(document, _chunk(document[inner:], inner, section=section)) == set()


def test_period_match_decays_with_the_distance_in_years() -> None:
    asked = frozenset({2000, 2005})
    assert period_match(asked, frozenset({2000, 2005, 2003})) == 1.0
    assert period_match(asked, frozenset({1996, 2000})) == pytest.approx((1 + 1 / 6) / 2)
    assert period_match(asked, frozenset({2015})) == pytest.approx((1 / 16 + 1 / 11) / 2)
    assert period_match(frozenset({2010}), frozenset({2009, 2030})) == 0.5
    assert period_match(frozenset(), frozenset({2003})) == 0.0
    assert period_match(asked, frozenset()) == 0.0


def test_the_term_the_question_names_decides_between_like_passages(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_document(corpus, "history", "Lịch sử Đảng bộ", "2019-01-04", HISTORY)
    embedder = KeywordEmbedder()
    update_index(corpus, tmp_path / "index", embedder, ChunkSettings(max_tokens=24, overlap_sentences=0))
    retriever = Retriever.build(load_version(tmp_path / "index"), QueryEncoder(embedder))
    question = "Nhiệm kỳ {}, Đảng bộ thi hành kỷ luật bao nhiêu đảng viên?"
    for term, figure in (("1996 - 2000", "64"), ("2000 - 2005", "44")):
        top = retriever.search(question.format(term), 1).hits[0]
        assert f"kỷ luật {figure} đảng viên" in top.chunk.text, term
    # Without the period the two passages differ only in their figure: the question cannot tell.
    unaware = SearchConfig(period_weight=0.0)
    tops = {
        retriever.search(question.format(term), 1, unaware).hits[0].chunk.text
        for term in ("1996 - 2000", "2000 - 2005")
    }
    assert len(tops) == 1


def test_the_period_table_matches_each_row_as_period_match_does() -> None:
    text = "Những năm 1996 - 2000: Đại hội. Năm 2005 Đại hội. Không có năm. Năm 2015 và 2020."
    chunks = [_chunk(text[s:e], s) for s, e in ((0, 31), (32, 49), (50, 63), (64, len(text)))]
    table = PeriodTable.build(chunks, {"d": text})
    rows = np.array([3, 0, 2, 1])
    for asked in (frozenset({2000, 2005}), frozenset({2018}), frozenset()):
        expected = [period_match(asked, passage_years(text, chunks[row])) for row in rows]
        assert table.match(asked, rows) == pytest.approx(expected)
