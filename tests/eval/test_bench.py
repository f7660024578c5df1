"""`viqa bench`: summaries by hand, the load generator against real uvicorn servers, the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from corpus.errors import CorpusError, InvalidQuery
from corpus.normalize import fold_diacritics
from eval.bench_report import PACKAGES, percentile, summarize
from eval.loadgen import (
    QuestionCursor,
    Sample,
    check_loopback,
    parse_clients,
    run_http_bench,
    summarize_leg,
)
from eval.workload import document_queries, load_question_texts, mix_questions
from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from service.api import create_app
from service.cli import main
from service.settings import Settings
from tests.conftest import KeywordEmbedder, serving
from tests.service.conftest import SMALL

MACHINE_KEYS = {
    "logical_cpus",
    "sched_affinity",
    "cpu_model",
    "mem_total_mib",
    "kernel",
    "python",
    "versions",
    "omp_num_threads",
    "time",
}


def test_percentile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.95) == pytest.approx(8.8)  # rank 3.8: 4 + 0.8 * (10 - 4)
    assert percentile(values, 0.99) == pytest.approx(9.76)  # rank 3.96
    assert percentile(values, 1.0) == 10.0
    assert percentile([10.0, 20.0], 0.5) == 15.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_summarize_sorts_and_reports_in_milliseconds() -> None:
    summary = summarize([4.0, 1.0, 3.0, 2.0, 10.0])
    assert (summary.count, summary.mean_ms, summary.p50_ms, summary.max_ms) == (5, 4.0, 3.0, 10.0)
    assert summary.p95_ms == pytest.approx(8.8) and summary.p99_ms == pytest.approx(9.76)


def test_leg_counts_503_apart_from_errors() -> None:
    samples = [
        Sample("a", 200, 0.010, False, None),
        Sample("b", 200, 0.030, False, None),
        Sample("c", 503, 0.001, False, None),
        Sample("a", 500, 0.002, True, "HTTP 500: boom"),
        Sample("b", None, 0.003, True, "ConnectionResetError: reset"),
    ]
    leg = summarize_leg(4, samples, seconds=2.0, client_cpu=0.1)
    assert (leg.requests, leg.ok, leg.errors, leg.status_503) == (5, 2, 2, 1)
    assert leg.qps == 1.0  # 2xx answers per second
    assert leg.latency is not None and leg.latency.mean_ms == pytest.approx(20.0) and leg.latency.max_ms == 30.0
    assert (leg.distinct_questions, leg.repeated_questions) == (3, 2)
    assert leg.first_error == "HTTP 500: boom"
    assert summarize_leg(1, [Sample("c", 503, 0.001, False, None)], 1.0, 0.0).latency is None


def test_cursor_repeats_only_after_every_question_was_sent() -> None:
    cursor = QuestionCursor(["a", "b", "c"])
    taken = [cursor.take() for _ in range(5)]
    assert taken == [("a", False), ("b", False), ("c", False), ("a", True), ("b", True)]


def test_questions_come_from_jsonl_or_plain_lines(tmp_path: Path) -> None:
    path = tmp_path / "questions.txt"
    rows = ['{"id": "q1", "question": "Đảng bộ Khối thành lập năm nào?"}', "", "Trụ sở ở đâu?", "Trụ sở ở đâu?"]
    path.write_text("\n".join(rows), encoding="utf-8")
    assert load_question_texts(path) == ["Đảng bộ Khối thành lập năm nào?", "Trụ sở ở đâu?"]
    path.write_text('{"id": "q1"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=":1: not a JSON object"):
        load_question_texts(path)
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no questions"):
        load_question_texts(path)


def test_questions_mix_sentence_windows_and_folded_forms() -> None:
    text = (
        "Đảng bộ Khối các cơ quan thành phố được thành lập ngày 27-01-1994, là Đảng bộ cấp trên cơ sở.\n"
        "I. Trụ sở mới\nNgắn quá."
    )
    windows = document_queries(text)
    assert windows == [
        "Đảng bộ Khối các cơ quan thành phố được thành lập ngày",  # opening
        "được thành lập ngày 27-01-1994, là Đảng bộ cấp trên cơ sở.",  # closing
        "cơ quan thành phố được thành lập ngày 27-01-1994, là Đảng bộ",  # middle
        "Trụ sở mới",
    ]
    mixed = mix_questions(["Trụ sở mới", "Tru so moi", "Đại hội họp khi nào?"], [text])
    expected = {*windows, *(fold_diacritics(w) for w in windows)}
    assert set(mixed) == expected | {"Đại hội họp khi nào?", "Dai hoi hop khi nao?"}
    assert len(mixed) == len(set(mixed))
    assert mix_questions(["Trụ sở mới", "Đại hội họp khi nào?"], [text]) == mix_questions(
        ["Trụ sở mới", "Đại hội họp khi nào?"], [text]
    )  # a fixed seed: every run sends the same order


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.3.2.1:9/", "http://[::1]:8000", "http://localhost:8000/api"]
)
def test_loopback_urls_are_accepted(url: str) -> None:
    assert check_loopback(url).port in (8000, 9)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8000", "http://example.com:8000", "http://0.0.0.0:8000", "https://127.0.0.1:8000"]
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidQuery):
        check_loopback(url)


def test_cli_refuses_a_remote_server_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "http", "--url", "http://192.0.2.7:8000", "-d", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("viqa: error:") and err.count("\n") == 1 and "loopback" in err


def test_client_levels_are_positive_integers() -> None:
    assert parse_clients("1,8,32") == [1, 8, 32]
    for bad in ("", "0,4", "a,2"):
        with pytest.raises(InvalidQuery):
            parse_clients(bad)


@pytest.fixture
def viqa_server(small_corpus: Path, tmp_path: Path) -> Iterator[str]:
    """The real app over the small corpus with the keyword embedder (no model loads)."""
    settings = Settings(corpus_dir=small_corpus, index_dir=tmp_path / "index", chunk_max_tokens=40)
    embedder = KeywordEmbedder()
    update_index(settings.corpus_dir, settings.index_dir, embedder, SMALL)
    live = LiveIndex(settings.index_dir, QueryEncoder(embedder), SMALL)
    with serving(create_app(settings, live)) as url:
        yield url


def test_bench_http_loads_a_real_server_and_writes_reports(
    viqa_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, copy = tmp_path / "reports", tmp_path / "copy.json"
    args = ["-c", "1,4", "-d", "1", "--warmup", "0.2", "--out", str(out), "--json", str(copy)]
    code = main(["bench", "http", "--url", viqa_server, *args])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "| clients | requests | qps |" in stdout and "reports:" in stdout
    [json_path] = out.glob("bench-http-*.json")
    [md_path] = out.glob("bench-http-*.md")
    record = json.loads(json_path.read_text(encoding="utf-8"))
    assert json.loads(copy.read_text(encoding="utf-8")) == record
    assert record["kind"] == "http" and set(record["machine"]) == MACHINE_KEYS
    assert set(record["machine"]["versions"]) == set(PACKAGES)
    assert record["health"]["documents"] == 2
    assert record["questions_available"] > 200  # eval questions, sentence openings, folded forms
    assert record["server_pid"] == os.getpid()  # the server runs in this process's thread
    assert [leg["clients"] for leg in record["legs"]] == [1, 4]
    for leg in record["legs"]:
        assert leg["requests"] > 0 and leg["ok"] == leg["requests"]
        assert leg["errors"] == 0 and leg["status_503"] == 0 and leg["first_error"] is None
        assert leg["requests"] - leg["repeated_questions"] <= leg["distinct_questions"] <= leg["requests"]
        assert leg["p50_ms"] is not None and leg["server_rss_after_kib"] is not None
    md = md_path.read_text(encoding="utf-8")
    assert "## Machine" in md and "- logical_cpus:" in md and "| clients |" in md


async def _busy_search(request: Request) -> JSONResponse:
    query = (await request.json())["query"]
    if query.startswith("busy"):
        return JSONResponse({"error": "overloaded", "detail": "retry"}, status_code=503)
    return JSONResponse({"error": "internal_error", "detail": "boom"}, status_code=500)


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def test_503_answers_are_counted_apart_from_errors(tmp_path: Path) -> None:
    app = Starlette(routes=[Route("/search", _busy_search, methods=["POST"]), Route("/health", _health)])
    questions = tmp_path / "questions.txt"
    questions.write_text("busy 1\nbusy 2\nbroken\n", encoding="utf-8")
    with serving(app) as url:
        bench = run_http_bench(url, [2], duration=0.5, warmup=0.1, questions_file=questions)
    [leg] = bench.legs
    assert bench.health == {"status": "ok"}
    assert leg.status_503 > 0 and leg.errors > 0 and leg.status_503 + leg.errors == leg.requests
    assert leg.ok == 0 and leg.latency is None and leg.qps == 0.0
    assert leg.first_error is not None and leg.first_error.startswith("HTTP 500")


def test_bench_query_cli_times_embedding_and_search(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("service.cli.load_embedder", lambda spec: KeywordEmbedder())
    questions = tmp_path / "questions.txt"
    questions.write_text("Đảng bộ Khối thành lập ngày nào?\ntru so chuyen ve dau\nĐại hội họp khi nào?\n", "utf-8")
    out, copy = tmp_path / "reports", tmp_path / "query.json"
    dirs = ["--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index")]
    args = ["--questions", str(questions), "-n", "2", "--out", str(out), "--json", str(copy)]
    code = main([*dirs, "bench", "query", *args])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "| bare embedding | 2 |" in stdout and "| full search | 2 |" in stdout and "reports:" in stdout
    [json_path] = out.glob("bench-query-*.json")
    assert list(out.glob("bench-query-*.md"))
    record = json.loads(json_path.read_text(encoding="utf-8"))
    assert json.loads(copy.read_text(encoding="utf-8")) == record
    assert record["kind"] == "query" and set(record["machine"]) == MACHINE_KEYS
    assert record["embedder"] == "keyword-test" and record["index_version"]
    for step in ("embedding", "search"):
        assert set(record[step]) == {"count", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms", "per_second"}
        assert record[step]["count"] == 2
    assert record["search_over_embedding_p50"] > 0
    assert record["embedding_workers"] >= 1 and record["workers_per_second"] > 0
    assert record["workers_over_single_search"] > 0


def test_bench_query_times_the_http_workload_by_default(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("service.cli.load_embedder", lambda spec: KeywordEmbedder())
    out = tmp_path / "reports"
    dirs = ["--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index")]
    assert main([*dirs, "bench", "query", "-n", "3", "--out", str(out)]) == 0, capsys.readouterr().err
    [json_path] = out.glob("bench-query-*.json")
    record = json.loads(json_path.read_text(encoding="utf-8"))
    assert "windows of the documents' sentences" in record["questions"] and record["search"]["count"] == 3
