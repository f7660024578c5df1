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


@pytest.fixture
def client(small_settings: Settings) -> Iterator[TestClient]:
    """The real app over a small corpus, with the keyword embedder."""
    embedder = KeywordEmbedder()
    update_index(small_settings.corpus_dir, small_settings.index_dir, embedder, SMALL)
    live = LiveIndex(small_settings.index_dir, QueryEncoder(embedder), SMALL)
    with TestClient(create_app(small_settings, live)) as test_client:
        yield test_client
