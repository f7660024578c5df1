"""`viqa ask`: the passages that answer a question, as the API returns them, for a terminal or a pipe."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from functools import partial

from pydantic import ValidationError

from corpus.errors import InvalidQuery
from index.live import LiveIndex
from service.schemas import DEFAULT_TOP_K, first_error
from service.settings import Settings


def add_ask_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_index: Callable[[Settings], LiveIndex]
) -> None:
    """Add `viqa ask`, which searches the index `open_index` opens."""
    ask = commands.add_parser("ask", help="print the passages that answer a question")
    ask.add_argument("question", help='the question, e.g. "Đảng bộ Khối được thành lập ngày nào?"')
    ask.add_argument(
        "-k",
        "--top-k",
        type=int,
        default=DEFAULT_TOP_K,
        help=f"number of passages (default {DEFAULT_TOP_K}, as the API)",
    )
    ask.add_argument("--doc-id", action="append", dest="doc_ids", help="only this document (repeatable)")
    ask.add_argument("--from", dest="published_from", help="only documents published on or after YYYY-MM-DD")
    ask.add_argument("--to", dest="published_to", help="only documents published on or before YYYY-MM-DD")
    ask.add_argument("--json", action="store_true", help="print the HTTP API's JSON response instead of text")
    ask.set_defaults(command=partial(_ask, open_index=open_index))


def _ask(args: argparse.Namespace, settings: Settings, open_index: Callable[[Settings], LiveIndex]) -> int:
    try:
        return _print_answer(args, settings, open_index)
    except BrokenPipeError:  # `viqa ask ... | head` stopped reading: what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush fails silently too
        return 0


def _print_answer(args: argparse.Namespace, settings: Settings, open_index: Callable[[Settings], LiveIndex]) -> int:
    from service.api import run_search
    from service.schemas import search_request

    try:
        request = search_request(
            args.question,
            args.top_k,
            doc_ids=args.doc_ids,
            published_from=args.published_from,
            published_to=args.published_to,
        )
    except ValidationError as exc:
        raise InvalidQuery(first_error(exc)) from None
    response = run_search(open_index(settings), settings, request)
    if args.json:
        print(json.dumps(response.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return 0
    width = min(shutil.get_terminal_size().columns, 100)
    if response.rewritten_query:
        print(f"Searched as: {response.rewritten_query}")
    if not response.answerable:
        print(f"The documents may not answer this (confidence {response.confidence:.2f}); the closest passages:")
    else:
        print(f"Answerable (confidence {response.confidence:.2f}).")
    print()
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
