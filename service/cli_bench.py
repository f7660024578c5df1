"""`viqa bench query|http`: time searches in this process or load a running server; print and save reports."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from corpus.errors import RetrievalError
from eval.questions import DEFAULT_QUESTIONS
from index.live import LiveIndex
from service.settings import Settings


def add_bench_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_index: Callable[[Settings], LiveIndex]
) -> None:
    """Add `viqa bench query` and `viqa bench http`; the first opens the index with `open_index`."""
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
    query.set_defaults(command=partial(_bench_query, open_index=open_index))

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

    scale = kinds.add_parser(
        "scale", help="build an index of N synthetic passages from the served index's sentences and measure it"
    )
    scale.add_argument("--chunks", type=int, required=True, help="passages in the synthetic collection")
    scale.add_argument("--searches", type=int, default=500, help="searches timed (default 500)")
    scale.add_argument(
        "--recall-queries", type=int, default=200, help="questions whose top 10 is checked against exhaustive scoring"
    )
    scale.add_argument(
        "--searches-during-add",
        type=int,
        default=100,
        help="add and remove the document again (at most 20 times) until this many searches ran during the adds "
        "(default 100)",
    )
    scale.add_argument("--workdir", type=Path, help="where the temporary index is built (default: the system's temp)")
    scale.add_argument("--seed", type=int, default=0, help="random seed of the collection (default 0)")
    scale.add_argument(
        "--backend", choices=("faiss", "milvus"), help="candidate stage to measure (default: VIQA_BACKEND)"
    )
    scale.add_argument("--questions", type=Path, help=f"{questions_help} (default: the eval questions)")
    scale.add_argument("--out", type=Path, help=report_help)
    scale.add_argument("--json", dest="json_path", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    scale.set_defaults(command=partial(_bench_scale, open_index=open_index))


def _bench_query(args: argparse.Namespace, settings: Settings, open_index: Callable[[Settings], LiveIndex]) -> int:
    from eval.bench import format_query_table, query_record, run_query_bench
    from eval.bench_report import write_bench_reports
    from eval.workload import load_question_texts, mix_questions

    live = open_index(settings)
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
    from eval.bench_report import write_bench_reports
    from eval.loadgen import parse_clients, run_http_bench
    from eval.loadgen_report import format_http_table, http_record

    bench = run_http_bench(
        args.url, parse_clients(args.clients), args.duration, args.warmup, args.top_k, args.questions
    )
    table = format_http_table(bench)
    print(table)
    paths = write_bench_reports(http_record(bench), table, settings.reports_dir, args.json_path)
    print(f"\nreports: {' '.join(map(str, paths))}")
    return 0


def _bench_scale(args: argparse.Namespace, settings: Settings, open_index: Callable[[Settings], LiveIndex]) -> int:
    from eval.bench_report import write_bench_reports
    from eval.scale import format_scale_table, run_scale_bench
    from eval.workload import load_question_texts

    if args.chunks < 1:
        raise RetrievalError("--chunks must be at least 1")
    live = open_index(settings)
    questions = load_question_texts(args.questions or DEFAULT_QUESTIONS)
    record = run_scale_bench(
        live.version,
        live.encoder.embedder,
        settings.embedder,
        questions,
        args.chunks,
        dense=settings.dense_settings(),
        config=settings.search_config(),
        searches=args.searches,
        recall_queries=args.recall_queries,
        searches_during_add=args.searches_during_add,
        workdir=args.workdir,
        seed=args.seed,
        backend=args.backend or settings.backend,
    )
    table = format_scale_table(record)
    print(table)
    paths = write_bench_reports(record, table, settings.reports_dir, args.json_path)
    print(f"reports: {paths[0]} {paths[1]}")
    return 0
