"""A `viqa eval` report (eval/report.py's JSON) as inline SVG charts drawn on the server.

The service runs offline: no chart library, no CDN. Every string from the report is escaped."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from html import escape
from typing import Any

# 16-unit text in a 480-unit viewBox is still 12 px when a phone shows the chart 360 px wide.
WIDTH = 480
FONT = 16
PAD = 12
BAR_H = 20
# Each at least 5:1 against white (WCAG AA asks 4.5:1 of text, 3:1 of graphics), so the colours also serve as text.
PALETTE = ("#1f5f99", "#b34700", "#2e7d32", "#7b3fa0", "#b0003a", "#4a4a4a")
INK = "#1a1a1a"
GRID = "#c8c8c8"  # decoration only: every value is also printed
FONTS = "system-ui, 'Segoe UI', Roboto, 'Noto Sans', sans-serif"
OVERALL = "overall"
CATEGORY_SERIES = (("hit_rate@1", "hit@1"), ("hit_rate@5", "hit@5"))
SIDE_BY_SIDE = (("hit_rate@1", "hit@1"), ("hit_rate@5", "hit@5"), ("mrr@10", "MRR@10"), ("ndcg@10", "nDCG@10"))
FLAGGED = "câu không trả lời được bị gắn cờ"
WRONGLY = "câu trả lời được bị gắn cờ nhầm"

Row = tuple[str, float, str]  # label, value in 0..1, colour


def category_bars(run: dict[str, Any]) -> str:
    """Grouped horizontal bars: per category, hit@1 and hit@5 of one configuration (values 0..1, labelled)."""
    name = str(run.get("name", "?"))
    summary, counts = _dict(run.get("summary")), _dict(run.get("counts"))
    groups: list[tuple[str, list[Row]]] = []
    for category in sorted(summary, key=lambda c: c != OVERALL):  # stable: report order, overall first
        metrics = summary[category]
        rows = [
            (label, value, PALETTE[i])
            for i, (key, label) in enumerate(CATEGORY_SERIES)
            if isinstance(metrics, dict) and (value := _num(metrics.get(key))) is not None
        ]
        if rows:
            n = counts.get(category)
            groups.append((f"{category} (n={n})" if isinstance(n, int) else str(category), rows))
    legend = [(label, PALETTE[i]) for i, (_, label) in enumerate(CATEGORY_SERIES)]
    title = f"Tỉ lệ trúng hit@1 và hit@5 theo nhóm câu hỏi — {name}"
    desc = (
        f"Thanh ngang, mỗi nhóm câu hỏi (n = số câu) hai thanh: hit@1 (đoạn đúng đứng đầu) và hit@5 "
        f"(đoạn đúng trong 5 đoạn đầu), tỉ lệ từ 0 đến 1, của cấu hình {name}."
    )
    return _grouped_bars("category-bars", title, desc, legend, groups)


def configurations_side_by_side(runs: list[dict[str, Any]]) -> str:
    """Per metric (hit@1, hit@5, MRR@10, nDCG@10 on 'overall'), one bar per configuration."""
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(runs))]
    overall = [_dict(_dict(run.get("summary")).get(OVERALL)) for run in runs]
    groups: list[tuple[str, list[Row]]] = []
    for key, label in SIDE_BY_SIDE:
        rows = [
            (str(run.get("name", "?")), value, colour)
            for run, metrics, colour in zip(runs, overall, colours)
            if (value := _num(metrics.get(key))) is not None
        ]
        if rows:
            groups.append((label, rows))
    legend = [(str(run.get("name", "?")), colour) for run, metrics, colour in zip(runs, overall, colours) if metrics]
    title = "So sánh các cấu hình trên toàn bộ câu hỏi (overall)"
    desc = "Với mỗi chỉ số hit@1, hit@5, MRR@10 và nDCG@10 (từ 0 đến 1), một thanh cho mỗi cấu hình."
    return _grouped_bars("side-by-side", title, desc, legend, groups)


def abstention_tradeoff(run: dict[str, Any]) -> str:
    """The answerable threshold's trade-off: as min_confidence rises, the share of unanswerable questions flagged
    vs the share of answerable questions wrongly flagged (a step line chart from the per-question confidences),
    with the calibrated threshold marked."""
    name = str(run.get("name", "?"))
    title = f"Đánh đổi của ngưỡng min_confidence — {name}"
    desc = (
        f"Đường bậc thang: khi ngưỡng min_confidence tăng, tỉ lệ {FLAGGED} (đường liền) và tỉ lệ {WRONGLY} "
        f"(đường nét đứt), cấu hình {name}."
    )
    questions = run.get("questions")
    if not isinstance(questions, list):
        return _message("tradeoff", title, desc, "Báo cáo không có dữ liệu theo từng câu hỏi.")
    split: dict[bool, list[float]] = {True: [], False: []}
    for q in questions:
        if isinstance(q, dict) and (confidence := _num(q.get("confidence"))) is not None:
            # The report's "answerable" key is the service's verdict, not the truth: only questions with an
            # answer in the documents are scored, so "metrics" tells them apart.
            truth = bool(q["metrics"]) if "metrics" in q else q.get("category") != "unanswerable"
            split[truth].append(confidence)
    answerable, unanswerable = split[True], split[False]
    if not answerable and not unanswerable:
        text = "Không có câu hỏi nào có độ tin cậy." if questions else "Báo cáo không có câu hỏi nào."
        return _message("tradeoff", title, desc, text)
    calibrated = _num(_dict(run.get("no_answer")).get("calibrated_min_confidence"))
    everything = answerable + unanswerable + ([calibrated] if calibrated is not None else [])
    lo, hi = min(0.0, *everything), max(1.0, *everything)
    series = [
        (f"{label} (n={len(values)})", PALETTE[i], dash, values, key)
        for i, (label, dash, values, key) in enumerate(
            ((FLAGGED, "", unanswerable, "unanswerable"), (WRONGLY, "7 5", answerable, "answerable"))
        )
        if values
    ]
    body, top = _legend([(label, colour, dash) for label, colour, dash, _, _ in series], PAD, line=True)
    body.append(f'<text x="{PAD}" y="{top + FONT + 4:.1f}">tỉ lệ</text>')
    x0, x1, y0, y1 = PAD + 44.0, WIDTH - PAD - 8.0, top + FONT + 16, top + FONT + 236  # plot area; y1 is the bottom

    def sx(threshold: float) -> float:
        return x0 + (threshold - lo) / (hi - lo) * (x1 - x0)

    def sy(share: float) -> float:
        return y1 - share * (y1 - y0)

    for i in range(5):
        share, threshold = i / 4, lo + (hi - lo) * i / 4
        body.append(f'<line x1="{x0}" x2="{x1}" y1="{sy(share):.1f}" y2="{sy(share):.1f}" stroke="{GRID}"/>')
        body.append(f'<text x="{x0 - 6}" y="{sy(share) + 5:.1f}" text-anchor="end">{share:g}</text>')
        body.append(f'<text x="{sx(threshold):.1f}" y="{y1 + 20:.1f}" text-anchor="middle">{threshold:.3g}</text>')
    body.append(f'<path d="M{x0},{y0} V{y1} H{x1}" fill="none" stroke="{INK}"/>')
    body.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{y1 + 44:.1f}" text-anchor="middle">ngưỡng min_confidence</text>')
    for _, colour, dash, values, key in series:
        points = " ".join(f"{sx(t):.1f},{sy(s):.1f}" for t, s in _steps(values, lo, hi))
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<polyline class="series" data-series="{key}" points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="2.5"{dashes}/>'
        )
    if calibrated is not None:
        x = sx(calibrated)
        body.append(
            f'<line class="calibrated" data-threshold="{calibrated:.6g}" x1="{x:.1f}" x2="{x:.1f}" y1="{y0 - 4}" '
            f'y2="{y1}" stroke="{INK}" stroke-width="1.5" stroke-dasharray="2 3"/>'
        )
        anchor, dx = ("end", -6) if x > (x0 + x1) / 2 else ("start", 6)
        body.append(
            f'<text x="{x + dx:.1f}" y="{y0 + 12:.1f}" text-anchor="{anchor}">hiệu chỉnh {calibrated:.3f}</text>'
        )
        shares = [(sum(c < calibrated for c in values) / len(values), colour) for _, colour, _, values, _ in series]
        text_y = -math.inf
        for share, colour in sorted(shares, reverse=True):  # printed too, so the marker reads without colour
            text_y = max(sy(share) - 6, text_y + FONT + 2)  # close shares must not print on top of each other
            body.append(f'<circle cx="{x:.1f}" cy="{sy(share):.1f}" r="4" fill="{colour}"/>')
            body.append(
                f'<text x="{x + dx:.1f}" y="{text_y:.1f}" text-anchor="{anchor}" fill="{colour}">{share:.3f}</text>'
            )
        notes = ", ".join(f"{share:.3f} {entry[0]}" for (share, _), entry in zip(shares, series))
        desc += f" Ngưỡng hiệu chỉnh {calibrated:.3f}: {notes}."
    return _svg("tradeoff", title, desc, body, y1 + 44 + PAD)


def _steps(confidences: list[float], lo: float, hi: float) -> list[tuple[float, float]]:
    """Corners (threshold, share flagged) of the step line: a question is flagged when its confidence < threshold,
    so the share rises just past each confidence and never falls."""
    points, below, n = [(lo, 0.0)], 0, len(confidences)
    for confidence, k in sorted(Counter(confidences).items()):
        points.append((confidence, below / n))
        below += k
        points.append((confidence, below / n))
    return [*points, (hi, below / n)]


def _dict(value: Any) -> dict[str, Any]:
    # A hand-edited or partial report may hold null or a list where a mapping belongs; treat it as empty.
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    """A finite float or None: a hand-edited or partial report may hold null, NaN or text."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _text_width(text: str) -> float:
    # No font metrics on the server: 0.65 em a character errs wide for most Vietnamese and Latin text.
    return len(text) * FONT * 0.65


def _grouped_bars(
    kind: str, title: str, desc: str, legend: list[tuple[str, str]], groups: list[tuple[str, list[Row]]]
) -> str:
    body, y = _legend([(label, colour, "") for label, colour in legend], PAD, line=False)
    fits = int(WIDTH * 0.4 / (FONT * 0.65))  # longer labels are cut; each bar's tooltip keeps the whole one
    shown = {
        label: label if len(label) <= fits else label[: fits - 1] + "…" for _, rows in groups for label, *_ in rows
    }
    label_w = max(map(_text_width, shown.values()), default=0.0) + 8
    x0 = PAD + label_w
    span = WIDTH - PAD - x0 - _text_width("0.000") - 6  # room for the printed value after a full bar
    for group, rows in groups:
        y += FONT + 14
        body.append(f'<text x="{PAD}" y="{y:.1f}" font-weight="bold">{escape(group)}</text>')
        y += 8
        for label, value, colour in rows:
            width = span * min(max(value, 0.0), 1.0)
            text_y = y + BAR_H / 2 + FONT * 0.35
            body.append(f'<text x="{x0 - 6:.1f}" y="{text_y:.1f}" text-anchor="end">{escape(shown[label])}</text>')
            body.append(
                f'<rect class="bar" data-group="{escape(group)}" data-series="{escape(label)}" x="{x0:.1f}" '
                f'y="{y:.1f}" width="{width:.2f}" height="{BAR_H}" fill="{colour}">'
                f"<title>{escape(f'{group}, {label}: {value:.3f}')}</title></rect>"
            )
            body.append(f'<text x="{x0 + width + 6:.1f}" y="{text_y:.1f}">{value:.3f}</text>')
            y += BAR_H + 6
    if not groups:
        y += FONT + 14
        body.append(f'<text x="{PAD}" y="{y:.1f}">Báo cáo không có số liệu cho biểu đồ này.</text>')
    return _svg(kind, title, desc, body, y + PAD)


def _legend(items: list[tuple[str, str, str]], y: float, line: bool) -> tuple[list[str], float]:
    """Legend entries (label, colour, dash) left to right, wrapping; return the markup and the last line's y."""
    body: list[str] = []
    x, y = float(PAD), y + FONT
    for label, colour, dash in items:
        width = 32 + _text_width(label)
        if x > PAD and x + width > WIDTH - PAD:
            x, y = float(PAD), y + FONT + 8
        if line:
            dashes = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(
                f'<line x1="{x}" x2="{x + 24}" y1="{y - 5}" y2="{y - 5}" stroke="{colour}" stroke-width="2.5"{dashes}/>'
            )
        else:
            body.append(f'<rect x="{x}" y="{y - 13}" width="24" height="14" fill="{colour}"/>')
        body.append(f'<text x="{x + 30}" y="{y}">{escape(label)}</text>')
        x += width + 16
    return body, y


def _message(kind: str, title: str, desc: str, text: str) -> str:
    return _svg(kind, title, desc, [f'<text x="{PAD}" y="{PAD + FONT}">{escape(text)}</text>'], PAD * 2 + FONT + 6)


def _svg(kind: str, title: str, desc: str, body: list[str], height: float) -> str:
    # Several charts share one page, so ids must differ; hashing the content keeps the functions pure.
    uid = f"{kind}-{hashlib.sha1('|'.join([title, desc, *body]).encode()).hexdigest()[:10]}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" font-family="{FONTS}" font-size="{FONT}" fill="{INK}">'
        f'<title id="{uid}-title">{escape(title)}</title><desc id="{uid}-desc">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )
