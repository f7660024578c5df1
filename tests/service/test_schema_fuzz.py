"""schemathesis against the app's own OpenAPI schema: every operation, with and without the
token, answers no 5xx and nothing its schema does not describe (status, content type, body).

Bounded in examples so the suite stays fast; raise VIQA_FUZZ_EXAMPLES for a longer run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from corpus.chunk import ChunkSettings
from index.build import update_index
from index.encoder import QueryEncoder
from index.live import LiveIndex
from service.api import create_app
from service.settings import Settings
from tests.conftest import KeywordEmbedder

TOKEN = "s3cret-token"
EXAMPLES = int(os.environ.get("VIQA_FUZZ_EXAMPLES", "25"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture
def api(small_corpus: Path, tmp_path: Path) -> Iterator[Any]:
    config = Settings(
        corpus_dir=small_corpus,
        index_dir=tmp_path / "index",
        chunk_max_tokens=40,
        admin_token=TOKEN,
        reload_interval=0,
        write_rate=0,  # the fuzzer writes faster than a person; the limit has its own test
        max_failed_tokens=0,
    )
    embedder, chunking = KeywordEmbedder(), ChunkSettings(max_tokens=40)
    update_index(config.corpus_dir, config.index_dir, embedder, chunking)
    app = create_app(config, LiveIndex(config.index_dir, QueryEncoder(embedder), chunking), writer_embedder=embedder)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _operations() -> list[tuple[str, str]]:
    """Return (path, method) of every operation of the app's schema (building it loads no index)."""
    paths = create_app(Settings(admin_token=TOKEN)).openapi()["paths"]
    return [(path, method.upper()) for path, operations in paths.items() for method in operations]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("token", [True, False], ids=["token", "no-token"])
@pytest.mark.parametrize(("path", "method"), _operations())
def test_no_server_error_nor_schema_violation(api: Any, path: str, method: str, token: bool, mode: Any) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    sent = 0

    @given(case=api[path][method].as_strategy(generation_mode=mode))
    @_SETTINGS
    def call(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        call()
    except Unsatisfiable:  # nothing of the operation's input can be invalid (no parameters, any string)
        assert mode == GenerationMode.NEGATIVE
        pytest.skip("the operation has no input that its schema refuses")
    label = f"{method} {path} {'token' if token else 'no token'} {mode.value}"
    print(f"\nschemathesis: {label}: {sent} cases")  # shown with -s: the counts quoted in closing notes
    assert sent > 0
