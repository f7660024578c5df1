from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corpus.chunk import ChunkSettings
from index.build import update_index
from index.candidates import CandidateStage
from index.dense import EF_SEARCH
from index.encoder import QueryEncoder
from index.ranking import Ranking, ranks_missed, rrf_weights
from index.search import Retriever, SearchConfig
from index.store import load_version
from tests.conftest import KeywordEmbedder, write_document

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)


@pytest.fixture
def retriever(small_corpus: Path, tmp_path: Path, keyword_embedder: KeywordEmbedder) -> Retriever:
    update_index(small_corpus, tmp_path / "index", keyword_embedder, SETTINGS)
    return Retriever.build(load_version(tmp_path / "index"), QueryEncoder(keyword_embedder))


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_each_mode_finds_the_passage(retriever: Retriever, mode: str) -> None:
    hits = retriever.search("Trụ sở chuyển về Hồ Xuân Hương năm nào?", 3, SearchConfig(mode=mode)).hits
    assert "18 Hồ Xuân Hương" in hits[0].chunk.text
    assert [h.rank for h in hits] == [1, 2, 3]


def test_highlight_is_the_best_matching_sentence(retriever: Retriever) -> None:
    top = retriever.search("Đại hội bầu Ban Chấp hành gồm bao nhiêu đồng chí?", 1).hits[0]
    start, end = top.highlight
    assert top.chunk.text[start:end] == "Đại hội bầu Ban Chấp hành gồm 27 đồng chí."


def test_queries_without_diacritics_are_restored_and_english_translated(retriever: Retriever) -> None:
    outcome = retriever.search("tru so chuyen ve ho xuan huong nam nao", 1)
    assert outcome.rewritten_query == "trụ sở chuyển về hồ xuân hương năm nào"
    assert "18 Hồ Xuân Hương" in outcome.hits[0].chunk.text
    english = retriever.search("How many party members were there when it was founded?", 1)
    assert english.rewritten_query and "đảng viên" in english.rewritten_query
    assert retriever.search("Đảng bộ Khối thành lập ngày nào?", 1).rewritten_query is None


def test_an_english_query_is_embedded_with_its_vietnamese_keywords(retriever: Retriever) -> None:
    # The keyword embedder shares no word between the English and the passage: only the
    # glossary's "trụ sở" and "chuyển về" can lead dense retrieval to it.
    top = retriever.search("Where were the headquarters moved?", 1, SearchConfig(mode="dense")).hits[0]
    assert "18 Hồ Xuân Hương" in top.chunk.text


def test_a_plain_wording_is_matched_in_the_collections_own(retriever: Retriever) -> None:
    # "nơi làm việc" never occurs in the corpus; the thesaurus gives its word, "trụ sở".
    bm25 = SearchConfig(mode="bm25")
    outcome = retriever.search("Nơi làm việc ở đâu?", 1, bm25)
    assert "Trụ sở" in outcome.hits[0].chunk.text and outcome.hits[0].score > 0
    assert outcome.rewritten_query == "Nơi làm việc ở đâu? trụ sở"
    unexpanded = retriever.search("Nơi làm việc ở đâu?", 1, SearchConfig(mode="bm25", expand_synonyms=False))
    assert unexpanded.hits[0].score == 0
    # The evidence an answer must hold is "trụ sở", the collection's word, not the asker's.
    assert retriever.search("Nơi làm việc chuyển về đâu?", 3).answerable
    assert not retriever.search("Nơi làm việc chuyển về đâu?", 3, SearchConfig(expand_synonyms=False)).answerable


def test_answerable_says_whether_the_question_terms_are_there(retriever: Retriever) -> None:
    answered = retriever.search("Đại hội lần thứ nhất họp năm nào?", 3)
    assert answered.answerable and answered.confidence > 0.9
    unanswered = retriever.search("Huân chương Lao động hạng Ba trao cho ai?", 3)
    assert not unanswered.answerable and unanswered.confidence < 0.475


def test_overlapping_passages_are_not_returned_twice(retriever: Retriever) -> None:
    hits = retriever.search("trụ sở", 10).hits
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            if a.chunk.doc_id == b.chunk.doc_id:
                shared = min(a.chunk.end, b.chunk.end) - max(a.chunk.start, b.chunk.start)
                assert shared <= 0.2 * min(len(a.chunk.text), len(b.chunk.text))


def test_rrf_ranks_listed_rows_and_places_the_others_just_below() -> None:
    ranking = Ranking(np.array([2, 1]), np.array([3.0, 1.0]), complete=True)
    rows = np.array([0, 1, 2, 3])
    # A list that holds every row that scores (a BM25 list): the others matched nothing.
    assert np.allclose(rrf_weights(ranking, rows, 60), [0, 1 / 62, 1 / 61, 0])
    # A list cut at its length: a row it misses weighs as the next rank (its true rank is no better)...
    cut = Ranking(ranking.rows, ranking.scores, complete=False)
    assert np.allclose(rrf_weights(cut, rows, 60), [1 / 63, 1 / 62, 1 / 61, 1 / 63])
    # ...or as the rank estimated for it.
    assert np.allclose(rrf_weights(cut, rows, 60, lambda r: np.array([500.0, 2.0])), [1 / 561, 1 / 62, 1 / 61, 1 / 63])


def test_a_row_an_approximate_list_missed_ranks_among_the_rows_it_beats() -> None:
    ranking = Ranking(np.array([5, 7, 9]), np.array([0.9, 0.8, 0.7]), complete=False)
    similarity = np.array([0.95, 0.85, 0.8, 0.5, 0.5])
    below = np.array([0.0, 0.0, 0.0, 40.0, 1.0])  # a sample's estimates, noisy near the top
    # Above the list's last row: after the rows scoring more (a tie after its equal); below it: never above the list.
    assert ranks_missed(ranking, similarity, below).tolist() == [0, 1, 1, 40, 3]


@dataclass(frozen=True)
class _GraphThatMissedTheBest:
    """The candidate stage, but its dense list misses the most similar row, as an HNSW search now and then does."""

    stage: CandidateStage

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stage, name)

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = EF_SEARCH) -> Ranking:
        found = self.stage.dense_top(vector, n + 1, ef_search)
        return Ranking(found.rows[1:], found.scores[1:], complete=False)


def test_a_passage_the_dense_list_missed_keeps_its_place_by_similarity(retriever: Retriever) -> None:
    # Found by BM25, it ranks first by similarity still, not below the dense list.
    question, config = "Trụ sở chuyển về Hồ Xuân Hương năm nào?", SearchConfig(feedback_weight=0.0)
    missed = dataclasses.replace(retriever, candidates=_GraphThatMissedTheBest(retriever.candidates))
    best = retriever.search(question, 1, config).hits[0]
    assert retriever.encoder is not None
    nearest = retriever.candidates.dense_top(retriever.encoder.embed(question), 1).rows[0]
    assert retriever.version.chunks[int(nearest)].chunk_id == best.chunk.chunk_id  # the row the list will miss
    found = missed.search(question, 1, config).hits[0]
    assert found.chunk.chunk_id == best.chunk.chunk_id and found.score == pytest.approx(best.score)


# "d-noi-lam-viec" shares no word with the query "trụ sở", and many with "a-tru-so", its answer.
_FEEDBACK_PASSAGES = {
    "a-tru-so": "Trụ sở chuyển về số 18 Hồ Xuân Hương.",
    "b-dai-hoi": "Đại hội bầu Ban Chấp hành gồm 27 đồng chí.",
    "c-cong-doan": "Công đoàn có 12.000 đoàn viên.",
    "d-noi-lam-viec": "Đảng ủy Khối làm việc tại 18 Hồ Xuân Hương.",
    "e-doan": "Đoàn Thanh niên tổ chức nhiều phong trào.",
    "f-hoi-nghi": "Hội nghị tổng kết công tác năm 2020.",
    "g-khen-thuong": "Nhiều tập thể được tặng Bằng khen.",
    "h-thi-dua": "Phong trào thi đua yêu nước được phát động.",
    "i-ky-niem": "Lễ kỷ niệm diễn ra trang trọng.",
}


def _feedback_retriever(tmp_path: Path, keyword_embedder: KeywordEmbedder) -> Retriever:
    for doc_id, text in _FEEDBACK_PASSAGES.items():
        write_document(tmp_path / "corpus", doc_id, doc_id, "2020-01-01", text)
    update_index(tmp_path / "corpus", tmp_path / "index", keyword_embedder, SETTINGS)
    return Retriever.build(load_version(tmp_path / "index"), QueryEncoder(keyword_embedder))


def test_feedback_reaches_a_passage_worded_like_the_best_one_not_like_the_query(
    tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    retriever = _feedback_retriever(tmp_path, keyword_embedder)

    def ranking(feedback_weight: float) -> list[str]:
        config = SearchConfig(feedback_weight=feedback_weight, feedback_depth=1)
        return [h.chunk.doc_id for h in retriever.search("trụ sở", 5, config).hits]

    assert ranking(0.0)[1] != "d-noi-lam-viec"
    assert ranking(0.5)[:2] == ["a-tru-so", "d-noi-lam-viec"]


@dataclass
class _CountedGraph:
    """The candidate stage, counting its dense (graph) searches."""

    stage: CandidateStage
    searches: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stage, name)

    def dense_top(self, vector: np.ndarray, n: int, ef_search: int = EF_SEARCH) -> Ranking:
        self.searches += 1
        return self.stage.dense_top(vector, n, ef_search)


def test_feedback_ranks_the_dense_list_again_by_the_moved_query_without_a_second_search(
    tmp_path: Path, keyword_embedder: KeywordEmbedder
) -> None:
    built = _feedback_retriever(tmp_path, keyword_embedder)
    counted = _CountedGraph(built.candidates)
    retriever = dataclasses.replace(built, candidates=counted)
    # Two hits: four candidates per signal, and the dense search lists eight of the nine
    # passages. It lists the query's own, then seven it shares no word with, by row, the
    # fourth "d-noi-lam-viec"; ranked again for the query moved toward "a-tru-so", it is second.
    config = SearchConfig(feedback_weight=0.5, feedback_depth=1, candidates=2)
    hits = [h.chunk.doc_id for h in retriever.search("trụ sở", 2, config).hits]
    assert hits == ["a-tru-so", "d-noi-lam-viec"]
    assert counted.searches == 1


def test_an_english_question_whose_subject_the_glossary_lacks_is_left_to_the_dense_path(
    retriever: Retriever,
) -> None:
    # "how many" alone would send BM25 to every passage with a figure; an added document
    # about football is found by the multilingual embedding, not by "bao nhiêu".
    glossary = retriever.rewriter.glossary
    assert glossary.translate("How many teams played in the football tournament?") is None
    assert glossary.translate("How many party members were there?") == "bao nhiêu số đảng viên"
    outcome = retriever.search("How many teams played in the football tournament?", 1)
    assert outcome.rewritten_query is None
