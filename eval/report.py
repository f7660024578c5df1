"""Eval results as a side-by-side Markdown table and a JSON record."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from eval.metrics import LABELS, METRICS
from eval.runner import SuiteResult


def format_table(suites: list[SuiteResult]) -> str:
    """Return the comparison as Markdown: metrics per category and configuration, then no-answer and latency."""
    header = "| category | config | n | " + " | ".join(LABELS[m] for m in METRICS) + " |"
    lines = [header, "|" + "---|" * (3 + len(METRICS))]
    categories = list(dict.fromkeys(c for s in suites for c in s.summary))
    for category in categories:
        for suite in suites:
            if category in suite.summary:
                values = " | ".join(f"{suite.summary[category][m]:.3f}" for m in METRICS)
                lines.append(f"| {category} | {suite.name} | {suite.counts[category]} | {values} |")
    lines += [
        "",
        "| config | unanswerable flagged | answerable wrongly flagged | best min_confidence (flagged / wrongly) "
        "| p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for suite in suites:
        flagged, wrong = suite.no_answer["unanswerable_flagged"], suite.no_answer["answerable_flagged"]
        best = "n/a"
        if "calibrated_min_confidence" in suite.no_answer:
            calibrated = ("min_confidence", "unanswerable_flagged", "answerable_flagged")
            threshold, recall, false_flags = (suite.no_answer[f"calibrated_{k}"] for k in calibrated)
            best = f"{threshold:.3f} ({recall:.3f} / {false_flags:.3f})"
        lines.append(
            f"| {suite.name} | {flagged:.3f} (n={suite.counts['unanswerable']}) | {wrong:.3f} | {best} "
            f"| {suite.latency_ms.get('p50', float('nan')):.1f} | {suite.latency_ms.get('p95', float('nan')):.1f} |"
        )
    return "\n".join(lines)


def write_reports(suites: list[SuiteResult], out_dir: Path, context: dict[str, Any]) -> tuple[Path, Path]:
    """Write `eval-<time>.json` and `.md` into `out_dir`; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    json_path, md_path = out_dir / f"eval-{stamp}.json", out_dir / f"eval-{stamp}.md"
    record = {"created_at": stamp, **context, "runs": [_suite_json(s) for s in suites]}
    json_path.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    context_lines = "\n".join(f"- {k}: {v}" for k, v in context.items())
    md_path.write_text(f"# viqa eval {stamp}\n\n{context_lines}\n\n{format_table(suites)}\n", encoding="utf-8")
    return json_path, md_path


def _suite_json(suite: SuiteResult) -> dict[str, Any]:
    return {
        "name": suite.name,
        "summary": suite.summary,
        "counts": suite.counts,
        "no_answer": suite.no_answer,
        "latency_ms": suite.latency_ms,
        "questions": [
            {
                "id": r.question.id,
                "category": r.question.category,
                "relevant": r.relevant,
                "answerable": r.answerable,
                "confidence": r.confidence,
                "ms": round(r.seconds * 1000, 2),
                "metrics": r.metrics,
            }
            for r in suite.results
        ],
    }
