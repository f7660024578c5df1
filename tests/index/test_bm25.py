from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from index.bm25 import K1, B, Field, FieldScorer, idf, term_hashes

DOCS = [["đảng", "bộ", "đảng"], ["bộ", "khối"], ["trụ", "sở", "khối", "khối"]]


def _scorer(field: Field) -> FieldScorer:
    return FieldScorer.of(field, field.size, int(field.lengths.sum()))


def test_scores_follow_lucenes_bm25_by_hand() -> None:
    field = Field.build(DOCS)
    query = term_hashes(["đảng", "khối"])
    positions = field.positions(query)
    weights = idf(field.size, field.df(positions))
    average = 9 / 3

    def bm25(tf: int, length: int, df: int) -> float:
        return math.log(1 + (3 - df + 0.5) / (df + 0.5)) * tf / (tf + K1 * (1 - B + B * length / average))

    expected = [bm25(2, 3, 1), bm25(1, 2, 2), bm25(2, 4, 2)]
    assert _scorer(field).scores(positions, weights) == pytest.approx(expected, rel=1e-6)


def test_unknown_terms_score_nothing_and_lookups_equal_full_scores() -> None:
    field = Field.build(DOCS)
    positions = field.positions(term_hashes(["bộ", "không có", "khối", "bộ"]))
    assert positions[1] == -1 and field.df(positions).tolist() == [2, 0, 2, 2]
    weights = idf(field.size, field.df(positions))
    scorer = _scorer(field)
    full = scorer.scores(positions, weights)
    rows = np.array([2, 0])
    assert scorer.scores_of(positions, weights, rows).tolist() == full[rows].tolist()


def test_a_saved_field_loads_memory_mapped_and_scores_the_same(tmp_path: Path) -> None:
    field = Field.build(DOCS)
    files = field.save(tmp_path, "passages")
    assert all((tmp_path / f).exists() for f in files)
    loaded = Field.load(tmp_path, "passages")
    assert isinstance(loaded.rows.base, np.memmap)  # a view of the map: pages load when read
    positions = loaded.positions(term_hashes(["khối"]))
    weights = idf(loaded.size, loaded.df(positions))
    assert _scorer(loaded).scores(positions, weights).tolist() == _scorer(field).scores(positions, weights).tolist()


def test_collection_statistics_come_from_outside_the_segment() -> None:
    field = Field.build(DOCS)
    positions = field.positions(term_hashes(["khối"]))
    alone = _scorer(field).scores(positions, idf(3, field.df(positions)))
    # The same segment inside a collection ten times larger where the term is rare scores higher.
    larger = FieldScorer.of(field, 30, 90).scores(positions, idf(30, field.df(positions)))
    assert (larger[1:] > alone[1:]).all() and larger[0] == alone[0] == 0


def test_the_forward_index_holds_each_rows_postings_and_peaks_bound_every_contribution() -> None:
    rng = np.random.default_rng(3)
    documents = [[f"t{w}" for w in rng.integers(0, 40, rng.integers(1, 30))] for _ in range(200)]
    field = Field.build(documents)
    by_term = {
        (int(row), term): int(tf)
        for term in range(len(field.terms))
        for row, tf in zip(*(a[field.indptr[term] : field.indptr[term + 1]] for a in (field.rows, field.tf)))
    }
    by_row = {
        (row, int(term)): int(tf)
        for row in range(field.size)
        for term, tf in zip(
            *(
                a[field.forward_indptr[row] : field.forward_indptr[row + 1]]
                for a in (field.forward_terms, field.forward_tf)
            )
        )
    }
    assert by_row == by_term
    assert all(
        np.all(np.diff(field.forward_terms[a:b]) > 0) for a, b in zip(field.forward_indptr, field.forward_indptr[1:])
    )
    # A segment inside a collection whose passages are on average twice as long: its rows are
    # relatively shorter and score higher, and the scaled peak still bounds them.
    lengths = int(field.lengths.sum())
    for scorer in (FieldScorer.of(field, field.size, lengths), FieldScorer.of(field, field.size, 2 * lengths)):
        for term in range(len(field.terms)):
            rows, shares = scorer.postings(term, 1.0)
            assert shares.max() <= field.peak[term] * scorer.peak_scale
            assert shares.max() >= field.peak[term] * 0.99 or scorer.peak_scale > 1.5


def test_a_field_saved_without_its_derived_arrays_derives_them_when_loaded(tmp_path: Path) -> None:
    field = Field.build(DOCS)
    field.save(tmp_path, "passages")
    for name in ("peak", "forward_indptr", "forward_terms", "forward_tf"):  # as segments written before them
        (tmp_path / f"passages.{name}.npy").unlink()
    loaded = Field.load(tmp_path, "passages")
    for name in ("peak", "forward_indptr", "forward_terms", "forward_tf"):
        assert np.asarray(getattr(loaded, name)).tolist() == np.asarray(getattr(field, name)).tolist()
