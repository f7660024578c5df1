"""`viqa eval`: score retrieval on the question set, in-process or against a running server."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from corpus.errors import InvalidQuery, RetrievalError
from eval.questions import DEFAULT_QUESTIONS, Question, load_questions, unmatched_answers
from index.live import LiveIndex
from index.search import MODES
from service.cli_progress import tell
from service.settings import Settings


def add_eval_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_index: Callable[[Settings], LiveIndex]
) -> None:
    """Add `viqa eval`, which opens in-process indexes with `open_index`."""
    evaluate = commands.add_parser("eval", help="score retrieval on the question set; print and save a report")
    evaluate.add_argument("--url", help="evaluate a running server (e.g. http://127.0.0.1:8000) instead of in-process")
    evaluate.add_argument(
        "--modes", default="hybrid", help="comma-separated retrieval modes to compare: hybrid,dense,bm25"
    )
    evaluate.add_argument("--embedders", help="comma-separated embedder specs to compare (default: VIQA_EMBEDDER)")
    evaluate.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="question set (JSONL)")
    evaluate.add_argument("--out", type=Path, help="report directory (VIQA_REPORTS_DIR; default ~/.cache/viqa/reports)")
    evaluate.set_defaults(command=partial(_eval, open_index=open_index))


def _eval(args: argparse.Namespace, settings: Settings, open_index: Callable[[Settings], LiveIndex]) -> int:
    from eval.report import format_table, write_reports
    from eval.runner import SuiteResult, http_backend, local_backend, run_suite

    questions = load_questions(args.questions)
    suites: list[SuiteResult] = []
    context: dict[str, Any] = {"questions": str(args.questions)}
    if args.url:
        url = args.url if "://" in args.url else f"http://{args.url}"  # "localhost:8000" means the usual thing
        with httpx.Client(base_url=url, timeout=30) as client:
            try:
                backend, documents = http_backend(client)
            except httpx.TransportError as exc:
                raise RetrievalError(
                    f"could not reach the service at {url} ({exc}); start it with `viqa serve`, "
                    "or drop --url to evaluate in-process"
                ) from None
            _warn_unmatched(questions, documents)
            suites.append(run_suite(url, questions, backend, documents))
            context |= {"url": url, "health": client.get("/health").json()}
    else:
        modes = _choices(args.modes, MODES, "--modes")
        embedders = args.embedders.split(",") if args.embedders else [settings.embedder]
        for spec in embedders:
            configured = _settings_for_embedder(settings, spec)
            live = open_index(configured)
            documents = {doc_id: d.text for doc_id, d in live.version.documents.items()}
            _warn_unmatched(questions, documents)
            manifest = live.version.manifest
            context[spec] = {"index_version": live.version.version, "corpus_fingerprint": manifest.corpus_fingerprint}
            for mode in modes:
                config = dataclasses.replace(configured.search_config(), mode=mode)
                name = mode if len(embedders) == 1 else f"{mode} / {spec}"
                suites.append(run_suite(name, questions, local_backend(live, config), documents))
                context[f"config {name}"] = dataclasses.asdict(config)
    print(format_table(suites))
    json_path, md_path = write_reports(suites, settings.reports_dir, context)
    print(f"\nreports: {json_path} {md_path}")
    return 0


def _choices(value: str, allowed: tuple[str, ...], flag: str) -> list[Any]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise InvalidQuery(f"{flag} {value!r}: choose from {', '.join(allowed)}")
    return chosen


def _settings_for_embedder(settings: Settings, spec: str) -> Settings:
    """Return settings for `spec`; an embedder other than the configured one gets a sibling index dir."""
    if spec == settings.embedder:
        return settings
    slug = re.sub(r"[^a-z0-9]+", "-", spec.lower()).strip("-")
    return settings.model_copy(update={"embedder": spec, "index_dir": settings.index_dir.with_name(f"index-{slug}")})


def _warn_unmatched(questions: list[Question], documents: dict[str, str]) -> None:
    for question_id, answer in unmatched_answers(questions, documents):
        tell(f"answer {answer!r} of {question_id} occurs in no document", logging.WARNING)
