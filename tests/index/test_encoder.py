from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index.encoder import EncoderSettings, QueryEncoder, cache_key, cores
from tests.conftest import KeywordEmbedder

TEXTS = [f"Đại hội lần thứ {n} bầu Ban Chấp hành gồm {20 + n} đồng chí" for n in range(24)]


class FlakyEmbedder(KeywordEmbedder):
    """Fails on any batch holding a text with "hỏng"; records the thread counts it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []  # texts per call
        self.threads: list[int] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        if any("hỏng" in t for t in texts):
            raise RuntimeError("the engine failed")
        return super().embed_queries(texts)

    def set_threads(self, count: int) -> None:
        self.threads.append(count)


@pytest.fixture
def embedder() -> FlakyEmbedder:
    return FlakyEmbedder()


def _encoder(embedder: KeywordEmbedder, **settings: float) -> Iterator[QueryEncoder]:
    encoder = QueryEncoder(embedder, EncoderSettings(**settings))  # type: ignore[arg-type]
    yield encoder
    encoder.close()


@pytest.fixture
def pooled(embedder: FlakyEmbedder) -> Iterator[QueryEncoder]:
    yield from _encoder(embedder, workers=2, cache_size=0)


@pytest.fixture
def batched(embedder: FlakyEmbedder) -> Iterator[QueryEncoder]:
    yield from _encoder(embedder, workers=1, max_batch=8, batch_wait_ms=50, cache_size=0)


@pytest.mark.parametrize("encoder_name", ["pooled", "batched"])
def test_concurrent_requests_get_the_vectors_of_sequential_calls(
    encoder_name: str, request: pytest.FixtureRequest
) -> None:
    encoder: QueryEncoder = request.getfixturevalue(encoder_name)
    with ThreadPoolExecutor(8) as pool:
        vectors = list(pool.map(encoder.embed, TEXTS))
    reference = KeywordEmbedder()
    for text, vector in zip(TEXTS, vectors):
        assert np.array_equal(vector, reference.embed_queries([text])[0])
    stats = encoder.stats()
    assert stats.embedded == len(TEXTS) and stats.failures == 0 and stats.queued == 0


def test_micro_batching_embeds_requests_that_arrive_together_in_one_call(
    batched: QueryEncoder, embedder: FlakyEmbedder
) -> None:
    futures = [batched.submit(text) for text in TEXTS[:8]]
    assert all(f.result(timeout=10) is not None for f in futures)
    assert max(embedder.calls) > 1 and batched.stats().inferences < 8


@pytest.mark.parametrize("encoder_name", ["pooled", "batched"])
def test_a_failing_embedding_reaches_only_its_own_request(encoder_name: str, request: pytest.FixtureRequest) -> None:
    encoder: QueryEncoder = request.getfixturevalue(encoder_name)
    texts = [*TEXTS[:6], "câu hỏng", *TEXTS[6:12]]
    futures = [encoder.submit(text) for text in texts]
    for text, future in zip(texts, futures):
        if "hỏng" in text:
            with pytest.raises(RuntimeError, match="engine failed"):
                future.result(timeout=10)
        else:
            assert future.result(timeout=10).shape == (256,)
    assert encoder.stats().failures >= 1
    assert encoder.embed(TEXTS[0]).shape == (256,)  # the workers are still there


def test_the_cache_returns_the_vector_the_model_gives_and_counts_hits(embedder: FlakyEmbedder) -> None:
    encoder = QueryEncoder(embedder, EncoderSettings(workers=1, cache_size=2))
    first = encoder.embed("Trụ sở chuyển về đâu?")
    again = encoder.embed("  Trụ sở   chuyển về đâu? ")  # the same model input after normalisation
    assert np.array_equal(first, again) and not again.flags.writeable
    assert (encoder.stats().cache_hits, encoder.stats().cache_misses, len(embedder.calls)) == (1, 1, 1)
    encoder.embed("Trụ sở Chuyển về đâu?")  # case reaches the model, so it is another entry
    encoder.embed("Đại hội")  # evicts the least recently used: the first question
    encoder.embed("Trụ sở chuyển về đâu?")
    assert encoder.stats().cache_misses == 4 and len(embedder.calls) == 4
    encoder.close()


def test_a_disabled_cache_embeds_every_time(pooled: QueryEncoder, embedder: FlakyEmbedder) -> None:
    pooled.embed("Đại hội")
    pooled.embed("Đại hội")
    assert len(embedder.calls) == 2 and pooled.stats().cache_hits == 0


def test_a_lone_request_gets_every_core_and_concurrent_ones_one_thread_each() -> None:
    started, release, third = threading.Event(), threading.Event(), threading.Event()

    class Blocking(FlakyEmbedder):
        def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
            started.set()
            release.wait(10)
            return super().embed_queries(texts)

        def set_threads(self, count: int) -> None:
            super().set_threads(count)
            if len(self.threads) == 3:
                third.set()

    blocking = Blocking()
    encoder = QueryEncoder(blocking, EncoderSettings(workers=2, threads=1, cache_size=0))
    release.set()
    encoder.embed("một mình")
    assert blocking.threads == [cores()]
    started.clear(), release.clear()
    first = encoder.submit("thứ nhất")
    assert started.wait(10)
    second = encoder.submit("thứ hai")  # the other worker takes it while the first is running
    assert third.wait(10)
    release.set()
    first.result(10), second.result(10)
    assert blocking.threads == [cores(), cores(), 1]
    encoder.close()


def test_cache_key_is_the_model_input() -> None:
    assert cache_key(" a\t b \n") == "a b"
    assert cache_key("hoa\u0300") == "hoà"  # NFC
    assert cache_key("Hoà") != cache_key("hoà")


def test_questions_one_at_a_time_stay_on_the_worker_that_finished_last() -> None:
    class Recording(FlakyEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.workers: list[str] = []

        def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
            self.workers.append(threading.current_thread().name)
            return super().embed_queries(texts)

    recording = Recording()
    encoder = QueryEncoder(recording, EncoderSettings(workers=3, cache_size=0))
    encoder.embed("khởi động")
    time.sleep(0.2)  # every worker has started and is waiting
    for text in TEXTS[:6]:
        encoder.embed(text)
    encoder.close()
    assert len(set(recording.workers[1:])) == 1  # its OpenMP threads are the ones still awake
