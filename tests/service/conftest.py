from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corpus.chunk import ChunkSettings
from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from service.api import create_app
from service.settings import Settings
from tests.conftest import KeywordEmbedder

SMALL = ChunkSettings(max_tokens=40, overlap_sentences=1)


@pytest.fixture
def small_settings(small_corpus: Path, tmp_path: Path) -> Settings:
    return Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", chunk_max_tokens=40)


@pytest.fixture(params=["faiss", "milvus"])
def client(request: pytest.FixtureRequest, small_settings: Settings) -> Iterator[TestClient]:
    """The real app over a small corpus, with the keyword embedder, on each backend (Milvus: Milvus Lite)."""
    if request.param == "milvus":
        pytest.importorskip("milvus_lite")
    settings = small_settings.model_copy(update={"backend": request.param})
    embedder = KeywordEmbedder()
    update_index(settings.corpus_dir, settings.index_dir, embedder, SMALL, milvus=settings.milvus_settings())
    live = LiveIndex(settings.index_dir, QueryEncoder(embedder), SMALL, engine=settings.engine())
    with TestClient(create_app(settings, live)) as test_client:
        yield test_client


TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRITE_CHUNKS = ChunkSettings(max_tokens=40)  # the default overlap, as the app's settings have


def writer_client(settings: Settings) -> TestClient:
    """The app with writes enabled over `settings`, its index built first."""
    embedder = KeywordEmbedder()
    update_index(settings.corpus_dir, settings.index_dir, embedder, WRITE_CHUNKS, milvus=settings.milvus_settings())
    live = LiveIndex(settings.index_dir, QueryEncoder(embedder), WRITE_CHUNKS, engine=settings.engine())
    return TestClient(create_app(settings, live, writer_embedder=embedder))


@pytest.fixture(params=["faiss", "milvus"])
def admin(request: pytest.FixtureRequest, small_corpus: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The app with writes enabled, on each backend (Milvus: Milvus Lite in the index directory)."""
    if request.param == "milvus":
        pytest.importorskip("milvus_lite")
    settings = Settings(
        corpus_dir=small_corpus,
        index_dir=tmp_path / "index",
        chunk_max_tokens=40,
        admin_token=TOKEN,
        reload_interval=0.1,
        backend=request.param,
    )
    with writer_client(settings) as client:
        yield client
