"""The management review as an HTML page (inline SVG charts, no scripts) and as CSV.

The page is served under the API's content security policy (``default-src 'none'``), which blocks style
sheets and ``style`` attributes: it is laid out with HTML and SVG presentation attributes only (``border``,
``fill``, ``stroke``, ``font-size``…), which no policy governs, and draws every chart as inline SVG markup
(part of the document, not a loaded image)."""

from __future__ import annotations

import csv
import io
import math
from html import escape
from typing import Any

from backend.quality.indicators import services
from backend.quality.indicators.services import INDICATOR_BY_NAME, INDICATORS, Review

# The headline charts of the trend section: (indicator, chart kind).
TREND_CHARTS = (
    ("jobs", "bar"),
    ("satisfaction_avg", "line"),
    ("satisfaction_top2_share", "line"),
    ("first_time_fix_share", "line"),
    ("repeat_visit_share", "line"),
    ("response_on_time_share", "line"),
    ("complaints_per_100_jobs", "line"),
    ("nc_opened", "bar"),
)
UNSAFE_CSV_START = ("=", "+", "-", "@", "\t", "\r")


def definitions() -> list[str]:
    """The definitions, from the indicator module's docstring (one source for code and footnotes)."""
    doc = services.__doc__ or ""
    body = doc.split("\n* ", 1)[1] if "\n* " in doc else ""
    return [" ".join(item.split()) for item in body.split("\n* ") if item.strip()]


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:.0f}"
    else:
        text = str(value)
    return f"{text}%" if unit == "%" else text


def arrow(name: str, current: Any, previous: Any) -> tuple[str, str]:
    """(arrow, verdict) comparing the period with the previous one."""
    if current is None or previous is None or current == previous:
        return ("→", "" if current is None or previous is None else "same")
    up = current > previous
    better = INDICATOR_BY_NAME[name].better
    verdict = "" if better is None else ("better" if (better == "up") == up else "worse")
    return ("▲" if up else "▼", verdict)


# --------------------------------------------------------------------------------------------------
# SVG charts


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def svg_chart(
    title: str, labels: list[str], values: list[float | None], *, kind: str = "line", unit: str = ""
) -> str:
    """A line or bar chart with axes, gridlines, tick labels and the values, as SVG markup."""
    width, height = 560, 240
    left, right, top, bottom = 48, 12, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [v for v in values if v is not None]
    if unit == "score":
        y_min, y_max = 1.0, 5.0
    elif unit == "%":
        y_min, y_max = 0.0, 100.0
    else:
        y_min, y_max = 0.0, _nice_max(max(known, default=0))
    n = max(len(labels), 1)
    step = plot_w / n

    def x_at(i: int) -> float:
        return left + step * (i + 0.5)

    def y_at(v: float) -> float:
        v = min(max(v, y_min), y_max)
        return top + plot_h - (v - y_min) / (y_max - y_min) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold" fill="#222">{escape(title)}</text>',
    ]
    for t in range(5):
        v = y_min + (y_max - y_min) * t / 4
        y = y_at(v)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#444">'
            f"{escape(fmt(round(v, 2), unit))}</text>"
        )
    out.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444" stroke-width="1"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="#444" stroke-width="1"/>'
    )
    for i, label in enumerate(labels):
        out.append(
            f'<text x="{x_at(i):.1f}" y="{top + plot_h + 14}" font-size="9" text-anchor="middle" '
            f'fill="#444">{escape(label)}</text>'
        )
    if kind == "bar":
        bar_w = step * 0.6
        for i, v in enumerate(values):
            if v is None:
                continue
            y = y_at(v)
            out.append(
                f'<rect class="bar" x="{x_at(i) - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{top + plot_h - y:.1f}" fill="#4a78b5"><title>{escape(labels[i])}: '
                f"{escape(fmt(v, unit))}</title></rect>"
            )
    else:
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(values):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x_at(i):.1f},{y_at(v):.1f}")
        if segment:
            segments.append(segment)
        for seg in segments:
            out.append(
                f'<polyline class="line" points="{" ".join(seg)}" fill="none" stroke="#4a78b5" '
                f'stroke-width="2"/>'
            )
        for i, v in enumerate(values):
            if v is not None:
                out.append(
                    f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="3" fill="#4a78b5">'
                    f"<title>{escape(labels[i])}: {escape(fmt(v, unit))}</title></circle>"
                )
    if not known:
        out.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" '
            f'fill="#888">no data</text>'
        )
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# HTML


def _table(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    """Cells arrive escaped (they may hold markup such as <strong>)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(header)}">none</td></tr>'
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<table border="1" cellpadding="4" cellspacing="0">{cap}'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _day(value: Any) -> str:
    return escape(value.strftime("%Y-%m-%d")) if value is not None else "–"


def render_html(review: Review) -> str:
    p, prev = review.period, review.previous
    period_text = f"{p.start.isoformat()} to {p.end.isoformat()} (exclusive)"
    headline_rows = []
    for ind in INDICATORS:
        cur = review.headline.get(ind.name)
        old = review.headline_previous.get(ind.name)
        mark, verdict = arrow(ind.name, cur, old)
        headline_rows.append(
            [
                escape(ind.label),
                escape(fmt(old, ind.unit)) if not ind.snapshot else "–",
                f"<strong>{escape(fmt(cur, ind.unit))}</strong>",
                escape(f"{mark} {verdict}".strip()) if not ind.snapshot else "",
                escape(ind.unit),
            ]
        )
    labels = [b[:7] if review.trend == "month" else b for b, _ in review.trend_points]
    charts = []
    for name, kind in TREND_CHARTS:
        ind = INDICATOR_BY_NAME[name]
        series = [values.get(name) for _, values in review.trend_points]
        charts.append(svg_chart(ind.label, labels, series, kind=kind, unit=ind.unit))
    age_chart = svg_chart(
        "Open nonconformances by age",
        [band for band, _ in review.nc_ages],
        [float(n) for _, n in review.nc_ages],
        kind="bar",
        unit="count",
    )
    group_rows = []
    for kind, label, current, previous in review.groups[1:]:
        group_rows.append(
            [escape(kind), escape(label)]
            + [
                escape(
                    f"{fmt(current.get(n), INDICATOR_BY_NAME[n].unit)} "
                    f"({fmt(previous.get(n), INDICATOR_BY_NAME[n].unit)})"
                )
                for n in (
                    "jobs",
                    "satisfaction_avg",
                    "first_time_fix_share",
                    "complaints_per_100_jobs",
                    "nc_overdue",
                )
            ]
        )
    sites = [
        [
            escape(s["name"]),
            escape(s["code"] or ""),
            escape(s["region"]),
            str(s["jobs"]),
            str(s["complaints"]),
            str(s["repeat_visits"]),
            str(s["low_ratings"]),
            escape(fmt(s["score"])),
        ]
        for s in review.worst_sites
    ]
    models = [
        [
            escape(m["model"]),
            escape(m["sku"]),
            str(m["repair_jobs"]),
            str(m["repeat_visits"]),
            escape(fmt(m["repeat_visit_share"], "%")),
            escape(fmt(m["first_time_fix_share"], "%")),
        ]
        for m in review.worst_models
    ]
    actions = [
        [
            escape(a["nonconformance"]),
            escape(a["kind"]),
            escape(a["description"]),
            escape(a["owner"]),
            _day(a["due_at"])
            + (' <strong><font color="#b00020">OVERDUE</font></strong>' if a["overdue"] else ""),
        ]
        for a in review.open_actions
    ]
    notes = "".join(f"<li>{escape(item)}</li>" for item in definitions())
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Management review {escape(period_text)}</title></head>",
        '<body bgcolor="#ffffff" text="#222222">',
        "<h1>Management review</h1>",
        f"<p>Period: <strong>{escape(period_text)}</strong>; previous period: "
        f"{escape(prev.start.isoformat())} to {escape(prev.end.isoformat())}. Generated "
        f"{escape(review.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}.</p>",
        '<h2 id="headline">Indicators: this period against the previous one</h2>',
        _table(["indicator", "previous", "this period", "trend", "unit"], headline_rows),
        f'<h2 id="trends">Trends: the last {len(review.trend_points)} months</h2>',
        '<div class="charts">' + "".join(charts) + "</div>",
        '<h2 id="groups">By region and team (previous period in brackets)</h2>',
        _table(
            [
                "kind",
                "group",
                "jobs",
                "satisfaction",
                "first-time fix",
                "complaints / 100 jobs",
                "NCs overdue",
            ],
            group_rows,
        ),
        '<h2 id="worst-sites">Worst sites</h2>',
        _table(
            ["site", "code", "region", "jobs", "complaints", "repeat visits", "low ratings", "score"],
            sites,
            "ranked by (complaints + repeat visits + low ratings) per job approved",
        ),
        '<h2 id="worst-models">Worst unit models</h2>',
        _table(
            ["model", "SKU", "repair jobs", "repeat visits", "repeat rate", "first-time fix"],
            models,
            "ranked by first-time fix (lowest first), then repeat visits",
        ),
        '<h2 id="actions">Open actions</h2>',
        _table(["nonconformance", "kind", "action", "owner", "due"], actions),
        '<h2 id="nonconformances">Open nonconformances</h2>',
        age_chart,
        _table(["status", "open"], [[escape(s), str(n)] for s, n in review.nc_open_by_status]),
        '<h2 id="definitions">Definitions</h2>',
        f"<ol>{notes}</ol>",
        "</body></html>",
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# CSV


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet could run as a formula gets a leading quote (CSV injection)."""
    if isinstance(value, str) and value.startswith(UNSAFE_CSV_START):
        return "'" + value
    return value


def render_csv(review: Review) -> str:
    """One row per indicator per group: indicator, group, value, previous, unit. ``group`` is ``all``, then
    each region's name, then each team's name; numbers are written as numbers (a negative gap stays
    numeric), every text cell is escaped against formula injection. Snapshot indicators have no previous."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["indicator", "group", "value", "previous", "unit"])
    for kind, label, current, previous in review.groups:
        group = "all" if kind == "all" else label
        for ind in INDICATORS:
            value = current.get(ind.name)
            old = None if ind.snapshot else previous.get(ind.name)
            writer.writerow(
                [
                    safe_cell(ind.name),
                    safe_cell(group),
                    "" if value is None else value,
                    "" if old is None else old,
                    safe_cell(ind.unit),
                ]
            )
    return out.getvalue()
