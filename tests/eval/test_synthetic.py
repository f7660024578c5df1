from __future__ import annotations

import numpy as np

from eval.synthetic import documents, generate, make_pool, text_index
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
