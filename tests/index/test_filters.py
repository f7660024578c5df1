"""Filters narrow every signal before ranking, in each mode."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from corpus.chunk import ChunkSettings
from index.build import update_index
from index.encoder import QueryEncoder
from index.filters import SearchFilter, allowed_rows
from index.search import MODES, Retriever, SearchConfig
from index.store import load_version
from tests.conftest import THIRD, KeywordEmbedder, write_document

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)


@pytest.mark.parametrize("mode", MODES)
def test_every_result_passes_the_filter_and_top_k_is_filled(small_corpus: Path, tmp_path: Path, mode: str) -> None:
    write_document(small_corpus, *THIRD)
    embedder = KeywordEmbedder()
    update_index(small_corpus, tmp_path / "index", embedder, SETTINGS)
    version = load_version(tmp_path / "index")
    retriever = Retriever.build(version, QueryEncoder(embedder))
    config = dataclasses.replace(SearchConfig(), mode=mode)
    only = SearchFilter(doc_ids=frozenset({"cong-doan", "thanh-lap"}), published_to=dt.date(2000, 1, 1))
    rows = allowed_rows(version, only)
    assert {version.chunks[int(r)].doc_id for r in rows} == {"thanh-lap"}
    # a question the allowed document does not answer still fills top_k from it, in BM25 mode too
    hits = retriever.search("Công đoàn có bao nhiêu đoàn viên", 10, config, only).hits
    assert [h.chunk.doc_id for h in hits] == ["thanh-lap"] * len(rows)
    answered = retriever.search("Trụ sở chuyển về đâu năm 2006?", 1, config, only).hits
    assert "18 Hồ Xuân Hương" in answered[0].chunk.text
    unfiltered = retriever.search("Công đoàn có bao nhiêu đoàn viên", 1, config).hits
    assert unfiltered[0].chunk.doc_id == "cong-doan"
