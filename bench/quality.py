"""Quality benchmarks: `python -m bench quality` times the indicators and the management review over
~100,000 approved jobs and their evaluations.

The demo company's people (12 technicians in 3 teams and regions, their supervisors, quality and a
manager) get a bulk-loaded history (Core ``insert()`` executemany on a plain connection, no ORM session,
then ANALYZE): 1,200 sites with 6,000 units of 5 models, 100,000 approved jobs over the last 12 months
(maintenance, repairs, installs, inspections; 3 % of the repairs with a follow-up visit), an approval per
job, ~100,000 customer evaluations (sign-off ratings, surveys) and ~10,000 self-assessments, ~3,000
complaints, ~1,000 nonconformances with 2 actions each, ~5,000 callbacks, required trainings and training
records, incentives and spare shortages.

Scenarios, each timed over fresh sessions like one request (median and p95), target < 1 s:

* ``IndicatorService.indicators`` with group=technician and trend=month over the last 12 months, and
  group=region with trend=week;
* ``IndicatorService.review`` (12 months against the 12 before, 12 monthly buckets, worst sites and models,
  open actions) rendered as HTML and as CSV;
* the same through HTTP (Litestar's in-process test client: routing, auth, serialisation).

On SQLite (a temp file) and, with FIELDQ_BENCH_DATABASE_URL, on PostgreSQL (a throwaway database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.models import Role, Team, User
from backend.auth.services import CurrentUser
from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory, import_all_models
from backend.demo import DEMO_PASSWORD, seed_demo
from backend.inventory.models import Asset, Item, Location, SpareShortage
from backend.jobs.models import Approval, Customer, Job, Site, Unit
from backend.quality.indicators.report import render_csv, render_html
from backend.quality.indicators.services import IndicatorService, Period
from backend.quality.models import (
    Callback,
    Complaint,
    Evaluation,
    Incentive,
    Nonconformance,
    QualityAction,
    RequiredTraining,
    TrainingRecord,
)
from backend.settings import Settings
from backend.sync.feed import install_change_recorder
from bench.inventory import LATEST, Database, merge_section, targets_from_env

TARGET_S = 1.0
CHUNK = 5_000
SECRET = "bench-secret-key-" + "x" * 40  # a throwaway key for a throwaway database
MODELS = [
    ("NCR-SS22E", "NCR SelfServ 22e"),
    ("NCR-6634", "NCR 6634"),
    ("HYO-8600", "Hyosung MX8600"),
    ("GRG-H68N", "GRG H68N"),
    ("DIE-CS280", "Diebold CS 280"),
]
JOB_TYPES = [("maintenance", 0.5), ("repair", 0.3), ("inspection", 0.12), ("install", 0.08)]

import_all_models()
install_change_recorder()


@dataclass
class Options:
    jobs: int = 100_000
    runs: int = 10
    http_runs: int = 5


@dataclass
class Row:
    database: str
    scenario: str
    runs: int
    median_s: float
    p95_s: float
    check: str

    def cells(self) -> list[str]:
        if not self.runs:
            return [self.database, self.scenario, "–", "–", "–", "", self.check]
        met = self.median_s < TARGET_S and self.p95_s < TARGET_S
        return [
            self.database,
            self.scenario,
            str(self.runs),
            f"{self.median_s:.3f}",
            f"{self.p95_s:.3f}",
            f"< {TARGET_S:.0f} s {'met ✅' if met else 'MISSED ❌'}",
            self.check,
        ]


HEADER = ["database", "scenario", "runs", "p50 s", "p95 s", "goal", "check"]


def markdown_table(rows: list[Row]) -> str:
    table = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(line)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _synced(**values: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"id": uuid4(), "version": 1, "created_at": now, "updated_at": now, **values}


def _plain(**values: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"id": uuid4(), "created_at": now, "updated_at": now, **values}


JOB_DEFAULTS: dict[str, Any] = {
    "priority": "normal",
    "procedure_id": None,
    "description": "",
    "scheduled_start": None,
    "scheduled_end": None,
    "origin_job_id": None,
    "source": "dispatch",
    "external_ref": None,
    "reported_by": "",
    "reporter_phone": "",
    "created_by_id": None,
    "findings": "",
    "arrival_note": "",
    "departure_note": "",
    "meter_reading": None,
    "arrival_lat": None,
    "arrival_lon": None,
    "arrival_accuracy_m": None,
    "departed_at": None,
    "departure_lat": None,
    "departure_lon": None,
    "departure_accuracy_m": None,
    "closed_at": None,
    "status_reason": "",
}


async def _insert(engine: AsyncEngine, model: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany on a plain connection: no ORM session, so no change feed (these are history)."""
    for start in range(0, len(rows), CHUNK):
        async with engine.begin() as conn:
            await conn.execute(insert(model.__table__), rows[start : start + CHUNK])


async def build(engine: AsyncEngine, options: Options) -> str:
    started = time.perf_counter()
    rng = random.Random(20260101)
    factory = create_session_factory(engine)
    progress("seeding the demo people …")
    await seed_demo(factory, installed_units=0, inventory=False)
    async with factory() as session:
        users = list((await session.execute(select(User))).scalars())
        teams = {t.id: t for t in (await session.execute(select(Team))).scalars()}
    technicians = [u for u in users if u.role == Role.technician]
    quality = next(u for u in users if u.role == Role.quality)
    supervisor = next(u for u in users if u.role == Role.supervisor)
    regions = sorted({t.region for t in teams.values()})

    progress("catalog, 1,200 sites, 6,000 units …")
    items = [
        _synced(
            sku=sku,
            name=name,
            kind="spare_unit",
            tracking="serial",
            unit="ea",
            sizes=[],
            service_kind=None,
            service_interval_days=None,
            loan_days=None,
            is_active=True,
        )
        for sku, name in MODELS
    ]
    customers = [
        _synced(name=f"Bank {c}", code=f"BANK-{c:02d}", contacts=[], is_active=True) for c in range(20)
    ]
    locations, sites, assets, units = [], [], [], []
    units_by_region: dict[str, list[tuple[UUID, UUID, UUID]]] = {r: [] for r in regions}
    for s in range(1200):
        region = regions[s % len(regions)]
        location = _synced(
            kind="site",
            name=f"Branch {s}",
            code=f"LOC-{s:04d}",
            region=region,
            address="",
            user_id=None,
            is_active=True,
        )
        site = _synced(
            customer_id=customers[s % 20]["id"],
            name=f"Branch {s:04d}",
            code=f"S-{s:04d}",
            address="",
            lat=None,
            lon=None,
            region=region,
            access_notes="",
            location_id=location["id"],
        )
        locations.append(location)
        sites.append(site)
        for u in range(5):
            item = items[(s + u) % len(items)] if rng.random() < 0.8 else rng.choice(items)
            asset = _synced(
                item_id=item["id"],
                serial=f"SN-{s:04d}-{u}",
                status="installed",
                condition="ok",
                location_id=location["id"],
                holder_id=None,
                region=region,
                parent_asset_id=None,
                vehicle_location_id=None,
                due_at=None,
                last_serviced_at=None,
                return_due_at=None,
                installed_at=None,
            )
            unit = _synced(
                site_id=site["id"],
                asset_id=asset["id"],
                model=item["name"],
                serial=asset["serial"],
                position="",
                is_active=True,
            )
            assets.append(asset)
            units.append(unit)
            units_by_region[region].append((site["id"], unit["id"], site["customer_id"]))
    for model, rows in (
        (Item, items),
        (Customer, customers),
        (Location, locations),
        (Site, sites),
        (Asset, assets),
        (Unit, units),
    ):
        await _insert(engine, model, rows)

    progress(f"{options.jobs:,} approved jobs over 12 months …")
    now = datetime.now(UTC)
    jobs: list[dict[str, Any]] = []
    repairs: list[dict[str, Any]] = []
    types, weights = zip(*JOB_TYPES, strict=True)
    for n in range(options.jobs):
        tech = technicians[n % len(technicians)]
        region = teams[tech.team_id].region
        site_id, unit_id, customer_id = rng.choice(units_by_region[region])
        created = now - timedelta(days=365 * rng.random() + 2)
        arrived = created + timedelta(hours=rng.uniform(0.5, 8))
        done = arrived + timedelta(hours=rng.uniform(0.5, 6))
        job_type = rng.choices(types, weights)[0]
        row = _synced(
            **JOB_DEFAULTS,
            number=f"B-{n:07d}",
            type=job_type,
            status="approved",
            customer_id=customer_id,
            site_id=site_id,
            unit_id=unit_id,
            respond_by=created + timedelta(hours=4),
            complete_by=created + timedelta(hours=12),
            assignee_id=tech.id,
            team_id=tech.team_id,
            accepted_at=created + timedelta(minutes=20),
            arrived_at=arrived,
            work_done_at=done,
            submitted_at=done + timedelta(minutes=10),
            approved_at=done + timedelta(hours=rng.uniform(1, 30)),
        )
        row["created_at"] = created
        jobs.append(row)
        if job_type == "repair":
            repairs.append(row)
    for origin in rng.sample(repairs, len(repairs) * 3 // 100):
        follow = dict(
            origin,
            id=uuid4(),
            number=f"F-{origin['number'][2:]}",
            type="repair",
            source="follow_up",
            origin_job_id=origin["id"],
        )
        follow["created_at"] = origin["approved_at"] + timedelta(days=1)
        for key in ("arrived_at", "work_done_at", "submitted_at", "approved_at"):
            follow[key] = follow[key] + timedelta(days=2)
        follow["approved_at"] = min(follow["approved_at"], now)
        jobs.append(follow)
    await _insert(engine, Job, jobs)

    progress("approvals and evaluations …")
    approvals, evaluations = [], []
    for job in jobs:
        approvals.append(
            _synced(
                job_id=job["id"],
                decision="approve",
                reason="",
                decided_by=supervisor.id,
                decided_at=job["approved_at"],
                turnaround_seconds=rng.randint(600, 90_000),
            )
        )
        source = "signoff" if rng.random() < 0.9 else "survey"
        overall = rng.choices([1, 2, 3, 4, 5], [3, 5, 12, 35, 45])[0]
        if rng.random() < 0.1:  # a self-assessment too, usually a little kinder than the customer
            evaluations.append(
                _plain(
                    job_id=job["id"],
                    technician_id=job["assignee_id"],
                    team_id=job["team_id"],
                    source="self",
                    source_id=uuid4(),
                    overall=min(5, overall + rng.choice([0, 0, 1])),
                    technical=None,
                    service=None,
                    comment="",
                    evaluated_at=job["work_done_at"],
                    recorded_by_id=None,
                )
            )
        evaluations.append(
            _plain(
                job_id=job["id"],
                technician_id=job["assignee_id"],
                team_id=job["team_id"],
                source=source,
                source_id=uuid4(),
                overall=overall,
                technical=max(1, overall - rng.randint(0, 1)),
                service=min(5, overall + rng.randint(0, 1)),
                comment="",
                evaluated_at=job["work_done_at"],
                recorded_by_id=None,
            )
        )
    await _insert(engine, Approval, approvals)
    await _insert(engine, Evaluation, evaluations)

    progress("complaints, nonconformances, actions, callbacks, trainings …")
    complaints, ncs, actions, callbacks = [], [], [], []
    statuses = ["open", "assigned", "root_cause", "verification", "closed", "closed", "closed", "candidate"]
    for n, job in enumerate(rng.sample(jobs, 3_000)):
        received = job["approved_at"] + timedelta(days=rng.uniform(0, 5))
        complaints.append(
            _plain(
                number=f"CMP-{n:06d}",
                channel="phone",
                severity="medium",
                status="open",
                summary="customer unhappy",
                details="",
                customer_id=job["customer_id"],
                site_id=job["site_id"],
                job_id=job["id"],
                technician_id=job["assignee_id"],
                team_id=job["team_id"],
                source_id=None,
                contact_name="",
                contact_phone="",
                received_at=min(received, now),
                respond_by=received + timedelta(hours=4),
                resolve_by=received + timedelta(days=3),
                acknowledged_at=None,
                resolved_at=None,
                closed_at=None,
                response="",
                resolution="",
                assignee_id=quality.id,
                recorded_by_id=quality.id,
                overdue_notified_at=None,
            )
        )
    for n, job in enumerate(rng.sample(jobs, 1_000)):
        identified = job["approved_at"]
        status = rng.choice(statuses)
        closed = identified + timedelta(days=rng.uniform(2, 40)) if status == "closed" else None
        nc = _plain(
            number=f"NC-{n:06d}",
            source="other",
            source_id=None,
            rule_id=None,
            status=status,
            severity="medium",
            title=f"Nonconformance {n}",
            description="",
            job_id=job["id"],
            technician_id=job["assignee_id"],
            team_id=job["team_id"],
            site_id=job["site_id"],
            unit_id=job["unit_id"],
            complaint_id=None,
            identified_at=identified,
            identified_by_id=quality.id,
            owner_id=quality.id,
            due_at=identified + timedelta(days=30),
            root_cause="",
            root_cause_category="",
            front_line_resolution="",
            verification_job_id=None,
            verification_note="",
            verified_by_id=None,
            verified_at=None,
            closed_at=min(closed, now) if closed else None,
            closed_by_id=None,
            overdue_notified_at=None,
        )
        ncs.append(nc)
        for kind in ("corrective", "preventive"):
            done = status == "closed" or rng.random() < 0.3
            actions.append(
                _plain(
                    nonconformance_id=nc["id"],
                    kind=kind,
                    description=f"{kind} action for NC {n}",
                    owner_id=rng.choice([quality.id, supervisor.id]),
                    due_at=identified + timedelta(days=rng.uniform(5, 45)),
                    status="done" if done else "open",
                    done_at=identified if done else None,
                    done_note="",
                    created_by_id=quality.id,
                    overdue_notified_at=None,
                )
            )
    for n, job in enumerate(rng.sample(jobs, 5_000)):
        due = job["approved_at"] + timedelta(hours=72)
        done = rng.random() < 0.85
        callbacks.append(
            _plain(
                number=f"CB-{n:06d}",
                job_id=job["id"],
                technician_id=job["assignee_id"],
                team_id=job["team_id"],
                policy_id=None,
                reason="job_approved",
                status="done" if done else "open",
                assignee_id=quality.id,
                due_at=due,
                attempts=1,
                reached=True if done else None,
                satisfaction=None,
                rating_technical=None,
                rating_service=None,
                comments="",
                done_at=due + timedelta(hours=rng.uniform(-70, 20)) if done else None,
                done_by_id=quality.id if done else None,
                overdue_notified_at=None,
            )
        )
    required = [_plain(job_type=t, course=f"{t} certificate", category="technical") for t, _w in JOB_TYPES]
    trainings = [
        _plain(
            user_id=tech.id,
            category="technical",
            course=f"{t} certificate",
            completed_on=date.today() - timedelta(days=rng.randint(30, 700)),
            passed=rng.random() < 0.95,
            score=None,
            expires_on=date.today() + timedelta(days=rng.randint(-60, 400)),
            notes="",
            recorded_by_id=quality.id,
        )
        for tech in technicians
        for t, _w in JOB_TYPES
    ]
    incentives = [
        _plain(
            user_id=rng.choice(technicians).id,
            kind="reward",
            points=rng.randint(1, 10),
            amount_cents=None,
            currency="CNY",
            reason="praise",
            evidence_type="other",
            evidence_id=None,
            awarded_by_id=quality.id,
            awarded_at=now - timedelta(days=rng.uniform(0, 365)),
        )
        for _ in range(500)
    ]
    shortages = [
        _plain(
            item_id=item["id"],
            region=region,
            shortage=rng.randint(1, 4),
            required=6,
            serviceable=3,
            opened_at=now,
            closed_at=None,
        )
        for item in items[:3]
        for region in regions
    ]
    for model, rows in (
        (Complaint, complaints),
        (Nonconformance, ncs),
        (QualityAction, actions),
        (Callback, callbacks),
        (RequiredTraining, required),
        (TrainingRecord, trainings),
        (Incentive, incentives),
        (SpareShortage, shortages),
    ):
        await _insert(engine, model, rows)
    async with engine.begin() as conn:  # what autovacuum/ANALYZE would know on a live server
        await conn.execute(text("ANALYZE"))
    seconds = time.perf_counter() - started
    return (
        f"{seconds:.1f} s: {len(jobs):,} jobs ({len(repairs):,} repairs), {len(evaluations):,} evaluations, "
        f"{len(complaints):,} complaints, {len(ncs):,} NCs, {len(actions):,} actions, "
        f"{len(callbacks):,} callbacks"
    )


async def timed(runs: int, call: Callable[[], Awaitable[str]]) -> tuple[list[float], str]:
    await call()  # warm-up: statement caches, imports
    times, check = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        check = await call()
        times.append(time.perf_counter() - started)
    return times, check


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


SLOW_STATEMENT_S = 0.1


def log_slow_statements(engine: AsyncEngine) -> None:
    """Print every statement slower than 100 ms (the first line of it) while timing, to see where it goes."""
    started: dict[int, float] = {}

    def before(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        started[id(context)] = time.perf_counter()

    def after(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        elapsed = time.perf_counter() - started.pop(id(context), time.perf_counter())
        if elapsed > SLOW_STATEMENT_S:
            progress(f"    slow statement {elapsed:.3f} s: {' '.join(statement.split())[:160]}")

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)


async def run_service(engine: AsyncEngine, label: str, options: Options, period: Period) -> list[Row]:
    factory = create_session_factory(engine)
    log_slow_statements(engine)
    async with factory() as session:
        manager = (await session.execute(select(User).where(User.username == "manager"))).scalar_one()
    current = CurrentUser.acting_as(manager)
    rows = []

    async def indicators(group: str, trend: str) -> str:
        async with factory() as session:
            result = await IndicatorService(session).indicators(current, period, group, trend)
        total = sum(r.values["jobs"] or 0 for r in result.rows)
        return f"{len(result.rows)} rows × {len(result.rows[0].trend)} buckets, {total:,} jobs"

    async def review(kind: str) -> str:
        async with factory() as session:
            result = await IndicatorService(session).review(current, period)
        body = render_html(result) if kind == "html" else render_csv(result)
        return (
            f"{len(body):,} bytes, {result.headline['jobs']:,} jobs, satisfaction "
            f"{result.headline['satisfaction_avg']}, {len(result.worst_sites)} worst sites"
        )

    for scenario, call in (
        (
            "indicators group=technician trend=month, 12 months (service)",
            lambda: indicators("technician", "month"),
        ),
        ("indicators group=region trend=week, 12 months (service)", lambda: indicators("region", "week")),
        ("management review, HTML (service + render)", lambda: review("html")),
        ("management review, CSV (service + render)", lambda: review("csv")),
    ):
        progress(scenario)
        times, check = await timed(options.runs, call)
        rows.append(Row(label, scenario, len(times), statistics.median(times), p95(times), check))
        progress(f"    p50 {rows[-1].median_s:.3f} s, p95 {rows[-1].p95_s:.3f} s: {check}")
    return rows


def run_http(database_url: str, label: str, options: Options, period: Period) -> list[Row]:
    from litestar.testing import TestClient

    from backend.app import create_app

    rows = []
    with tempfile.TemporaryDirectory(prefix="fieldq-bench-quality-") as tmp:
        settings = Settings(
            env="dev",
            data_dir=Path(tmp),
            database_url=database_url,
            secret_key=SECRET,
            secret_key_source="env",  # noqa: S106 (where the key came from, not a password)
        )
        with TestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as client:
            login = client.post("/api/auth/login", json={"username": "manager", "password": DEMO_PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            params = {"from": period.start.isoformat(), "to": period.end.isoformat()}
            for scenario, url, extra in (
                (
                    "GET /api/quality/indicators?group=technician&trend=month",
                    "/api/quality/indicators",
                    {"group": "technician", "trend": "month"},
                ),
                ("GET /api/quality/review (HTML)", "/api/quality/review", {}),
                ("GET /api/quality/review?format=csv", "/api/quality/review", {"format": "csv"}),
            ):
                progress(scenario)
                times, size = [], 0
                for run in range(options.http_runs + 1):
                    started = time.perf_counter()
                    response = client.get(url, headers=headers, params={**params, **extra})
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"{scenario}: {response.status_code} {response.text[:300]}")
                    size = len(response.content)
                    if run:  # the first is the warm-up
                        times.append(elapsed)
                rows.append(
                    Row(
                        label,
                        scenario,
                        len(times),
                        statistics.median(times),
                        p95(times),
                        f"200, {size:,} bytes",
                    )
                )
    return rows


async def run_database(database: Database, options: Options) -> list[Row]:
    label = "postgresql" if database.is_postgres else "sqlite"
    engine = create_async_db_engine(Settings(database_url=database.url))
    today = datetime.now(UTC).date()
    period = Period(today - timedelta(days=365) + timedelta(days=1), today + timedelta(days=1))
    try:
        check = await build(engine, options)
        rows = [
            Row(
                label,
                f"load {options.jobs:,} approved jobs and their quality records (Core inserts)",
                0,
                0,
                0,
                check,
            )
        ]
        rows.extend(await run_service(engine, label, options, period))
    finally:
        await engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench quality", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 jobs, 3 runs")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    args = parser.parse_args(argv)
    options = Options(jobs=10_000, runs=3, http_runs=2) if args.quick else Options()
    rows: list[Row] = []
    today = datetime.now(UTC).date()
    period = Period(today - timedelta(days=365) + timedelta(days=1), today + timedelta(days=1))
    for label, url in targets_from_env():
        if args.only and label != args.only:
            continue
        print(f"quality benchmark on {label} …", file=sys.stderr)
        started = time.perf_counter()
        with Database(label, url) as database:
            rows.extend(asyncio.run(run_database(database, options)))
            try:
                rows.extend(run_http(database.url, label, options, period))
            except Exception as exc:  # the app failed to start: say so in the table, keep the service rows
                rows.append(
                    Row(label, "HTTP scenarios", 0, 0, 0, f"not run: {type(exc).__name__}: {exc}"[:120])
                )
        print(f"  {label} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    table = markdown_table(rows)
    print(table)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load average {load} at the end"
    merge_section(
        LATEST,
        "quality",
        "## Quality indicators and the management review (in-process: `python -m bench quality`)\n\n"
        f"{stamp}. {options.runs} runs per service scenario (each in a fresh session like one request), "
        f"{options.http_runs} per HTTP scenario, after a warm-up; period: the last 12 months "
        f"({period.start} to {period.end}, exclusive); goal < 1 s for the median and the p95.\n\n{table}\n",
    )


if __name__ == "__main__":
    main()
