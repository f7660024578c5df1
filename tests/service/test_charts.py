"""The evaluation page's SVG charts, from a small report built here (no service, no index)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from service.web.charts import abstention_tradeoff, category_bars, configurations_side_by_side

NS = {"svg": "http://www.w3.org/2000/svg"}
METRICS = ("hit_rate@1", "hit_rate@3", "hit_rate@5", "hit_rate@10", "mrr@10", "ndcg@10")


def _metrics(*values: float) -> dict[str, float]:
    return dict(zip(METRICS, values))


def _question(qid: str, category: str, confidence: float, scored: bool, said: bool | None = None) -> dict[str, Any]:
    """One question as eval/report.py writes it; `said` is the service's verdict, which may be wrong."""
    return {
        "id": qid,
        "category": category,
        "relevant": [True] if scored else [],
        "answerable": scored if said is None else said,
        "confidence": confidence,
        "ms": 10.0,
        "metrics": _metrics(1.0, 1.0, 1.0, 1.0, 1.0, 1.0) if scored else {},
    }


def _report() -> dict[str, Any]:
    hybrid = {
        "name": "hybrid",
        "summary": {
            "dates": _metrics(0.5, 0.75, 1.0, 1.0, 0.7, 0.6),
            "overall": _metrics(0.6, 0.8, 0.9, 1.0, 0.72, 0.65),
            "<script>": _metrics(0.25, 0.5, 0.5, 0.5, 0.4, 0.3),
            "broken": None,  # a hand-edited report: skipped, not a crash
            "partial": {"hit_rate@1": float("nan"), "hit_rate@5": 0.4},
        },
        "counts": {"overall": 7, "dates": 2, "<script>": 3, "unanswerable": 3},
        "no_answer": {
            "unanswerable_flagged": 0.667,
            "answerable_flagged": 0.25,
            "calibrated_min_confidence": 0.35,
            "calibrated_unanswerable_flagged": 2 / 3,
            "calibrated_answerable_flagged": 0.25,
        },
        "latency_ms": {"p50": 12.0, "p95": 30.0},
        "questions": [
            _question("q-a1", "dates", 0.2, True, said=False),  # wrongly flagged by the service
            _question("q-a2", "dates", 0.7, True),
            _question("q-a3", "<script>", 0.8, True),
            _question("q-a4", "<script>", 0.9, True),
            _question("q-u1", "unanswerable", 0.1, False),
            _question("q-u2", "unanswerable", 0.3, False),
            _question("q-u3", "unanswerable", 0.6, False),
            {"id": "q-none", "category": "dates", "confidence": None, "metrics": {}},  # no confidence: left out
        ],
    }
    bm25 = {
        "name": "bm25",
        "summary": {"overall": _metrics(0.4, 0.5, 0.6, 0.7, 0.5, 0.45)},
        "counts": {"overall": 7},
        "no_answer": {"unanswerable_flagged": 0.0, "answerable_flagged": 0.0},
        "latency_ms": {"p50": 2.0, "p95": 5.0},
    }
    return {"created_at": "20260101T000000", "runs": [hybrid, bm25]}


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img" and root.get("width") == "100%"
    title, desc = root.find("svg:title", NS), root.find("svg:desc", NS)
    assert title is not None and title.text and desc is not None and desc.text
    assert (root.get("aria-labelledby") or "").split() == [title.get("id"), desc.get("id")]
    # Text stays ≥ 12 px when the chart is shown 360 px wide.
    width = float((root.get("viewBox") or "").split()[2])
    sizes = [float(e.get("font-size") or 0) for e in root.iter() if e.get("font-size")]
    assert sizes and min(sizes) * 360 / width >= 12
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def _bars(root: ET.Element) -> dict[tuple[str, str], float]:
    return {
        (r.get("data-group") or "", r.get("data-series") or ""): float(r.get("width") or "nan")
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if r.get("class") == "bar"
    }


def _contrast(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_category_bars_draw_a_bar_per_category_and_series_in_report_order() -> None:
    root = _parse(category_bars(_report()["runs"][0]))
    bars = _bars(root)
    assert list(bars) == [
        ("overall (n=7)", "hit@1"),
        ("overall (n=7)", "hit@5"),
        ("dates (n=2)", "hit@1"),
        ("dates (n=2)", "hit@5"),
        ("<script> (n=3)", "hit@1"),
        ("<script> (n=3)", "hit@5"),
        ("partial", "hit@5"),  # NaN hit@1 and the null category are skipped
    ]
    full = bars[("dates (n=2)", "hit@5")]  # hit@5 = 1.0
    assert full > 100
    assert bars[("dates (n=2)", "hit@1")] == pytest.approx(full * 0.5, abs=0.01)
    assert bars[("<script> (n=3)", "hit@1")] == pytest.approx(full * 0.25, abs=0.01)
    texts = _texts(root)
    for number in ("0.600", "0.900", "0.500", "1.000", "0.250", "0.400"):
        assert number in texts
    assert {"hit@1", "hit@5"} <= set(texts)  # legend and row labels: readable without colour


def test_report_text_is_escaped() -> None:
    svg = category_bars(_report()["runs"][0])
    assert "<script>" not in svg and "&lt;script&gt; (n=3)" in svg
    assert "<script> (n=3)" in _texts(_parse(svg))
    run = dict(_report()["runs"][1], name='<img src=x onerror="1">')
    svg = configurations_side_by_side([run]) + abstention_tradeoff(run)
    assert "<img" not in svg and "&lt;img src=x onerror=&quot;1&quot;&gt;" in svg


def test_configurations_side_by_side_has_one_bar_per_metric_and_configuration() -> None:
    runs = [*_report()["runs"], {"name": "empty", "summary": {}}]
    root = _parse(configurations_side_by_side(runs))
    bars = _bars(root)
    metrics = ("hit@1", "hit@5", "MRR@10", "nDCG@10")
    assert list(bars) == [(m, name) for m in metrics for name in ("hybrid", "bm25")]
    assert bars[("hit@5", "bm25")] == pytest.approx(bars[("hit@5", "hybrid")] * 0.6 / 0.9, abs=0.01)
    texts = _texts(root)
    assert {"0.600", "0.400", "0.720", "0.450"} <= set(texts)
    assert {"hybrid", "bm25"} <= set(texts) and "empty" not in texts


def test_bar_colours_contrast_with_white() -> None:
    svg = category_bars(_report()["runs"][0]) + configurations_side_by_side(_report()["runs"])
    colours = set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))
    assert len(colours) >= 3
    assert all(_contrast(c) >= 4.5 for c in colours)


def _series(root: ET.Element) -> dict[str, list[tuple[float, float]]]:
    lines = {}
    for line in root.iter("{http://www.w3.org/2000/svg}polyline"):
        pairs = [p.split(",") for p in (line.get("points") or "").split()]
        lines[line.get("data-series") or ""] = [(float(x), float(y)) for x, y in pairs]
    return lines


def test_tradeoff_lines_only_rise_with_the_threshold_and_mark_the_calibration() -> None:
    root = _parse(abstention_tradeoff(_report()["runs"][0]))
    lines = _series(root)
    assert set(lines) == {"unanswerable", "answerable"}
    for points in lines.values():
        xs, ys = [x for x, _ in points], [y for _, y in points]
        assert xs == sorted(xs)
        assert ys == sorted(ys, reverse=True)  # SVG y grows downwards: the flagged share never falls
        assert ys[0] > ys[-1]  # from nobody flagged to everybody flagged
    # 3 steps up for the 3 unanswerable questions, 4 for the 4 answerable ones.
    assert len({y for _, y in lines["unanswerable"]}) == 4 and len({y for _, y in lines["answerable"]}) == 5
    marker = [e for e in root.iter() if e.get("class") == "calibrated"]
    assert len(marker) == 1 and float(marker[0].get("data-threshold") or "nan") == pytest.approx(0.35)
    texts = _texts(root)
    assert "hiệu chỉnh 0.350" in texts
    assert {"0.667", "0.250", "tỉ lệ", "ngưỡng min_confidence"} <= set(texts)
    # Truth comes from "metrics", not from the service's "answerable" verdict (wrong for q-a1).
    assert {"câu không trả lời được bị gắn cờ (n=3)", "câu trả lời được bị gắn cờ nhầm (n=4)"} <= set(texts)


@pytest.mark.parametrize(
    ("questions", "expected"),
    [(None, "không có dữ liệu theo từng câu hỏi"), ([], "không có câu hỏi nào")],
)
def test_tradeoff_without_per_question_data_says_so(questions: list[Any] | None, expected: str) -> None:
    run = dict(_report()["runs"][1])
    if questions is not None:
        run["questions"] = questions
    root = _parse(abstention_tradeoff(run))
    assert not _series(root)
    assert any(expected in t.lower() for t in _texts(root))


def test_charts_of_a_run_without_any_numbers_still_render() -> None:
    for svg in (category_bars({}), configurations_side_by_side([]), abstention_tradeoff({"questions": [{}]})):
        root = _parse(svg)
        assert not _bars(root) and not _series(root)
        assert _texts(root)  # a sentence saying there is nothing to show
