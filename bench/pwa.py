"""PWA budgets: `python -m bench pwa [--quick]` measures the built PWA (pwa/dist) against docs' budgets.

The budgets (shared PWA.md, "Budgets"): initial JS ≤ 150 kB gzip for every role; Lighthouse mobile
performance, accessibility and best practices ≥ 0.95; cold offline start to the first screen < 1 s;
a local write to its screen < 100 ms. Plus the first pull of a 5,000-record scope into IndexedDB
(records/s, no goal).

pwa/dist is copied first (other people rebuild it while this runs) and that copy is what is measured and
what the server serves (FIELDQ_PWA_DIST). Build it before (`make build`); nothing here builds it.

1. Initial JS: index.html's entry script(s) and modulepreload links, with the chunks they import
   statically, gzip level 9 each, summed; every other assets/*.js is a lazy chunk, listed. Per role, what
   a browser really fetched for the first screen (resource timing of assets/*.js: the login page; after
   logging in, a technician's Today and the office roles' home), gzip-summed the same way.
2. Lighthouse 12.2.3 (bench/lighthouse, `npm ci` there; 13 needs Node 22), mobile defaults (simulated
   throttling), Debian's Chromium headless: the login page `/` on a fresh profile, and Today `/` in the
   logged-in technician's profile (Chromium started on it with a debugging port, Lighthouse attached
   with --disable-storage-reset, so the app opens on its stored login and its IndexedDB). Median of the
   runs; "worst" is the lowest score; a runtime error (NO_NAVSTART happens) is tried again, noted. For
   diagnosis (Lighthouse 12's layout-shifts audit errors on this Chromium), Today online in that profile
   is loaded by Playwright too and its layout shifts read in the page (PerformanceObserver, with the
   element that moved first in each shift).
3. Cold offline start: one live server (`seed --demo --installed-units 60`, tokens valid an hour) whose
   tech1 is given, in-process (bulk rows with their feed entries, as bench/sync.py does), open jobs up to
   15 and approved jobs with their steps and logs until the pull holds ~2,000 records. Playwright drives
   /usr/bin/chromium with a persistent profile: log in, wait for Today, the first sync and the service
   worker; then, per run, relaunch the browser on that profile, offline from the start, open `/` and time
   until the 15th job row is in the DOM, in the page (performance.now(), i.e. from navigation start, by
   a MutationObserver added with add_init_script); the next frame after it and the wall time from goto
   are in the check column.
4. Local write: tech1's on-site job's procedure (/jobs/<id>/steps), a step that needs only a check,
   alternately pass and fail: from the click (a capturing listener) to the step's data-result showing it
   (MutationObserver), in the page; each write's sync is let finish before the next.
5. First pull: tech4 given approved jobs with steps and logs until their scope holds ≥ 5,000 records; a
   fresh profile logs in and the clock runs from the login button's click to the end of the first sync
   (the sync badge's data-running back to 0), in the page; IndexedDB's `records` count is checked to be
   the whole scope (the same count as a pull through the API).

`--quick` does fewer runs (2 cold starts, 3 writes, 1 Lighthouse run per page, 1 first pull) and writes
nothing; a full run replaces the `pwa` section of bench/results/latest.md and rewrites
bench/results/pwa.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from bench.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.md"
COPY = ROOT / "bench" / "results" / "pwa.md"
DIST = ROOT / "pwa" / "dist"
LIGHTHOUSE = ROOT / "bench" / "lighthouse" / "node_modules" / "lighthouse" / "cli" / "index.js"
CHROMIUM = os.environ.get("FIELDQ_BENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIGHTHOUSE_CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"
PASSWORD = "fieldq-demo"  # noqa: S105 - the demo company's published password
TECH, SCOPE_TECH = "tech1", "tech4"
OFFICE = ("supervisor1", "quality", "manager")
OPEN = {"assigned", "accepted", "en_route", "on_site", "work_done", "incomplete", "returned"}
INITIAL_JS_GOAL = 150_000
SCORE_GOAL = 0.95
COLD_GOAL_MS = 1000
WRITE_GOAL_MS = 100
TODAY_JOBS = 15
TODAY_RECORDS = 2000
PULL_RECORDS = 5000
VIEWPORT = {"width": 412, "height": 915}


@dataclass
class Options:
    cold_starts: int = 5
    writes: int = 5
    lighthouse_runs: int = 3
    first_pulls: int = 3
    quick: bool = False

    @classmethod
    def quick_run(cls) -> Options:
        return cls(cold_starts=2, writes=3, lighthouse_runs=1, first_pulls=1, quick=True)


# ---------------------------------------------------------------------------------------------------
# The table


@dataclass
class Row:
    budget: str
    scenario: str
    n: int | str = ""
    median: str = ""
    worst: str = ""
    goal: str = ""
    met: bool | None = None
    check: str = ""

    def cells(self) -> list[str]:
        verdict = "" if self.met is None else (" ✅" if self.met else " ❌ MISSED")
        goal = f"{self.goal}{verdict}" if self.goal else ""
        n = f"{self.n:,}" if isinstance(self.n, int) else self.n
        return [self.budget, self.scenario, n, self.median, self.worst, goal, self.check]


HEADER = ["budget", "scenario", "n", "median", "worst", "goal", "check"]


def markdown_table(rows: list[Row]) -> str:
    table = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(line)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _kb(size: float) -> str:
    return f"{size / 1000:,.1f} kB"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:,.1f} ms"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------------------------------
# 1. Initial JS


class _Entry(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("type") == "module" and a.get("src"):
            self.scripts.append(a["src"] or "")
        elif tag == "link" and a.get("rel") == "modulepreload" and a.get("href"):
            self.scripts.append(a["href"] or "")


# Static imports and re-exports of a minified ES module (`import{a as b}from"./x.js"`, `import"./y.js"`,
# `export*from"./z.js"`); never `import("./lazy.js")`.
_STATIC_IMPORT = re.compile(r"""(?:\bimport|\bexport)\s*(?:[^"'`();=]*?\bfrom\s*)?["']([^"']+\.js)["']""")


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _asset(dist: Path, url: str) -> Path:
    return dist / url.split("?", 1)[0].lstrip("/")


def initial_set(dist: Path) -> list[str]:
    """index.html's entry scripts and modulepreloads, with what they import statically (dist-relative)."""
    parser = _Entry()
    parser.feed((dist / "index.html").read_text())
    queue = [url.lstrip("/") for url in parser.scripts if not url.startswith(("http:", "https:"))]
    seen: list[str] = []
    while queue:
        name = queue.pop(0)
        if name in seen or not (dist / name).is_file():
            continue
        seen.append(name)
        text = (dist / name).read_text(errors="replace")
        for target in _STATIC_IMPORT.findall(text):
            if target.startswith(("http:", "https:")):
                continue
            resolved = (
                (Path(name).parent / target).as_posix() if target.startswith(".") else target.lstrip("/")
            )
            queue.append(os.path.normpath(resolved))
    return seen


def _sizes(dist: Path) -> dict[str, tuple[int, int]]:
    """(raw bytes, gzip -9 bytes) of every .js file of the build, by dist-relative path."""
    return {
        p.relative_to(dist).as_posix(): (p.stat().st_size, gz(p.read_bytes()))
        for p in sorted(dist.rglob("*.js"))
        if p.is_file()
    }


def js_rows_from(info: dict[str, Any], per_role: dict[str, list[str]]) -> list[Row]:
    sizes: dict[str, tuple[int, int]] = info["sizes"]
    initial: list[str] = info["initial"]
    total = sum(sizes[n][1] for n in initial)
    raw = sum(sizes[n][0] for n in initial)
    goal = f"≤ {_kb(INITIAL_JS_GOAL)} gzip"
    rows = [
        Row(
            "initial JS",
            "index.html: entry + modulepreloads + their static imports (same page for every role)",
            len(initial),
            _kb(total),
            "",
            goal,
            total <= INITIAL_JS_GOAL,
            "; ".join(f"{n.rsplit('/', 1)[-1]} {_kb(sizes[n][1])}" for n in initial)
            + f"; {_kb(raw)} raw; python gzip -9",
        )
    ]
    for role, names in per_role.items():
        files = [n for n in names if n in sizes]
        size = sum(sizes[n][1] for n in files)
        extra = [n.rsplit("/", 1)[-1] for n in files if n not in initial]
        unknown = [n for n in names if n not in sizes]
        rows.append(
            Row(
                "initial JS",
                f"fetched by the first screen: {role}",
                len(files),
                _kb(size),
                "",
                goal,
                size <= INITIAL_JS_GOAL,
                "resource timing, assets/*.js"
                + (f"; beyond index.html's set: {', '.join(extra)}" if extra else "; index.html's set only")
                + (f"; not in the build: {', '.join(unknown)}" if unknown else ""),
            )
        )
    for name, (raw_size, gz_size) in sizes.items():
        if name in initial:
            continue
        label = (
            name.rsplit("/", 1)[-1]
            if name.startswith("assets/")
            else f"{name} (the service worker, after load)"
        )
        rows.append(Row("lazy chunk", label, "", _kb(gz_size), "", "", None, f"{_kb(raw_size)} raw"))
    return rows


# ---------------------------------------------------------------------------------------------------
# The world: tech1's Today of 15 jobs in a ~2,000-record scope; tech4's scope of 5,000 records


@dataclass
class World:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tech_records: int = 0
    tech_open_jobs: int = 0
    scope_records: int = 0
    on_site_job: str = ""
    check_step: str = ""
    added: dict[str, int] = field(default_factory=dict)


def _api_scope(base: str, username: str) -> tuple[int, set[tuple[str, str]]]:
    from bench.sync import Api, Phone

    api = Api(base)
    try:
        api.login(username)
        _changes, _pages, held = Phone(api, username).pull_all()
        return len(held), held
    finally:
        api.close()


def _users(base: str) -> dict[str, dict[str, Any]]:
    from bench.sync import Api

    api = Api(base)
    try:
        for name in (TECH, SCOPE_TECH, *OFFICE):
            api.login(name)
        return dict(api.users)
    finally:
        api.close()


async def _grow(
    database_url: str,
    tech: uuid.UUID,
    open_jobs: int,
    records: int,
    supervisor: uuid.UUID,
    on_site: bool,
    tag: str,
) -> dict[str, Any]:
    """Add ``open_jobs`` assigned jobs (one on site when ``on_site``) and approved jobs with their steps
    and 3 logs each, ``records`` records in all, to ``tech``'s scope, copying customers, sites, units and
    procedures from the technician's own jobs (so the scope gains no other records)."""
    from sqlalchemy import select

    from backend.db import create_engine, create_session_factory
    from backend.jobs.models import Job, JobLog, JobStep, Procedure
    from backend.jobs.services import step_row_id
    from backend.settings import Settings
    from backend.sync.feed import insert_synced_rows
    from bench.jobs import _job_row  # also installs the change recorder in this process

    engine = create_engine(Settings(database_url=database_url))
    now = datetime.now(UTC)
    out: dict[str, Any] = {"open": 0, "approved": 0, "steps": 0, "logs": 0, "on_site": None}
    try:
        factory = create_session_factory(engine)
        async with factory() as session:
            mine = (await session.execute(select(Job).where(Job.assignee_id == tech))).scalars().all()
            templates = [j for j in mine if j.procedure_id] or list(mine)
            if not templates:
                raise RuntimeError(f"{tech} has no jobs to copy customers and sites from")
            procedures = {p.id: p.steps for p in (await session.execute(select(Procedure))).scalars().all()}
            jobs, steps, logs = [], [], []
            number = 0

            def job(status: str, **values: Any) -> dict[str, Any]:
                nonlocal number
                template = templates[number % len(templates)]
                number += 1
                return _job_row(
                    id=uuid.uuid4(),
                    number=f"BP{tag}{number:05d}",
                    type=template.type,
                    status=status,
                    priority=("normal", "high", "low", "urgent")[number % 4],
                    customer_id=template.customer_id,
                    site_id=template.site_id,
                    unit_id=template.unit_id,
                    procedure_id=template.procedure_id,
                    team_id=template.team_id,
                    assignee_id=tech,
                    created_by_id=supervisor,
                    description=f"季度预防性维护 Quarterly preventive maintenance (bench {number})",
                    **values,
                )

            for n in range(open_jobs):
                start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=n % 10)
                if on_site and n == 0:
                    row = job(
                        "on_site",
                        accepted_at=now,
                        arrived_at=now,
                        scheduled_start=now,
                        scheduled_end=now + timedelta(hours=2),
                    )
                    out["on_site"] = str(row["id"])
                else:
                    row = job("assigned", scheduled_start=start, scheduled_end=start + timedelta(hours=2))
                jobs.append(row)
                out["open"] += 1
            left = records - open_jobs
            while left > 0:
                done = now - timedelta(days=1 + len(jobs) % 90, hours=len(jobs) % 7)
                row = job(
                    "approved",
                    scheduled_start=done - timedelta(hours=2),
                    scheduled_end=done,
                    accepted_at=done - timedelta(hours=3),
                    arrived_at=done - timedelta(hours=2),
                    work_done_at=done,
                    submitted_at=done,
                    approved_at=done + timedelta(hours=4),
                    closed_at=done + timedelta(hours=4),
                    findings="已清洁出钞模块 Dispenser cleaned, belts checked",
                )
                jobs.append(row)
                out["approved"] += 1
                left -= 1
                for spec in procedures.get(row["procedure_id"], []):
                    if left <= 0:
                        break
                    reading = "reading" in (spec.get("requires") or [])
                    steps.append(
                        {
                            "id": step_row_id(row["id"], spec["id"]),
                            "job_id": row["id"],
                            "step_id": spec["id"],
                            "result": "pass",
                            "value": 13.1 if reading else None,
                            "in_range": True if reading else None,
                            "note": "",
                            "blobs": [],
                            "completed_by_id": tech,
                            "client_time": done,
                        }
                    )
                    left -= 1
                for k, kind in enumerate(("note", "time", "reading")):
                    if left <= 0:
                        break
                    logs.append(
                        {
                            "id": uuid.uuid4(),
                            "job_id": row["id"],
                            "kind": kind,
                            "text": f"Bench log {k}: 已检查 checked the dispenser",
                            "minutes": 35 if kind == "time" else None,
                            "value": 13.2 if kind == "reading" else None,
                            "author_id": tech,
                            "client_time": done,
                        }
                    )
                    left -= 1
            out["steps"], out["logs"] = len(steps), len(logs)
            # The jobs first, their records after (a job entering a scope announces what it already has).
            await insert_synced_rows(session, Job, jobs)
            await session.commit()
            for first in range(0, len(steps), 2000):
                await insert_synced_rows(session, JobStep, steps[first : first + 2000])
            for first in range(0, len(logs), 2000):
                await insert_synced_rows(session, JobLog, logs[first : first + 2000])
            await session.commit()
            if out["on_site"] is None:
                current = [j for j in mine if j.status == "on_site"]
                out["on_site"] = str(current[0].id) if current else None
            if out["on_site"]:
                target = next((j for j in jobs if str(j["id"]) == out["on_site"]), None)
                pid = (
                    target["procedure_id"]
                    if target
                    else next(j.procedure_id for j in mine if str(j.id) == out["on_site"])
                )
                checks = [
                    s["id"] for s in procedures.get(pid, []) if set(s.get("requires") or []) <= {"check"}
                ]
                out["check_step"] = checks[0] if checks else ""
    finally:
        await engine.dispose()
    return out


def build_world(server: LiveServer) -> World:
    world = World(users=_users(server.base))
    tech = world.users[TECH]
    count, held = _api_scope(server.base, TECH)
    jobs = _open_jobs(server, tech["id"])
    need_open = max(0, TODAY_JOBS - len(jobs["open"]))
    on_site = not jobs["on_site"]
    if on_site and need_open == 0:
        need_open = 1
    grown = asyncio.run(
        _grow(
            server.database_url,
            uuid.UUID(tech["id"]),
            need_open,
            max(need_open, TODAY_RECORDS - count),
            uuid.UUID(world.users["supervisor1"]["id"]),
            on_site,
            "A",
        )
    )
    world.on_site_job = jobs["on_site"][0] if jobs["on_site"] else grown["on_site"]
    world.check_step = grown.get("check_step", "")
    world.added[TECH] = sum(grown[k] for k in ("open", "approved", "steps", "logs"))
    world.tech_records, _held = _api_scope(server.base, TECH)
    world.tech_open_jobs = len(_open_jobs(server, tech["id"])["open"])
    scope = world.users[SCOPE_TECH]
    count, _held = _api_scope(server.base, SCOPE_TECH)
    grown = asyncio.run(
        _grow(
            server.database_url,
            uuid.UUID(scope["id"]),
            0,
            PULL_RECORDS - count + 10,
            uuid.UUID(world.users["supervisor1"]["id"]),
            False,
            "B",
        )
    )
    world.added[SCOPE_TECH] = sum(grown[k] for k in ("open", "approved", "steps", "logs"))
    world.scope_records, _held = _api_scope(server.base, SCOPE_TECH)
    del held
    return world


def _open_jobs(server: LiveServer, user_id: str) -> dict[str, list[str]]:
    import sqlite3

    if not server.sqlite_path.is_file():
        raise RuntimeError("the PWA benchmark runs on SQLite only")
    conn = sqlite3.connect(server.sqlite_path)
    try:
        rows = conn.execute(
            "SELECT id, status FROM job WHERE replace(assignee_id, '-', '') = replace(?, '-', '')", (user_id,)
        ).fetchall()
    finally:
        conn.close()

    def as_uuid(value: Any) -> str:
        return str(uuid.UUID(value if isinstance(value, str) else bytes(value).hex()))

    return {
        "open": [as_uuid(r[0]) for r in rows if r[1] in OPEN],
        "on_site": [as_uuid(r[0]) for r in rows if r[1] == "on_site"],
    }


# ---------------------------------------------------------------------------------------------------
# The browser (Playwright, Debian's Chromium)

# Runs before the app's scripts on every page (CDP, so the CSP does not apply to it).
INIT_SCRIPT = """
(() => {
  if (window.__fqb) return;
  const b = (window.__fqb = { rowsAt: null, rowsFrameAt: null, writes: [], pending: null, badge: [],
                              submitAt: null, lastRunning: null, target: TARGET });
  const frame = (set) => requestAnimationFrame(() => setTimeout(() => set(performance.now()), 0));
  const check = () => {
    const now = performance.now();
    if (b.rowsAt === null && document.querySelectorAll('[data-testid=job-row]').length >= b.target) {
      b.rowsAt = now;
      frame((t) => { b.rowsFrameAt = t; });
    }
    const w = b.pending;
    if (w) {
      const el = document.querySelector('[data-testid=step][data-step-id="' + CSS.escape(w.step) + '"]');
      if (el && el.getAttribute('data-result') === w.want) {
        w.doneAt = now;
        b.pending = null;
        frame((t) => { w.frameAt = t; });
      }
    }
    const badge = document.querySelector('[data-testid=sync-badge]');
    if (badge) {
      const running = badge.getAttribute('data-running');
      if (running !== b.lastRunning) { b.lastRunning = running; b.badge.push([running, now]); }
    }
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-result', 'data-running'],
  });
  // Layout shifts (what Lighthouse's CLS counts), with the elements that moved.
  b.cls = 0;
  b.shifts = [];
  const describe = (node) => {
    if (!node) return '?';
    if (node.nodeType !== 1) return describe(node.parentElement);
    const id = node.getAttribute('data-testid');
    const cls = node.classList && node.classList.length ? '.' + node.classList[0] : '';
    return node.localName + (id ? '[data-testid=' + id + ']' : cls);
  };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.hadRecentInput) continue;
        b.cls += e.value;
        const sources = (e.sources || []).slice(0, 3).map((s) =>
          describe(s.node) + ' y ' + Math.round(s.previousRect.y) + '→' + Math.round(s.currentRect.y));
        b.shifts.push({ at: e.startTime, value: e.value, sources });
      }
    }).observe({ type: 'layout-shift', buffered: true });
  } catch (error) { b.shiftError = String(error); }
  addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const button = target.closest('[data-testid=step-pass],[data-testid=step-fail]');
    if (button) {
      const step = button.closest('[data-testid=step]');
      const w = { step: step.getAttribute('data-step-id'), want: button.getAttribute('data-testid').slice(5),
                  at: performance.now(), doneAt: null, frameAt: null };
      b.writes.push(w);
      b.pending = w;
    }
    if (target.closest('[data-testid=login-submit]')) b.submitAt = performance.now();
  }, true);
})();
""".replace("TARGET", str(TODAY_JOBS))

READ_BENCH = "() => window.__fqb"
NAVIGATION = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return n ? { workerStart: n.workerStart, responseEnd: n.responseEnd, dcl: n.domContentLoadedEventEnd,
               load: n.loadEventEnd, transferSize: n.transferSize } : null;
}"""
SCRIPTS = """() => performance.getEntriesByType('resource')
  .map((e) => new URL(e.name).pathname).filter((p) => p.endsWith('.js'))"""
PULLS = """() => performance.getEntriesByType('resource')
  .filter((e) => e.name.includes('/api/sync/v1/pull')).map((e) => [e.startTime, e.responseEnd])"""
IDB_COUNT = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('fieldq');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('records')) { db.close(); resolve(0); return; }
    const request = db.transaction('records').objectStore('records').count();
    request.onsuccess = () => { resolve(request.result); db.close(); };
    request.onerror = () => reject(request.error);
  };
})"""


class Browser:
    def __init__(self, base: str, workdir: Path) -> None:
        from playwright.sync_api import sync_playwright

        self.base = base
        self.workdir = workdir
        self.pw = sync_playwright().start()

    def close(self) -> None:
        self.pw.stop()

    def profile(self, name: str) -> Path:
        path = self.workdir / f"profile-{name}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def launch(self, profile: Path, *, offline: bool = False):
        context = self.pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            base_url=self.base,
            viewport=VIEWPORT,
            service_workers="allow",
        )
        if offline:
            context.set_offline(True)
        context.add_init_script(INIT_SCRIPT)
        page = context.pages[0] if context.pages else context.new_page()
        return context, page


def _login(page, username: str) -> None:
    page.goto("/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def _wait_synced(page, expected: int, timeout: float = 180) -> tuple[float, int]:
    """Until the sync badge went running → idle and IndexedDB holds ``expected`` records; the in-page
    time of that last running → idle and the count."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        bench = page.evaluate(READ_BENCH)
        states = bench["badge"]
        ends = [at for (prev, _), (state, at) in itertools.pairwise(states) if prev == "1" and state == "0"]
        if ends and states[-1][0] == "0":
            count = page.evaluate(IDB_COUNT)
            if count >= expected:
                return ends[-1], count
        time.sleep(0.1)
    raise RuntimeError(
        f"the first sync did not finish in {timeout:.0f} s ({count:,} of {expected:,} records)"
    )


def _problem(page) -> str:
    badge = page.get_by_test_id("sync-badge")
    return badge.get_attribute("data-problem") or "" if badge.count() else ""


def _scripts(page) -> list[str]:
    return sorted({p.lstrip("/") for p in page.evaluate(SCRIPTS) if p.startswith("/assets/")})


@dataclass
class Browsed:
    per_role: dict[str, list[str]] = field(default_factory=dict)
    login_ms: float = 0.0
    first_sync_records: int = 0
    cold: list[dict[str, Any]] = field(default_factory=list)
    cold_launch: list[float] = field(default_factory=list)
    online_today: list[dict[str, Any]] = field(default_factory=list)
    writes: list[dict[str, Any]] = field(default_factory=list)
    writes_settled: int = 0
    pulls: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def browse(browser: Browser, world: World, options: Options, out: Browsed, phase) -> Path:
    """Steps 1 (per role), 3, 4 and 5 in the browser; returns tech1's logged-in profile (for Lighthouse)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # The login page and the technician's first screen, then the first sync, on a fresh profile.
    profile = browser.profile("tech1")
    context, page = browser.launch(profile)
    try:
        page.goto("/")
        page.get_by_test_id("login-form").wait_for()
        page.wait_for_load_state("networkidle")
        out.per_role["login page (anonymous)"] = _scripts(page)
        _login(page, TECH)
        page.locator("[data-testid=today][data-state=ready]").wait_for(timeout=60_000)
        page.locator("body[data-sw-ready='1']").wait_for(state="attached", timeout=60_000)
        _end, out.first_sync_records = _wait_synced(page, world.tech_records)
        page.locator("[data-testid=job-row]").nth(TODAY_JOBS - 1).wait_for(timeout=30_000)
        out.per_role["technician (Today)"] = _scripts(page)
        if _problem(page):
            out.notes.append(f"tech1's first sync: problem {_problem(page)!r}")
    finally:
        context.close()
    phase(f"tech1 logged in, {out.first_sync_records:,} records in IndexedDB, service worker ready")

    for username in OFFICE:
        context, page = browser.launch(browser.profile(username))
        try:
            _login(page, username)
            page.get_by_test_id("app-shell").wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)
            out.per_role[f"{world.users[username]['role']} ({username}, home)"] = _scripts(page)
        finally:
            context.close()
    phase("office roles' first screens")

    # 3. Cold offline start.
    for _ in range(options.cold_starts):
        started = time.perf_counter()
        context, page = browser.launch(profile, offline=True)
        launched = time.perf_counter()
        try:
            page.goto("/", wait_until="commit")
            page.locator("[data-testid=job-row]").nth(TODAY_JOBS - 1).wait_for(timeout=30_000)
            wall = time.perf_counter() - launched
            page.wait_for_timeout(200)
            bench = page.evaluate(READ_BENCH)
            navigation = page.evaluate(NAVIGATION) or {}
            rows = page.get_by_test_id("job-row").count()
            offline = page.evaluate("() => navigator.onLine") is False
            out.cold.append(
                {**bench, "navigation": navigation, "wall": wall * 1000, "rows": rows, "offline": offline}
            )
            out.cold_launch.append((launched - started) * 1000)
        finally:
            context.close()
    phase(f"cold offline starts: {len(out.cold)}")

    # Today online in the logged-in profile (what Lighthouse loads): its layout shifts, in the page.
    for _ in range(min(3, options.cold_starts)):
        context, page = browser.launch(profile)
        try:
            page.goto("/")
            page.locator("[data-testid=job-row]").nth(TODAY_JOBS - 1).wait_for(timeout=30_000)
            page.wait_for_timeout(3000)  # its sync, the custody card
            bench = page.evaluate(READ_BENCH)
            out.online_today.append(
                {"cls": bench["cls"], "shifts": bench["shifts"], "rowsAt": bench["rowsAt"]}
            )
        finally:
            context.close()
    phase(f"Today online: {len(out.online_today)} loads")

    # 4. A local write to its screen.
    if world.on_site_job and world.check_step:
        context, page = browser.launch(profile)
        try:
            page.goto(f"/jobs/{world.on_site_job}/steps")
            page.locator("[data-testid=procedure][data-state=ready]").wait_for(timeout=30_000)
            selector = f'[data-testid=step][data-step-id="{world.check_step}"]'
            step = page.locator(selector)
            current = step.get_attribute("data-result")
            for n in range(options.writes):
                want = ("fail", "pass")[n % 2] if current == "pass" else ("pass", "fail")[n % 2]
                step.get_by_test_id(f"step-{want}").click()
                page.locator(f'{selector}[data-result="{want}"]').wait_for(timeout=10_000)
                page.wait_for_timeout(100)
                out.writes.append(page.evaluate(READ_BENCH)["writes"][-1])
                try:  # its sync (1.5 s after the write) done before the next
                    page.locator(f'{selector}[data-pending="0"]').wait_for(timeout=20_000)
                    out.writes_settled += 1
                except PlaywrightTimeout:  # a slow sync only makes the next write noisier
                    out.notes.append(f"write {n + 1}: its sync had not finished after 20 s")
        finally:
            context.close()
        phase(f"local writes: {len(out.writes)}")
    else:
        out.notes.append("no on-site job with a check-only step for tech1: the local write was not measured")

    # 5. The first pull of the 5,000-record scope.
    for n in range(options.first_pulls):
        context, page = browser.launch(browser.profile(f"pull-{n}"))
        try:
            page.goto("/")
            page.get_by_test_id("login-form").wait_for()
            page.wait_for_load_state("networkidle")
            _login(page, SCOPE_TECH)
            end, count = _wait_synced(page, world.scope_records)
            bench = page.evaluate(READ_BENCH)
            pulls = page.evaluate(PULLS)
            out.pulls.append(
                {
                    "submitAt": bench["submitAt"],
                    "end": end,
                    "count": count,
                    "pages": pulls,
                    "problem": _problem(page),
                }
            )
        finally:
            context.close()
    phase(f"first pulls: {len(out.pulls)}")
    return profile


# ---------------------------------------------------------------------------------------------------
# 2. Lighthouse


def _chromium_on(profile: Path) -> tuple[subprocess.Popen, int]:
    """Chromium headless on ``profile`` with a debugging port (for Lighthouse to attach to)."""
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            *CHROMIUM_FLAGS,
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if found:
            return process, int(found.group(1))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("Chromium did not open its debugging port")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def lighthouse(url: str, workdir: Path, *, port: int | None = None) -> dict[str, Any]:
    if not LIGHTHOUSE.is_file():
        raise RuntimeError("Lighthouse is not installed: cd bench/lighthouse && npm ci")
    report = workdir / f"lighthouse-{uuid.uuid4().hex[:8]}.json"
    command = [
        "node",
        str(LIGHTHOUSE),
        url,
        "--output=json",
        f"--output-path={report}",
        "--only-categories=performance,accessibility,best-practices",
        "--quiet",
    ]
    if port:
        command += [f"--port={port}", "--disable-storage-reset"]
    else:
        command.append(f"--chrome-flags={LIGHTHOUSE_CHROME_FLAGS}")
    done = subprocess.run(
        command, env={**os.environ, "CHROME_PATH": CHROMIUM}, capture_output=True, text=True, timeout=300
    )
    if done.returncode or not report.is_file():
        raise RuntimeError(f"lighthouse failed ({done.returncode}):\n{done.stderr[-3000:]}")
    data = json.loads(report.read_text())
    if data.get("runtimeError"):
        raise RuntimeError(f"lighthouse: {data['runtimeError']}")
    audits = data["audits"]
    failing: dict[str, dict[str, float]] = {}  # category → audit id → score, for weighted audits below 1
    for category in data["categories"].values():
        for ref in category["auditRefs"]:
            audit = audits.get(ref["id"], {})
            if ref.get("weight") and audit.get("score") is not None and audit["score"] < 1:
                failing.setdefault(category["id"], {})[ref["id"]] = audit["score"]
    metrics = {
        key: audits[key].get("numericValue")
        for key in (
            "first-contentful-paint",
            "largest-contentful-paint",
            "total-blocking-time",
            "cumulative-layout-shift",
            "speed-index",
        )
        if key in audits
    }
    shifts = (audits.get("layout-shifts", {}).get("details") or {}).get("items") or []
    return {
        "dom": (audits.get("dom-size") or {}).get("numericValue"),
        "shifts": [
            f"{(item.get('node') or {}).get('selector') or 'unattributed'} {item.get('score', 0):.3f}"
            for item in shifts[:3]
        ],
        "scores": {k: v["score"] for k, v in data["categories"].items()},
        "failing": failing,
        "metrics": metrics,
        "final_url": data.get("finalDisplayedUrl") or data.get("finalUrl"),
        "version": data.get("lighthouseVersion"),
        "form_factor": data["configSettings"].get("formFactor"),
        "throttling": data["configSettings"].get("throttlingMethod"),
    }


def lighthouse_rows(page_label: str, runs: list[dict[str, Any]]) -> list[Row]:
    rows = []
    if not runs:
        return [
            Row(
                "Lighthouse",
                f"every category: {page_label}",
                0,
                "–",
                "–",
                f"≥ {SCORE_GOAL:.2f}",
                None,
                "not measured: every run failed (see the notes)",
            )
        ]
    first = runs[0]
    for category, short in (
        ("performance", "performance"),
        ("accessibility", "accessibility"),
        ("best-practices", "best practices"),
    ):
        scores = [r["scores"].get(category) for r in runs if r["scores"].get(category) is not None]
        if not scores:
            continue
        median, worst = _median(scores), min(scores)
        if category == "performance":
            m = {k: _median([r["metrics"][k] for r in runs if k in r["metrics"]]) for k in first["metrics"]}
            check = (
                f"FCP {m.get('first-contentful-paint', 0):,.0f} ms, "
                f"LCP {m.get('largest-contentful-paint', 0):,.0f} ms, "
                f"TBT {m.get('total-blocking-time', 0):,.0f} ms, "
                f"CLS {m.get('cumulative-layout-shift', 0):.3f}, "
                f"SI {m.get('speed-index', 0):,.0f} ms (medians); "
                f"DOM {_median([r['dom'] for r in runs if r.get('dom')]):,.0f} elements"
            )
            shifted = list(dict.fromkeys(s for r in runs for s in r["shifts"]))
            if shifted:
                check += f"; layout shifts: {', '.join(shifted[:4])}"
        else:
            check = ""
        below: dict[str, list[float]] = {}
        for r in runs:
            for audit, score in r["failing"].get(category, {}).items():
                below.setdefault(audit, []).append(score)
        if below:
            check = (
                (check + "; " if check else "")
                + "audits below 1 (score, in how many runs): "
                + ", ".join(
                    f"{audit} {min(scores):.2f}"
                    + (f"–{max(scores):.2f}" if max(scores) != min(scores) else "")
                    + f" in {len(scores)}/{len(runs)}"
                    for audit, scores in sorted(below.items())
                )
            )
        rows.append(
            Row(
                "Lighthouse",
                f"{short}: {page_label}",
                len(scores),
                f"{median:.2f}",
                f"{worst:.2f}",
                f"≥ {SCORE_GOAL:.2f}",
                median >= SCORE_GOAL,
                check,
            )
        )
    return rows


def _attempts(label: str, measure, notes: list[str], tries: int = 3) -> dict[str, Any] | None:
    """One Lighthouse run, tried again after a runtime error (NO_NAVSTART and the like happen at times)."""
    for attempt in range(1, tries + 1):
        try:
            return measure()
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            first = str(error).strip().splitlines()
            notes.append(f"Lighthouse on {label}, attempt {attempt}: {first[-1] if first else error}")
    return None


def run_lighthouse(
    base: str, workdir: Path, profile: Path | None, options: Options, phase, notes: list[str]
) -> list[Row]:
    rows: list[Row] = []
    if not LIGHTHOUSE.is_file():
        notes.append("Lighthouse is not installed: `cd bench/lighthouse && npm ci` (or `make bench`)")
        return lighthouse_rows("login page and Today", [])
    runs = [
        _attempts("the login page", lambda: lighthouse(f"{base}/", workdir), notes)
        for _ in range(options.lighthouse_runs)
    ]
    anonymous = [r for r in runs if r]
    if anonymous:
        meta = anonymous[0]
        phase(f"Lighthouse {meta['version']} ({meta['form_factor']}, {meta['throttling']}): login page")
        rows += lighthouse_rows("login page / (fresh profile)", anonymous)
    if profile is not None:

        def today_run() -> dict[str, Any]:
            process, port = _chromium_on(profile)
            try:
                return lighthouse(f"{base}/", workdir, port=port)
            finally:
                _stop(process)

        today = [
            r for r in (_attempts("Today", today_run, notes) for _ in range(options.lighthouse_runs)) if r
        ]
        phase("Lighthouse: Today")
        rows += lighthouse_rows(f"Today / (tech1 logged in, {TODAY_JOBS}+ jobs, warm service worker)", today)
    return rows


# ---------------------------------------------------------------------------------------------------
# The rows of the browser measurements


def browser_rows(world: World, b: Browsed) -> list[Row]:
    rows: list[Row] = []
    if b.cold:
        times = [c["rowsAt"] for c in b.cold if c.get("rowsAt") is not None]
        frames = [c["rowsFrameAt"] for c in b.cold if c.get("rowsFrameAt") is not None]
        walls = [c["wall"] for c in b.cold]
        served = sum(1 for c in b.cold if (c["navigation"] or {}).get("workerStart", 0) > 0)
        offline = sum(1 for c in b.cold if c["offline"])
        rows.append(
            Row(
                "cold offline start",
                f"browser relaunched offline → {TODAY_JOBS} job rows on Today "
                f"({world.tech_open_jobs} open jobs, {world.tech_records:,} records)",
                len(times),
                _ms(_median(times)),
                _ms(max(times)),
                f"< {COLD_GOAL_MS:,} ms",
                max(times) < COLD_GOAL_MS,
                f"in the page from navigation start; next frame {_ms(_median(frames))} median, "
                f"{_ms(max(frames))} max; wall from goto {_ms(_median(walls))}; browser launch "
                f"{_ms(_median(b.cold_launch))} (not counted); shell from the service worker in "
                f"{served}/{len(b.cold)}; "
                f"navigator.onLine false in {offline}/{len(b.cold)}; "
                f"DOMContentLoaded {_ms(_median([c['navigation'].get('dcl', 0) for c in b.cold]))}",
            )
        )
    if b.online_today:
        values = [t["cls"] for t in b.online_today]
        movers: dict[str, float] = {}
        for t in b.online_today:
            for shift in t["shifts"]:
                for source in shift["sources"][:1]:
                    movers[source] = movers.get(source, 0.0) + shift["value"] / len(b.online_today)
        top = sorted(movers.items(), key=lambda kv: -kv[1])[:4]
        rows.append(
            Row(
                "layout shift",
                f"Today online, logged in, warm service worker ({VIEWPORT['width']}×{VIEWPORT['height']})",
                len(values),
                f"CLS {_median(values):.3f}",
                f"CLS {max(values):.3f}",
                "",
                None,
                "PerformanceObserver in the page over load + 3 s (diagnosis for Lighthouse's CLS); "
                + (
                    "biggest movers (first source per shift, mean CLS per load): "
                    + ", ".join(f"{name} {value:.3f}" for name, value in top)
                    if top
                    else "no shifts"
                ),
            )
        )
        if b.cold:
            cold = [c.get("cls", 0.0) for c in b.cold]
            rows[0].check += f"; CLS in the page {_median(cold):.3f} median"
    if b.writes:
        done = [w["doneAt"] - w["at"] for w in b.writes if w.get("doneAt") is not None]
        frames = [w["frameAt"] - w["at"] for w in b.writes if w.get("frameAt") is not None]
        wants = "/".join(w["want"] for w in b.writes)
        rows.append(
            Row(
                "local write",
                f"step {world.check_step!r} pass/fail tap → its data-result on the procedure screen",
                len(done),
                _ms(_median(done)),
                _ms(max(done)),
                f"< {WRITE_GOAL_MS} ms",
                max(done) < WRITE_GOAL_MS,
                f"in the page, click listener → MutationObserver; next frame {_ms(_median(frames))} median, "
                f"{_ms(max(frames))} max; {wants}; each write's sync finished before the next in "
                f"{b.writes_settled}/{len(b.writes)}",
            )
        )
    if b.pulls:
        spans = [(p["end"] - p["submitAt"]) for p in b.pulls]
        counts = [p["count"] for p in b.pulls]
        network = [p["pages"][-1][1] - p["pages"][0][0] for p in b.pulls if p["pages"]]
        first_request = [p["pages"][0][0] - p["submitAt"] for p in b.pulls if p["pages"]]
        rate = _median([c / (s / 1000) for c, s in zip(counts, spans, strict=True)])
        problems = {p["problem"] for p in b.pulls if p["problem"]}
        rows.append(
            Row(
                "first pull",
                f"fresh profile, {SCOPE_TECH} logs in → first sync done "
                f"({world.scope_records:,}-record scope)",
                len(spans),
                _ms(_median(spans)),
                _ms(max(spans)),
                "",
                None,
                f"{rate:,.0f} records/s (median); {min(counts):,} records in IndexedDB; "
                f"login click → first pull request {_ms(_median(first_request))}; "
                f"pull requests span {_ms(_median(network))} "
                f"({len(b.pulls[0]['pages'])} pages)"
                + (f"; problems: {', '.join(problems)}" if problems else ""),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------------
# Entry point


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _snapshot(target: Path) -> Path:
    """A copy of pwa/dist, taken again while it is incomplete (someone's build running)."""
    for _ in range(20):
        shutil.rmtree(target, ignore_errors=True)
        try:
            shutil.copytree(DIST, target)
            parser = _Entry()
            parser.feed((target / "index.html").read_text())
            if (
                parser.scripts
                and (target / "sw.js").is_file()
                and all(_asset(target, url).is_file() for url in parser.scripts)
            ):
                return target
        except (OSError, shutil.Error):
            pass
        time.sleep(3)
    sys.exit("pwa/dist stayed incomplete for a minute: is a build failing? (`cd pwa && npm run build`)")


def run(options: Options) -> tuple[list[Row], list[str], dict[str, Any]]:
    started = time.perf_counter()

    def phase(text: str) -> None:
        print(f"  {time.perf_counter() - started:6.1f} s  {text}", file=sys.stderr)

    if not (DIST / "index.html").is_file():
        sys.exit("pwa/dist is not built: run `make build` (or `cd pwa && npm run build`)")
    workdir = Path(tempfile.mkdtemp(prefix="fieldq-bench-pwa-"))
    dist = _snapshot(workdir / "dist")
    built = datetime.fromtimestamp((DIST / "index.html").stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    info: dict[str, Any] = {"built": built, "sizes": _sizes(dist), "initial": initial_set(dist)}
    notes: list[str] = []
    server = LiveServer(
        None,
        seed=("--demo", "--installed-units", "60"),
        env={"FIELDQ_ACCESS_TOKEN_TTL": "3600", "FIELDQ_PWA_DIST": str(dist)},
        prefix="fieldq-bench-pwa-",
    )
    browsed = Browsed()
    rows: list[Row] = []
    try:
        with server:
            phase(f"server up on {server.base} (demo seeded), pwa/dist of {built} copied")
            world = build_world(server)
            phase(
                f"world: tech1 {world.tech_open_jobs} open jobs, {world.tech_records:,} records; "
                f"tech4 {world.scope_records:,} records"
            )
            browser = Browser(server.base, workdir)
            profile: Path | None = None
            try:
                profile = browse(browser, world, options, browsed, phase)
            finally:
                browser.close()
            rows_lh = run_lighthouse(server.base, workdir, profile, options, phase, notes)
            problems = server.problems()
    except BaseException:
        print(f"  the server's data folder is kept: {server.data}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # browser profiles and the copy of pwa/dist
    rows += js_rows_from(info, browsed.per_role)
    rows += rows_lh
    rows += browser_rows(world, browsed)
    notes += browsed.notes
    if problems:
        notes.append(f"{len(problems)} server error line(s), log kept at {server.log_path}: {problems[:3]}")
    else:
        shutil.rmtree(server.data, ignore_errors=True)
    info["world"] = world
    return rows, notes, info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench pwa", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs; nothing written")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results")
    args = parser.parse_args(argv)
    options = Options.quick_run() if args.quick else Options()
    started = time.perf_counter()
    load_before = _load()
    rows, notes, info = run(options)
    table = markdown_table(rows)
    print(table)
    for note in notes:
        print(f"note: {note}")
    missed = [r for r in rows if r.met is False]
    if missed:
        print(
            f"{len(missed)} row(s) missing a goal: " + "; ".join(f"{r.budget}: {r.scenario}" for r in missed)
        )
    print(f"pwa benchmark: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.no_write or args.quick:
        return
    from bench.inventory import merge_section

    world: World = info["world"]
    body = (
        "## PWA budgets (built PWA served by a live server, Chromium: `python -m bench pwa`)\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load average {load_before} before and "
        f"{_load()} after; pwa/dist built {info['built']}. Chromium "
        f"{_chromium_version()} headless (Playwright for 1 and 3–5, Lighthouse 12.2.3 mobile defaults "
        "for 2). "
        f"tech1: {world.tech_open_jobs} open jobs, {world.tech_records:,} records in scope "
        f"({world.added.get(TECH, 0):,} added in-process); tech4: {world.scope_records:,} records "
        f"({world.added.get(SCOPE_TECH, 0):,} added). Times in the page are performance.now() (cold start: "
        "from navigation start; write: from the click listener; first pull: from the login button's click). "
        "median/worst: scores' median and lowest, times' median and max; a time goal is judged on the max, "
        "a score on the median.\n\n"
        f"{table}\n" + "".join(f"\nNote: {note}\n" for note in notes)
    )
    merge_section(LATEST, "pwa", body)
    COPY.write_text(f"# PWA budgets\n\n{body.split(chr(10), 2)[2].strip()}\n")
    print(f"written to {LATEST.relative_to(ROOT)} and {COPY.relative_to(ROOT)}")


def _chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.search(r"(\d+\.\d+\.\d+\.\d+)", out)
    return found.group(1) if found else "?"


if __name__ == "__main__":
    main()
