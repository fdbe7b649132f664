"""The indicators' pure parts: periods and their refusals, trend buckets (in Python and in each database's
SQL), ratios, CSV escaping, the SVG charts and the footnotes."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pytest
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import create_engine, literal, select
from sqlalchemy.engine import make_url

from backend.quality.indicators.report import definitions, safe_cell, svg_chart
from backend.quality.indicators.services import (
    BadParameter,
    Period,
    bucket_expr,
    bucket_label,
    buckets_between,
    check_group,
    check_trend,
    finish,
    make_period,
    seconds_between,
)


def test_period_defaults_and_refusals():
    today = date(2026, 3, 10)
    assert make_period(None, None, today=today) == Period(date(2026, 2, 9), date(2026, 3, 11))
    assert make_period(date(2026, 1, 1), date(2026, 2, 1)).previous() == Period(
        date(2025, 12, 1), date(2026, 1, 1)
    )
    with pytest.raises(BadParameter) as refused:
        make_period(date(2026, 2, 1), date(2026, 1, 1))
    assert refused.value.field == "from" and refused.value.status_code == 400
    with pytest.raises(BadParameter) as refused:
        make_period(date(2022, 1, 1), date(2026, 1, 1))
    assert refused.value.field == "to" and "3 years" in refused.value.message
    assert make_period(date(2023, 1, 2), date(2026, 1, 1)).days == 1095  # just under 3 years is fine
    with pytest.raises(BadParameter):
        check_group("planet")
    with pytest.raises(BadParameter):
        check_trend("year")


def test_python_buckets_match_the_calendar():
    weeks = buckets_between(Period(date(2026, 1, 1), date(2026, 2, 1)), "week")
    assert weeks[0] == date(2025, 12, 29) and weeks[-1] == date(2026, 1, 26) and len(weeks) == 5
    months = buckets_between(Period(date(2025, 11, 15), date(2026, 2, 1)), "month")
    assert months == [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1)]
    assert bucket_label(datetime(2026, 1, 5, tzinfo=UTC)) == "2026-01-05" and bucket_label("") == ""


def test_finish_makes_ratios_and_leaves_empty_ones_null():
    values = finish(
        {"jobs": 4, "overall_sum": 12, "overall_n": 4, "top2": 2, "repair_n": 3, "repair_redone": 1}
    )
    assert values["satisfaction_avg"] == 3.0 and values["satisfaction_top2_share"] == 50.0
    assert values["first_time_fix_share"] == 66.67 and values["complaints_per_100_jobs"] == 0.0
    assert values["response_avg_hours"] is None and values["training_coverage_share"] is None
    assert "nc_overdue" not in finish({}, snapshots=False)


def test_csv_cells_that_could_be_formulas_are_quoted():
    for dangerous in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=x"):
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("Pudong Team") == "Pudong Team" and safe_cell(-0.5) == -0.5


def test_svg_chart_has_axes_labels_and_marks():
    line = svg_chart("Satisfaction", ["2026-01", "2026-02", "2026-03"], [4.2, None, 3.9], unit="score")
    assert line.startswith("<svg") and line.endswith("</svg>") and line.count("<polyline") == 2
    assert line.count("<circle") == 2 and "2026-02" in line and ">5<" in line and ">1<" in line
    bars = svg_chart("Jobs <all>", ["a", "b"], [10, 0], kind="bar")
    assert bars.count('class="bar"') == 2 and "Jobs &lt;all&gt;" in bars and "style" not in bars
    assert "no data" in svg_chart("Empty", ["a"], [None])


def test_footnotes_come_from_the_definitions():
    notes = definitions()
    assert any(n.startswith("**First-time fix**") for n in notes)
    assert any("[from, to)" in n for n in notes) and len(notes) >= 12


def _engines():
    yield "sqlite", create_engine("sqlite://")
    url = os.environ.get("FIELDQ_TEST_DATABASE_URL")
    if url:
        yield "postgresql", create_engine(make_url(url).set(drivername="postgresql+psycopg"))


@pytest.mark.parametrize(
    ("moment", "week", "month"),
    [
        (datetime(2026, 1, 11, 23, 59, tzinfo=UTC), "2026-01-05", "2026-01-01"),  # a Sunday night
        (datetime(2026, 1, 12, 0, 0, tzinfo=UTC), "2026-01-12", "2026-01-01"),  # the Monday after
        (datetime(2026, 3, 1, 0, 30, tzinfo=UTC), "2026-02-23", "2026-03-01"),  # a month's first hour
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), "2025-12-29", "2025-12-01"),  # the year's last hour
    ],
)
def test_sql_buckets_on_each_dialect(moment, week, month):
    for name, engine in _engines():
        value = literal(moment, DateTimeUTC())
        with engine.connect() as conn:
            got_week, got_month, got_day, seconds = conn.execute(
                select(
                    bucket_expr(name, value, "week"),
                    bucket_expr(name, value, "month"),
                    bucket_expr(name, value, "day"),
                    seconds_between(name, value, literal(datetime(2025, 12, 31, tzinfo=UTC), DateTimeUTC())),
                )
            ).one()
        assert (bucket_label(got_week), bucket_label(got_month)) == (week, month), name
        assert bucket_label(got_day) == moment.date().isoformat(), name
        expected = (moment - datetime(2025, 12, 31, tzinfo=UTC)).total_seconds()
        assert abs(float(seconds) - expected) < 1, name
        engine.dispose()
