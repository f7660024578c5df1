"""kill -9 at every step of a write: after recovery the corpus and the index hold the old
document or the new one, whole, with no debris, and a retry with the same key is not applied twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from corpus.chunk import ChunkSettings
from corpus.documents import DocumentMeta, stored_content
from index.build import update_index
from index.check import differences
from index.encoder import QueryEncoder
from index.journal import CRASH_AT, Content, Intent, begin, finish, pending, replayed, request_hash
from index.live import LiveIndex
from index.store import current_version, load_version
from index.writer import add_document, recover, remove_document
from tests.conftest import THIRD, KeywordEmbedder

SETTINGS = ChunkSettings(max_tokens=40, overlap_sentences=1)
NEW_TEXT = "Nội dung thay thế: trụ sở mới của Đảng bộ Khối đặt tại số 9 đường Lê Lợi."
STEPS = ["before-journal", "journaled", "mid-corpus", "corpus-written", "mid-version", "published", "finished"]
KEY = "retry-me-1"

_WRITE = (
    textwrap.dedent(
        """
    import datetime as dt, sys
    from pathlib import Path
    from corpus.chunk import ChunkSettings
    from corpus.documents import DocumentMeta
    from index.writer import add_document, remove_document
    from tests.conftest import KeywordEmbedder

    corpus_dir, index_dir, operation, key = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    args = (corpus_dir, index_dir, KeywordEmbedder(), ChunkSettings(max_tokens=40, overlap_sentences=1))
    if operation == "remove":
        remove_document(*args, "thanh-lap", key=key)
    else:
        replace = operation == "replace"
        doc_id, title, published, text = {THIRD} if not replace else ("thanh-lap", "Trụ sở mới", "2024-02-02", {NEW!r})
        meta = DocumentMeta(doc_id, title, dt.date.fromisoformat(published))
        add_document(*args, meta, text, replace=replace, key=key)
    """
    )
    .replace("{THIRD}", repr(THIRD))
    .replace("{NEW!r}", repr(NEW_TEXT))
)


def _write_in_child(corpus_dir: Path, index_dir: Path, operation: str, crash_at: str) -> int:
    return subprocess.run(
        [sys.executable, "-c", _WRITE, str(corpus_dir), str(index_dir), operation, KEY],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, CRASH_AT: crash_at},
        timeout=120,
    ).returncode


def _retry(corpus_dir: Path, index_dir: Path, operation: str) -> str:
    embedder = KeywordEmbedder()
    if operation == "remove":
        return remove_document(corpus_dir, index_dir, embedder, SETTINGS, "thanh-lap", key=KEY).outcome
    replace = operation == "replace"
    doc_id, title, published, text = ("thanh-lap", "Trụ sở mới", "2024-02-02", NEW_TEXT) if replace else THIRD
    meta = DocumentMeta(doc_id, title, dt.date.fromisoformat(published))
    return add_document(corpus_dir, index_dir, embedder, SETTINGS, meta, text, replace=replace, key=KEY).outcome


def _debris(corpus_dir: Path, index_dir: Path) -> list[str]:
    left = [p.name for p in corpus_dir.iterdir() if p.name.startswith(".")]
    left += [p.name for p in index_dir.glob(".CURRENT.*")]
    left += [p.name for folder in ("versions", "segments") for p in (index_dir / folder).glob(".tmp-*")]
    return left + [p.name for p in (index_dir / "journal").rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("operation", ["add", "replace", "remove"])
@pytest.mark.parametrize("step", STEPS)
def test_a_write_killed_at_any_step_ends_old_or_new_after_recovery(
    small_corpus: Path, tmp_path: Path, operation: str, step: str
) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    doc_id = THIRD[0] if operation == "add" else "thanh-lap"
    old = stored_content(small_corpus, doc_id)
    old_version = current_version(index_dir)

    assert _write_in_child(small_corpus, index_dir, operation, step) == -signal.SIGKILL

    notes = recover(small_corpus, index_dir, embedder, SETTINGS)
    assert differences(small_corpus, index_dir) == [], notes
    assert _debris(small_corpus, index_dir) == [] and pending(index_dir) is None
    now = stored_content(small_corpus, doc_id)
    if step == "before-journal":  # nothing was recorded: nothing happened
        assert now == old and current_version(index_dir) == old_version
    else:  # the intent was durable: the write is finished, whole
        expected = {"add": THIRD[3], "replace": NEW_TEXT, "remove": None}[operation]
        assert (now[1] if now else None) == expected
        if operation == "replace":
            assert now is not None and now[0]["title"] == "Trụ sở mới"  # no new title over the old text
    served = LiveIndex(index_dir, QueryEncoder(embedder), SETTINGS).version
    assert (doc_id in served.documents) == (now is not None)

    # The client, who never got an answer, retries: the write is not applied twice.
    outcome = _retry(small_corpus, index_dir, operation)
    assert outcome == ("applied" if step == "before-journal" else "replayed")
    assert sorted(p.stem for p in small_corpus.glob("*.txt")) == sorted(load_version(index_dir).documents)
    assert differences(small_corpus, index_dir) == []


def test_an_interrupted_write_that_cannot_be_finished_is_rolled_back(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    old = stored_content(small_corpus, "thanh-lap")
    assert old is not None
    # A replace whose new metadata the chunker refuses (recorded by an older, laxer version, say).
    broken = Content({"title": "", "published": "2024-02-02"}, NEW_TEXT)
    begin(index_dir, Intent("replace", "thanh-lap", broken, Content(*old), None, request_hash("x")))
    (small_corpus / "thanh-lap.json").write_text(json.dumps(broken.meta), encoding="utf-8")  # it got this far

    notes = recover(small_corpus, index_dir, embedder, SETTINGS)
    assert any("rolled back" in note for note in notes)
    assert stored_content(small_corpus, "thanh-lap") == old and differences(small_corpus, index_dir) == []


def test_a_key_reused_for_another_request_is_refused(small_corpus: Path, tmp_path: Path) -> None:
    index_dir, embedder = tmp_path / "index", KeywordEmbedder()
    update_index(small_corpus, index_dir, embedder, SETTINGS)
    meta = DocumentMeta("cong-doan", THIRD[1], dt.date(2004, 5, 19))
    first = add_document(small_corpus, index_dir, embedder, SETTINGS, meta, THIRD[3], key="k")
    again = add_document(small_corpus, index_dir, embedder, SETTINGS, meta, THIRD[3], key="k")
    assert (first.outcome, again.outcome) == ("applied", "replayed") and again.report == first.report
    other = dataclasses.replace(meta, doc_id="khac")
    with pytest.raises(Exception, match="Idempotency-Key was used for another request"):
        add_document(small_corpus, index_dir, embedder, SETTINGS, other, THIRD[3], key="k")
    assert not (small_corpus / "khac.txt").exists()


def test_results_are_kept_for_retries_a_day(tmp_path: Path) -> None:
    from index.journal import forget_old_results

    intent = Intent("remove", "a", None, None, "k", request_hash("remove", "a"))
    begin(tmp_path, intent)
    finish(tmp_path, intent, {"doc_id": "a"})
    forget_old_results(tmp_path)
    assert replayed(tmp_path, "k", intent.request) == {"doc_id": "a"}
    forget_old_results(tmp_path, now=2e10)
    assert replayed(tmp_path, "k", intent.request) is None
