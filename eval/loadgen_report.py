"""The JSON record and the Markdown table of a `viqa bench http` run."""

from __future__ import annotations

from typing import Any

from eval.bench_report import latency_json, machine_facts
from eval.loadgen import HttpBench, HttpLeg


def http_record(bench: HttpBench) -> dict[str, Any]:
    """Return the JSON report of a `bench http` run."""
    return {
        "kind": "http",
        "machine": machine_facts(),
        "url": bench.url,
        "health": bench.health,
        "server_pid": bench.server_pid,
        "top_k": bench.top_k,
        "duration_s": bench.duration,
        "warmup_s": bench.warmup,
        "questions_available": bench.questions,
        "legs": [_leg_json(leg) for leg in bench.legs],
    }


def _leg_json(leg: HttpLeg) -> dict[str, Any]:
    before, after = leg.server_before, leg.server_after
    return {
        "clients": leg.clients,
        "requests": leg.requests,
        "ok": leg.ok,
        "seconds": round(leg.seconds, 3),
        "qps": round(leg.qps, 2),
        **{k: v for k, v in latency_json(leg.latency).items() if k != "count"},
        "errors": leg.errors,
        "status_503": leg.status_503,
        "first_error": leg.first_error,
        "distinct_questions": leg.distinct_questions,
        "repeated_questions": leg.repeated_questions,
        "client_cpu_s": round(leg.client_cpu_s, 3),
        "client_cpu_share": round(leg.client_cpu_s / leg.seconds, 3) if leg.seconds > 0 else None,
        "server_rss_before_kib": before.rss_kib if before else None,
        "server_rss_after_kib": after.rss_kib if after else None,
        "server_hwm_kib": after.hwm_kib if after else None,
    }


def format_http_table(bench: HttpBench) -> str:
    """Return one Markdown row per leg: throughput, latency, failures, questions, client CPU, server memory."""
    lines = [
        "| clients | requests | qps | mean ms | p50 ms | p95 ms | p99 ms | max ms | errors | 503 "
        "| distinct q | repeats | client cpu s | server rss MiB (before / after / peak) |",
        "|" + "---|" * 14,
    ]
    for leg in bench.legs:
        row = _leg_json(leg)
        latency = " | ".join(_ms(row[k]) for k in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"))
        memory = " / ".join(_mib(row[k]) for k in ("server_rss_before_kib", "server_rss_after_kib", "server_hwm_kib"))
        lines.append(
            f"| {leg.clients} | {leg.requests} | {leg.qps:.1f} | {latency} | {leg.errors} | {leg.status_503} "
            f"| {leg.distinct_questions} | {leg.repeated_questions} | {leg.client_cpu_s:.2f} | {memory} |"
        )
    if any(leg.first_error for leg in bench.legs):
        lines += [
            "",
            *(f"first error at {leg.clients} clients: {leg.first_error}" for leg in bench.legs if leg.first_error),
        ]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f}"
