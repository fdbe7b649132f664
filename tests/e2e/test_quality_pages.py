"""The quality department's server-rendered pages in real Chromium, under FieldQ's real security headers:
the customer's survey (/s/<token>: no login, no script, its own stylesheet under the PWA policy) answered
end to end, and the management review (inline SVG under the API policy, ``default-src 'none'``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import PWA_DIST, _missing
from tests.live import live_fieldq

PASSWORD = "fieldq-demo"
COMMENT = "E2E: 技术员很专业 the technician was careful and tidy"
CSP_WORDS = ("Content Security Policy", "Refused to")


# Module scope, like the shared fixture, but with the demo jobs (approved jobs to survey, a year of
# history for the review), on SQLite and, when FIELDQ_TEST_DATABASE_URL is set, on PostgreSQL.
@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (PWA_DIST / "index.html").exists():
        _missing("the PWA is not built (make build)")
    url = None
    if request.param == "postgres":
        pg = request.getfixturevalue("pg_server")
        url = pg.create("fieldq_e2e").replace("+psycopg", "+asyncpg")
        request.addfinalizer(lambda: pg.drop(url.replace("+asyncpg", "+psycopg")))
    with live_fieldq(
        tmp_path_factory.mktemp(f"e2e-quality-{request.param}"),
        url,
        demo_inventory=True,
        demo_jobs=True,
        FIELDQ_PWA_DIST=str(PWA_DIST),
    ) as base:
        yield base


@pytest.fixture(scope="module")
def api(live_server) -> Iterator[httpx.Client]:
    """An API client logged in as the quality officer."""
    with httpx.Client(base_url=live_server, timeout=60) as client:
        response = client.post("/api/auth/login", json={"username": "quality", "password": PASSWORD})
        assert response.status_code == 200, response.text
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield client


def _watch(page) -> tuple[list[str], list[str]]:
    """Console messages about the security policy, and every response the page received (status url)."""
    violations: list[str] = []
    responses: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if any(w in m.text for w in CSP_WORDS) else None,
    )
    page.on("pageerror", lambda e: violations.append(f"page error: {e}"))
    page.on("response", lambda r: responses.append(f"{r.status} {r.url}"))
    return violations, responses


def _survey_evaluations(api: httpx.Client, job_id: str) -> list[dict]:
    response = api.get("/api/quality/evaluations", params={"job_id": job_id, "source": "survey"})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_customer_answers_the_survey_in_a_browser(browser, live_server, api):
    jobs = api.get("/api/jobs", params={"status": ["approved", "awaiting_approval"], "limit": 50})
    assert jobs.status_code == 200, jobs.text
    assert jobs.json(), "the demo has approved or awaiting-approval jobs"
    job = jobs.json()[0]
    before = _survey_evaluations(api, job["id"])

    made = api.post(f"/api/jobs/{job['id']}/survey", json={})
    assert made.status_code == 201, made.text
    survey = made.json()
    assert survey["path"].startswith("/s/") and survey["url"].endswith(survey["path"])
    token = survey["path"].removeprefix("/s/")

    # The customer: a fresh context, no login, no service worker.
    context = browser.new_context(
        base_url=live_server, viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    try:
        page = context.new_page()
        violations, responses = _watch(page)
        opened = page.goto(survey["path"])
        assert opened.status == 200, opened.text()
        assert "style-src 'self'" in opened.headers["content-security-policy"]
        page.wait_for_load_state("load")

        # The questions of the default template, with five ratings each.
        questions = page.locator("form .card p.q").all_inner_texts()
        assert any("How satisfied are you" in q for q in questions), questions
        assert any("Anything you want to tell us" in q for q in questions), questions
        for key in ("overall", "technical", "service"):
            assert page.locator(f"input[type=radio][name={key}]").count() == 5
        assert page.locator("textarea[name=comment]").is_visible()
        assert job["number"] in page.locator("header").inner_text()

        # The stylesheet came and applies: the browser's defaults are a transparent body and no card.
        assert any(r.startswith("200 ") and r.endswith("/s/survey.css") for r in responses), responses
        styles = page.evaluate(
            """() => ({
                body: getComputedStyle(document.body).backgroundColor,
                header: getComputedStyle(document.querySelector('header')).backgroundColor,
                radius: getComputedStyle(document.querySelector('.card')).borderTopLeftRadius,
                sheets: document.styleSheets.length,
            })"""
        )
        assert styles == {
            "body": "rgb(243, 245, 247)",
            "header": "rgb(11, 79, 138)",
            "radius": "12px",
            "sheets": 1,
        }, styles

        # Answer: ratings by clicking their labels (the radio inside), the yes/no, a comment.
        page.locator("label", has=page.locator("input[name=overall][value='5']")).click()
        page.locator("label", has=page.locator("input[name=technical][value='4']")).click()
        page.locator("label", has=page.locator("input[name=service][value='5']")).click()
        page.locator("input[name=on_time][value=yes]").check()
        assert page.locator("input[name=overall][value='5']").is_checked()
        page.locator("textarea[name=comment]").fill(COMMENT)
        with page.expect_navigation():
            page.locator("button[type=submit]").click()
        assert "Thank you" in page.locator("h2").inner_text()
        assert "Your answers were received" in page.locator("body").inner_text()
        assert page.evaluate("getComputedStyle(document.querySelector('.msg')).textAlign") == "center"
        assert violations == [], violations

        # The evaluation is recorded, from this survey, with these answers.
        after = _survey_evaluations(api, job["id"])
        new = [e for e in after if e["id"] not in {b["id"] for b in before}]
        assert len(new) == 1, after
        assert new[0]["source"] == "survey" and new[0]["source_id"] == survey["id"]
        assert (new[0]["overall"], new[0]["technical"], new[0]["service"]) == (5, 4, 5)
        assert new[0]["comment"] == COMMENT

        # The same link again: already answered.
        again = page.goto(survey["path"])
        assert again.status == 409
        assert "already answered" in page.locator("body").inner_text()
        assert page.locator("form").count() == 0

        # One character of the signature changed: not valid.
        head, signature = token.rsplit(".", 1)
        middle = len(signature) // 2
        swapped = "A" if signature[middle] != "A" else "B"
        tampered = f"{head}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"
        bad = page.goto(f"/s/{tampered}")
        assert bad.status == 400
        assert "not valid" in page.locator("body").inner_text()
        assert page.locator("form").count() == 0
        assert violations == [], violations
    finally:
        context.close()


def test_the_management_review_renders_its_charts(browser, live_server, api, tmp_path):
    today = datetime.now(UTC).date()
    period = {
        "from": (today - timedelta(days=365)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }
    login = api.headers["Authorization"]
    context = browser.new_context(
        base_url=live_server,
        viewport={"width": 1280, "height": 900},
        locale="en-US",
        extra_http_headers={"Authorization": login},
    )
    try:
        page = context.new_page()
        violations, _ = _watch(page)
        query = "&".join(f"{k}={v}" for k, v in period.items())
        opened = page.goto(f"/api/quality/review?{query}&format=html")
        assert opened.status == 200, opened.text()
        assert opened.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in opened.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "Management review"

        charts = page.locator("svg.chart")
        assert charts.count() >= 2
        drawn = page.evaluate(
            """() => [...document.querySelectorAll('svg.chart')].map((svg) => ({
                marks: svg.querySelectorAll('rect.bar, polyline.line, path').length,
                box: (({width, height}) => ({width, height}))(svg.getBoundingClientRect()),
            }))"""
        )
        assert any(c["marks"] > 0 for c in drawn), drawn  # some chart has bars or lines from the data
        first = charts.first
        first.scroll_into_view_if_needed()
        box = first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, box
        # The jobs chart: a bar per month (zero high before the demo's history), some with a real size.
        bars = [
            first.locator("rect.bar").nth(i).bounding_box() for i in range(first.locator("rect.bar").count())
        ]
        assert bars, "the jobs chart has bars"
        assert any(b and b["width"] > 0 and b["height"] > 0 for b in bars), bars

        shot = tmp_path / "review.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        chart_shot = tmp_path / "chart.png"
        first.screenshot(path=str(chart_shot))
        assert chart_shot.stat().st_size > 1_000

        # The worst-sites table, ranked, with its columns and at least one site.
        worst = page.locator("h2#worst-sites + table")
        assert worst.count() == 1
        headers = worst.locator("thead th").all_inner_texts()
        assert headers[:3] == ["site", "code", "region"] and "score" in headers
        assert worst.locator("tbody tr").count() >= 1
        assert worst.locator("tbody tr").first.locator("td").count() == len(headers)
        assert violations == [], violations
    finally:
        context.close()

    # Without the login the page is refused.
    anonymous = httpx.get(f"{live_server}/api/quality/review", params={**period, "format": "html"})
    assert anonymous.status_code == 401

    # The CSV variant.
    exported = api.get("/api/quality/review", params={**period, "format": "csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["indicator", "group", "value", "previous", "unit"]
    assert len(rows) > 1 and all(len(r) == 5 for r in rows)
    assert {r[1] for r in rows[1:]} >= {"all"}
    jobs_all = [r for r in rows[1:] if r[0] == "jobs" and r[1] == "all"]
    assert len(jobs_all) == 1 and float(jobs_all[0][2]) > 0, jobs_all
