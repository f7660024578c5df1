"""Many askers at once, over real HTTP: same answers, failures kept apart, 503 beyond the queue limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from corpus.chunk import ChunkSettings
from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from service.api import create_app
from service.settings import Settings
from tests.conftest import KeywordEmbedder, serving
from tests.service.conftest import SMALL

QUESTIONS = [
    "Trụ sở chuyển về Hồ Xuân Hương năm nào?",
    "Đại hội lần thứ nhất họp khi nào?",
    "Ban Chấp hành gồm bao nhiêu đồng chí?",
    "Lúc mới thành lập có bao nhiêu đảng viên?",
    "tru so dat tai dau",
    "truyền thống của cán bộ, đảng viên",
]


class GatedEmbedder(KeywordEmbedder):
    """Embeds queries only while `gate` is open; a query with "hỏng" makes the model fail."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.queries = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries += len(texts)
        self.entered.set()
        assert self.gate.wait(10)
        if any("hỏng" in t for t in texts):
            raise RuntimeError("the engine failed")
        return super().embed_queries(texts)


@contextmanager
def app_server(small_corpus: Path, tmp_path: Path, embedder: KeywordEmbedder, **settings: int) -> Iterator[str]:
    config = Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", chunk_max_tokens=40, **settings)
    chunking: ChunkSettings = SMALL
    update_index(config.corpus_dir, config.index_dir, embedder, chunking)
    encoder = QueryEncoder(embedder, config.encoder_settings())
    with serving(create_app(config, LiveIndex(config.index_dir, encoder, chunking))) as url:
        yield url
    encoder.close()


def _results(response: httpx.Response) -> list[object]:
    assert response.status_code == 200, response.text
    return [(r["citation"], r["highlight"], r["score"]) for r in response.json()["results"]]


def test_concurrent_askers_get_what_a_lone_asker_gets(small_corpus: Path, tmp_path: Path) -> None:
    with app_server(small_corpus, tmp_path, KeywordEmbedder(), query_cache_size=0) as url:
        alone = {q: _results(httpx.post(f"{url}/search", json={"query": q, "top_k": 3})) for q in QUESTIONS}

        def ask(question: str) -> tuple[str, list[object]]:
            return question, _results(httpx.post(f"{url}/search", json={"query": question, "top_k": 3}, timeout=30))

        with ThreadPoolExecutor(12) as pool:
            together = list(pool.map(ask, QUESTIONS * 4))
    assert all(results == alone[question] for question, results in together)


def test_a_failing_embedding_fails_only_its_own_request(small_corpus: Path, tmp_path: Path) -> None:
    questions = [*QUESTIONS, "câu hỏi làm hỏng máy"]
    with app_server(small_corpus, tmp_path, GatedEmbedder(), embed_workers=2) as url:
        with ThreadPoolExecutor(len(questions)) as pool:
            responses = list(pool.map(lambda q: httpx.post(f"{url}/search", json={"query": q}, timeout=30), questions))
        after = httpx.post(f"{url}/search", json={"query": QUESTIONS[0]})
    statuses = {q: r.status_code for q, r in zip(questions, responses)}
    assert statuses.pop("câu hỏi làm hỏng máy") == 500
    assert set(statuses.values()) == {200}
    assert responses[-1].json()["error"] == "internal_error"
    assert after.status_code == 200  # the workers are still there


def test_beyond_the_queue_limit_searches_get_503_with_retry_after(small_corpus: Path, tmp_path: Path) -> None:
    embedder = GatedEmbedder()
    with app_server(small_corpus, tmp_path, embedder, max_pending=1, search_threads=1, query_cache_size=0) as url:
        embedder.gate.clear()
        embedder.entered.clear()
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(httpx.post, f"{url}/search", json={"query": QUESTIONS[0]}, timeout=30)
            assert embedder.entered.wait(10)  # the first search holds the only place
            refused = httpx.post(f"{url}/search", json={"query": QUESTIONS[1]})
            refused_get = httpx.get(f"{url}/search", params={"q": QUESTIONS[1]})
            embedder.gate.set()
            assert first.result().status_code == 200
        assert httpx.post(f"{url}/search", json={"query": QUESTIONS[1]}).status_code == 200
    for response in (refused, refused_get):
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["error"] == "overloaded" and "VIQA_MAX_PENDING" in response.json()["detail"]


def test_repeated_questions_are_answered_from_the_cache_with_the_same_results(
    small_corpus: Path, tmp_path: Path
) -> None:
    embedder = GatedEmbedder()
    with app_server(small_corpus, tmp_path, embedder) as url:
        first = _results(httpx.post(f"{url}/search", json={"query": QUESTIONS[0]}))
        embedded = embedder.queries
        again = _results(httpx.post(f"{url}/search", json={"query": f"  {QUESTIONS[0]} "}))
        health = httpx.get(f"{url}/health").json()
    assert again == first and embedder.queries == embedded  # the model was not asked again
    assert health["load"]["cache_hits"] == 1 and health["load"]["cache_misses"] == 1
