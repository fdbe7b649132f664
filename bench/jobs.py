"""Jobs benchmarks: `python -m bench jobs` measures the reads the API makes over a large jobs table.

A company of ~2,000 technicians in 100 teams with ~100,000 jobs is bulk-loaded (``insert_synced_rows``,
with feed rows, then ANALYZE): per technician ~44 approved jobs over the last 180 days, a few cancelled
or disputed, one awaiting approval (2 %), and today's and the coming days' open work (on site, accepted,
assigned); per team a few new unassigned requests. The jobs awaiting approval carry their evidence (a
12-step checklist, logs, photos and a sealed customer sign-off whose hash verifies), as the queue shows it.

Scenarios, each ≥ 30 runs in a fresh session like one request, timed as median and p95:

* a supervisor's approval queue: ``JobViews.approval_queue`` (the team's jobs awaiting approval, first
  page of 20 with their evidence and the sign-off check), rotating over the supervisors;
* a technician's job list: ``JobViews.my_jobs`` (open jobs due by the end of the next 7 days, today's
  first, in Asia/Shanghai), rotating over the technicians.

Target < 50 ms each. A missed target prints the query plans (EXPLAIN) of the statements that scenario
sends; ``--explain`` prints them anyway. On SQLite (a temp file) and, with FIELDQ_BENCH_DATABASE_URL, on
PostgreSQL (a throwaway database).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.auth.models import Role, Team, TeamSupervisor, User
from backend.auth.services import CurrentUser
from backend.auth.tokens import derive_key
from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory, import_all_models
from backend.inventory.models import Asset, AssetStatus, Item, ItemKind, Location, LocationKind, Tracking
from backend.jobs.models import (
    Attachment,
    Blob,
    Customer,
    Job,
    JobLog,
    JobStatus,
    JobStep,
    Procedure,
    Signoff,
    Site,
    Unit,
)
from backend.jobs.record import canonical_record, record_hash, seal, signed_payload
from backend.jobs.services import JobService, step_attachment_id, step_row_id
from backend.settings import Settings
from backend.sync.feed import insert_synced_rows, install_change_recorder
from bench.inventory import LATEST, RESULTS_DIR, Database, merge_section, targets_from_env

JOBS_RESULTS = RESULTS_DIR / "jobs.md"
TARGET_MS = 50.0
LOCAL = ZoneInfo("Asia/Shanghai")
SECRET = "bench-secret-key-" + "x" * 40  # a throwaway key for a throwaway database
NO_LOGIN = "x"  # benchmark users never log in: a placeholder, not a hash of anything
CHUNK = 10_000

import_all_models()
install_change_recorder()


@dataclass
class Options:
    technicians: int = 2000
    teams: int = 100
    jobs_per_technician: int = 50
    requests_per_team: int = 5
    runs: int = 40
    explain: bool = False


@dataclass
class Row:
    database: str
    scenario: str
    runs: int
    median_ms: float
    p95_ms: float
    statements: float
    met: bool | None
    check: str
    sql_ms: float = 0.0  # median time per run inside the driver's execute

    def cells(self) -> list[str]:
        verdict = "" if self.met is None else ("met ✅" if self.met else "MISSED ❌")
        return [
            self.database,
            self.scenario,
            str(self.runs) if self.runs else "–",
            f"{self.median_ms:.1f}" if self.runs else "–",
            f"{self.p95_ms:.1f}" if self.runs else "–",
            f"{self.statements:.0f}" if self.runs else "–",
            f"{self.sql_ms:.1f}" if self.runs else "–",
            f"< {TARGET_MS:.0f} ms {verdict}" if self.met is not None else "",
            self.check,
        ]


HEADER = ["database", "scenario", "runs", "median ms", "p95 ms", "SQL/run", "in SQL ms", "target", "check"]


def markdown_table(rows: list[Row]) -> str:
    table = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(line)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


class StatementLog:
    """The statements an engine sends (with their parameters), to count them and EXPLAIN them, and the
    time spent inside the driver's execute (the database's share of a run, with the round trip)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.recording = False
        self.statements: list[tuple[str, Any]] = []
        self.count = 0
        self.seconds = 0.0
        self._started: dict[int, float] = {}
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
    ) -> None:
        self.count += 1
        self._started[id(context)] = time.perf_counter()
        if self.recording:
            self.statements.append((statement, parameters))

    def _after(
        self, _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        self.seconds += time.perf_counter() - self._started.pop(id(context), time.perf_counter())


# ---------------------------------------------------------------------------------------------------
# The company and its jobs


@dataclass
class World:
    supervisors: list[User] = field(default_factory=list)
    technicians: list[User] = field(default_factory=list)
    jobs: int = 0
    awaiting: int = 0
    seconds: float = 0.0


def _row(**values: Any) -> dict[str, Any]:
    return {"id": uuid4(), **values}


PM_STEPS = [
    {
        "id": f"s{n:02d}",
        "title": f"Step {n}",
        "instructions": "",
        "requires": ["photo"] if n in (5, 8) else ["reading"] if n in (6, 7) else ["check"],
        "reading_unit": "V DC" if n in (6, 7) else "",
        "reading_min": 12.0 if n in (6, 7) else None,
        "reading_max": 13.8 if n in (6, 7) else None,
        "key_moment": n in (0, 9, 11),
        "monitoring_point": n == 8,
        "mandatory": True,
    }
    for n in range(12)
]
PHOTO = "a" * 64
SIGNATURE = "b" * 64


def _job_row(**values: Any) -> dict[str, Any]:
    """Every column of a job row (a multi-row insert names them all)."""
    row = {
        "priority": "normal",
        "unit_id": None,
        "description": "Quarterly preventive maintenance",
        "respond_by": None,
        "complete_by": None,
        "origin_job_id": None,
        "source": "dispatch",
        "external_ref": None,
        "reported_by": "",
        "reporter_phone": "",
        "findings": "",
        "arrival_note": "",
        "departure_note": "",
        "meter_reading": None,
        "accepted_at": None,
        "arrived_at": None,
        "arrival_lat": None,
        "arrival_lon": None,
        "arrival_accuracy_m": None,
        "departed_at": None,
        "departure_lat": None,
        "departure_lon": None,
        "departure_accuracy_m": None,
        "work_done_at": None,
        "submitted_at": None,
        "approved_at": None,
        "closed_at": None,
        "status_reason": "",
        "scheduled_start": None,
        "scheduled_end": None,
        "assignee_id": None,
    }
    row.update(values)
    return row


async def load(factory: async_sessionmaker[AsyncSession], options: Options) -> World:
    started = time.perf_counter()
    now = datetime.now(UTC)
    today = datetime.now(LOCAL).replace(hour=8, minute=30, second=0, microsecond=0).astimezone(UTC)
    world = World()
    seal_key = derive_key(SECRET, "signoff-seal")
    async with factory() as session:
        manager = _row(username="bench-manager", display_name="Bench Manager", role=Role.manager)
        teams = [_row(name=f"Team {t:03d}", region=f"Region {t % 10}") for t in range(options.teams)]
        await insert_synced_rows(session, Team, teams)
        supervisors = [
            _row(
                username=f"sup{t:03d}",
                display_name=f"Supervisor {t}",
                role=Role.supervisor,
                team_id=team["id"],
            )
            for t, team in enumerate(teams)
        ]
        technicians = [
            _row(
                username=f"tech{n:05d}",
                display_name=f"Technician {n}",
                role=Role.technician,
                team_id=teams[n % options.teams]["id"],
            )
            for n in range(options.technicians)
        ]
        people = [manager, *supervisors, *technicians]
        for person in people:
            person.setdefault("team_id", None)
            person |= {
                "locale": "zh-CN",
                "password_hash": NO_LOGIN,
                "is_active": True,
                "must_change_password": False,
                "password_changed_at": None,
            }
        await insert_synced_rows(session, User, people)
        await session.execute(
            insert(TeamSupervisor.__table__),
            [
                {"team_id": team["id"], "user_id": sup["id"]}
                for team, sup in zip(teams, supervisors, strict=True)
            ],
        )
        customer = _row(name="Bench Bank", code="BANK", contacts=[], is_active=True)
        await insert_synced_rows(session, Customer, [customer])
        item = _row(
            sku="ATM-BENCH",
            name="Bench ATM",
            kind=ItemKind.spare_unit,
            tracking=Tracking.serial,
            unit="ea",
            sizes=[],
            is_active=True,
        )
        await insert_synced_rows(session, Item, [item])
        # Two sites per team, two ATMs per site.
        locations, sites, assets, units = [], [], [], []
        for t, team in enumerate(teams):
            for s in range(2):
                location = _row(
                    kind=LocationKind.site,
                    name=f"Branch {t}-{s}",
                    code=f"BR-{t:03d}-{s}",
                    region=team["region"],
                    address="",
                    user_id=None,
                    is_active=True,
                )
                site = _row(
                    customer_id=customer["id"],
                    name=location["name"],
                    code=location["code"],
                    address="1 Bench Road",
                    lat=31.2,
                    lon=121.5,
                    region=team["region"],
                    access_notes="",
                    location_id=location["id"],
                )
                locations.append(location)
                sites.append(site)
                for u in range(2):
                    asset = _row(
                        item_id=item["id"],
                        serial=f"ATM-{t:03d}{s}{u}",
                        status=AssetStatus.installed,
                        condition="ok",
                        location_id=location["id"],
                        region=team["region"],
                        installed_at=now,
                    )
                    assets.append(asset)
                    units.append(
                        _row(
                            site_id=site["id"],
                            asset_id=asset["id"],
                            model=item["name"],
                            serial=asset["serial"],
                            position="Lobby",
                            is_active=True,
                        )
                    )
        await insert_synced_rows(session, Location, locations)
        await insert_synced_rows(session, Site, sites)
        await insert_synced_rows(session, Asset, assets)
        await insert_synced_rows(session, Unit, units)
        procedure = _row(
            code="ATM-PM",
            revision=1,
            job_type="maintenance",
            name="ATM preventive maintenance",
            item_id=None,
            steps=PM_STEPS,
            is_current=True,
            published_by_id=manager["id"],
        )
        await insert_synced_rows(session, Procedure, [procedure])
        await session.execute(
            insert(Blob.__table__),
            [
                {
                    "sha256": sha,
                    "content_type": kind,
                    "size_bytes": 1000,
                    "width": 640,
                    "height": 480,
                    "captured_at": None,
                    "gps_lat": None,
                    "gps_lon": None,
                    "uploaded_by_id": None,
                    "uploaded_at": now,
                }
                for sha, kind in ((PHOTO, "image/jpeg"), (SIGNATURE, "image/png"))
            ],
        )
        await session.commit()

    team_units: dict[UUID, list[dict]] = {}
    for unit, site in zip(units, [s for s in sites for _ in range(2)], strict=True):
        team_units.setdefault(site["id"], []).append(unit)
    site_of_team = {
        team["id"]: [
            s for s in sites if s["region"] == team["region"] and s["code"].startswith(f"BR-{t:03d}")
        ]
        for t, team in enumerate(teams)
    }

    number = 0
    jobs: list[dict] = []
    evidence: dict[str, list[dict]] = {"steps": [], "logs": [], "attachments": [], "signoffs": []}

    def add(**values: Any) -> dict:
        nonlocal number
        number += 1
        team_id = values["team_id"]
        site = site_of_team[team_id][number % 2]
        unit = team_units[site["id"]][number % 2]
        row = _job_row(
            **{
                "id": uuid4(),
                "number": f"B{number:07d}",
                "type": "maintenance",
                "customer_id": customer["id"],
                "site_id": site["id"],
                "unit_id": unit["id"],
                "procedure_id": procedure["id"],
                "created_by_id": values.pop("created_by", None),
                **values,
            }
        )
        jobs.append(row)
        return row

    # Per technician: one job awaiting approval (2 %), today's and the next days' open work, a few
    # cancelled or disputed, and the rest approved over the last 180 days.
    open_plan = [
        (0, JobStatus.on_site),
        (0, JobStatus.accepted),
        (0, JobStatus.assigned),
        (1, JobStatus.accepted),
        (2, JobStatus.assigned),
    ]
    for n, tech in enumerate(technicians):
        lead = supervisors[n % options.teams]["id"]
        for slot, (day, status) in enumerate(open_plan):
            start = today + timedelta(days=day, hours=2 * slot)
            add(
                status=status,
                team_id=tech["team_id"],
                assignee_id=tech["id"],
                scheduled_start=start,
                scheduled_end=start + timedelta(hours=1),
                created_by=lead,
            )
        submitted = now - timedelta(hours=1 + n % 30)
        awaiting = add(
            status=JobStatus.awaiting_approval,
            team_id=tech["team_id"],
            assignee_id=tech["id"],
            scheduled_start=submitted - timedelta(hours=2),
            scheduled_end=submitted - timedelta(hours=1),
            arrived_at=submitted - timedelta(hours=2),
            work_done_at=submitted - timedelta(minutes=5),
            submitted_at=submitted,
            findings="Machine in good order",
            created_by=lead,
        )
        _evidence(awaiting, tech["id"], submitted, evidence, seal_key)
        for k in range(options.jobs_per_technician - len(open_plan) - 1):
            start = today - timedelta(days=1 + (k * 180) // options.jobs_per_technician, hours=k % 5)
            status = (
                JobStatus.cancelled
                if k % 23 == 7
                else JobStatus.disputed
                if k % 97 == 3
                else JobStatus.approved
            )
            add(
                status=status,
                team_id=tech["team_id"],
                assignee_id=tech["id"],
                scheduled_start=start,
                scheduled_end=start + timedelta(hours=1),
                arrived_at=start,
                work_done_at=start + timedelta(minutes=50),
                submitted_at=start + timedelta(hours=1),
                approved_at=start + timedelta(hours=3) if status == JobStatus.approved else None,
                closed_at=start + timedelta(hours=3),
                created_by=lead,
            )
    for t, team in enumerate(teams):
        for _ in range(options.requests_per_team):
            add(
                status=JobStatus.new,
                type="repair",
                team_id=team["id"],
                source="request",
                reported_by="Branch manager",
                reporter_phone="13800000000",
                created_by=supervisors[t]["id"],
            )

    async with factory() as session:
        for first in range(0, len(jobs), CHUNK):
            await insert_synced_rows(session, Job, jobs[first : first + CHUNK])
        for model, rows in (
            (JobStep, evidence["steps"]),
            (JobLog, evidence["logs"]),
            (Attachment, evidence["attachments"]),
            (Signoff, evidence["signoffs"]),
        ):
            for first in range(0, len(rows), CHUNK):
                await insert_synced_rows(session, model, rows[first : first + CHUNK])
        await session.commit()
    async with factory() as session:  # what autovacuum/ANALYZE would know on a live server
        await session.execute(text("ANALYZE"))
        await session.commit()
        world.supervisors = list(await session.scalars(select(User).where(User.role == Role.supervisor)))
        world.technicians = list(await session.scalars(select(User).where(User.role == Role.technician)))
        world.jobs = await session.scalar(select(func.count()).select_from(Job))
        world.awaiting = await session.scalar(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.awaiting_approval)
        )
    world.seconds = time.perf_counter() - started
    return world


def _evidence(
    job: dict, tech_id: UUID, submitted: datetime, out: dict[str, list[dict]], seal_key: bytes
) -> None:
    """A finished checklist, two time logs and a note, the step photos and the customer's sealed sign-off,
    hashed over the same canonical record the service would have signed."""
    steps, logs, attachments = [], [], []
    for index, spec in enumerate(PM_STEPS):
        photo = "photo" in spec["requires"]
        reading = "reading" in spec["requires"]
        steps.append(
            {
                "id": step_row_id(job["id"], spec["id"]),
                "job_id": job["id"],
                "step_id": spec["id"],
                "result": "pass",
                "value": 12.8 if reading else None,
                "in_range": True if reading else None,
                "note": "",
                "blobs": [PHOTO] if photo else [],
                "completed_by_id": tech_id,
                "client_time": submitted - timedelta(minutes=60 - 4 * index),
            }
        )
        if photo:
            attachments.append(
                {
                    "id": step_attachment_id(job["id"], spec["id"], PHOTO),
                    "job_id": job["id"],
                    "blob": PHOTO,
                    "step_id": spec["id"],
                    "caption": spec["title"],
                    "author_id": tech_id,
                    "client_time": submitted - timedelta(minutes=30),
                }
            )
    for kind, text_, minutes in (
        ("time", "Travel", 25),
        ("time", "On-site work", 60),
        ("note", "All good", None),
    ):
        logs.append(
            {
                "id": uuid4(),
                "job_id": job["id"],
                "kind": kind,
                "text": text_,
                "minutes": minutes,
                "value": None,
                "author_id": tech_id,
                "client_time": submitted - timedelta(minutes=5),
            }
        )
    as_objects = [SimpleNamespace(**row) for row in (*steps, *logs, *attachments)]
    record = canonical_record(
        SimpleNamespace(**job),
        as_objects[: len(steps)],
        as_objects[len(steps) : len(steps) + len(logs)],
        as_objects[len(steps) + len(logs) :],
        [],
    )
    fields = {
        "signer_name": "Branch manager",
        "signature_blob": SIGNATURE,
        "accepted": True,
        "rating": 5,
        "rating_technical": 5,
        "rating_service": 4,
        "comment": "",
        "signed_at": submitted,
    }
    digest = record_hash(signed_payload(record, fields))
    out["steps"].extend(steps)
    out["logs"].extend(logs)
    out["attachments"].extend(attachments)
    out["signoffs"].append(
        {
            "id": uuid4(),
            "job_id": job["id"],
            "lat": None,
            "lon": None,
            "accuracy_m": None,
            "recorded_by_id": tech_id,
            "snapshot": record,
            "hash": digest,
            "seal": seal(seal_key, digest),
            **fields,
        }
    )


# ---------------------------------------------------------------------------------------------------
# Measuring


Read = Callable[[AsyncSession, int], Awaitable[str]]


def _views():
    from backend.jobs.views import JobViews

    return JobViews


def approval_queue(world: World) -> Read:
    views = _views()

    async def read(session: AsyncSession, run: int) -> str:
        supervisor = CurrentUser.acting_as(world.supervisors[run % len(world.supervisors)])
        page = await views(session, JobService(session, SECRET)).approval_queue(supervisor, limit=20)
        verified = sum(1 for item in page.items if item.verification and item.verification.valid)
        steps = sum(len(item.steps) for item in page.items)
        return f"{len(page.items)} of {page.total} jobs, {steps} steps, {verified} sign-offs verified"

    return read


def technician_list(world: World) -> Read:
    views = _views()

    async def read(session: AsyncSession, run: int) -> str:
        technician = CurrentUser.acting_as(world.technicians[(run * 37) % len(world.technicians)])
        jobs = await views(session, JobService(session, SECRET)).my_jobs(
            technician, tz="Asia/Shanghai", days=7
        )
        return f"{len(jobs)} open jobs"

    return read


async def measure(
    label: str,
    scenario: str,
    factory: async_sessionmaker[AsyncSession],
    log: StatementLog,
    read: Read,
    runs: int,
    explain: bool,
    is_postgres: bool,
) -> tuple[Row, str]:
    for warm in range(3):  # the pool, the statement caches
        async with factory() as session:
            await read(session, warm)
    gc.collect()  # not the loader's garbage: a server process would not carry it
    times, checks, in_sql = [], [], []
    before = log.count
    for run in range(runs):
        async with factory() as session:
            sql_before = log.seconds
            started = time.perf_counter()
            checks.append(await read(session, run))
            times.append((time.perf_counter() - started) * 1000)
            in_sql.append((log.seconds - sql_before) * 1000)
    statements = (log.count - before) / runs
    ordered = sorted(times)
    median = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    met = median < TARGET_MS and p95 < TARGET_MS
    plans = ""
    if explain or not met:
        plans = await explain_plans(label, scenario, factory, log, read, is_postgres)
    row = Row(label, scenario, runs, median, p95, statements, met, checks[-1], statistics.median(in_sql))
    return row, plans


async def explain_plans(
    label: str,
    scenario: str,
    factory: async_sessionmaker[AsyncSession],
    log: StatementLog,
    read: Read,
    is_postgres: bool,
) -> str:
    """The plan of every statement one run of the scenario sends."""
    log.statements.clear()
    log.recording = True
    try:
        async with factory() as session:
            await read(session, 1)
    finally:
        log.recording = False
    recorded = list(log.statements)
    out = [f"### {label}: {scenario}: {len(recorded)} statements\n"]
    async with factory() as session:
        connection = await session.connection()
        for statement, parameters in recorded:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if is_postgres else "EXPLAIN QUERY PLAN "
            result = await connection.exec_driver_sql(prefix + statement, parameters)
            rows = result.all()
            plan = (
                "\n".join(str(r[0]) for r in rows)
                if is_postgres
                else "\n".join(f"{'  ' * (r[1] != 0)}{r[3]}" for r in rows)
            )
            out.append("```sql\n" + " ".join(statement.split())[:600] + "\n```\n```\n" + plan + "\n```\n")
    return "\n".join(out)


async def run_database(database: Database, options: Options) -> tuple[list[Row], list[str]]:
    label = "postgresql" if database.is_postgres else "sqlite"
    engine = create_async_db_engine(Settings(database_url=database.url))
    log = StatementLog(engine)
    factory = create_session_factory(engine)
    rows: list[Row] = []
    plans: list[str] = []
    try:
        world = await load(factory, options)
        rows.append(
            Row(
                label,
                f"load {world.jobs:,} jobs, {len(world.technicians):,} technicians, "
                f"{len(world.supervisors)} teams (insert_synced_rows)",
                0,
                0.0,
                0.0,
                0,
                None,
                f"{world.seconds:.1f} s; {world.awaiting:,} awaiting approval "
                f"({world.awaiting / world.jobs:.1%})",
            )
        )
        for scenario, read in (
            (
                "supervisor's approval queue: first 20 with evidence (JobViews.approval_queue)",
                approval_queue(world),
            ),
            ("technician's open jobs, today and the next 7 days (JobViews.my_jobs)", technician_list(world)),
        ):
            try:
                row, plan = await measure(
                    label, scenario, factory, log, read, options.runs, options.explain, database.is_postgres
                )
            except Exception as exc:  # a failed scenario is a failed row; the others still run
                row, plan = (
                    Row(label, scenario, 0, 0.0, 0.0, 0, False, f"✗ {type(exc).__name__}: {exc}"[:200]),
                    "",
                )
            rows.append(row)
            if plan:
                plans.append(plan)
    finally:
        await engine.dispose()
    return rows, plans


def run(options: Options, only: str | None = None) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    plans: list[str] = []
    for label, url in targets_from_env():
        if only and label != only:
            continue
        print(f"jobs benchmark on {label} …", file=sys.stderr)
        started = time.perf_counter()
        with Database(label, url) as database:
            more_rows, more_plans = asyncio.run(run_database(database, options))
        rows.extend(more_rows)
        plans.extend(more_plans)
        print(f"  {label} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows, plans


def write_results(rows: list[Row], options: Options) -> None:
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load average {load_avg} at the end"
    body = (
        "## Jobs (reads over a large jobs table, in-process: `python -m bench jobs`)\n\n"
        f"{stamp}. {options.runs} runs per scenario, each in a fresh session like one request; "
        f"target < {TARGET_MS:.0f} ms for the median and the p95. SQL/run = statements per run; in SQL ms = "
        "median time per run inside the driver's execute (the rest is Python: ORM rows, evidence, the "
        "sign-off hash check).\n\n"
        f"{markdown_table(rows)}\n"
    )
    JOBS_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    JOBS_RESULTS.write_text(f"# Jobs benchmark results\n\n{body}")
    merge_section(LATEST, "jobs", body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench jobs", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 technicians (~10,000 jobs), 10 runs")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--runs", type=int, default=Options.runs, help="runs per scenario (≥ 30)")
    parser.add_argument(
        "--explain", action="store_true", help="print the query plans even when targets are met"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results files")
    args = parser.parse_args(argv)
    options = Options(runs=args.runs, explain=args.explain)
    if args.quick:
        options = Options(technicians=200, teams=10, runs=10, explain=args.explain)
    rows, plans = run(options, args.only)
    print(markdown_table(rows))
    for plan in plans:
        print("\n" + plan)
    if not args.no_write and not args.quick:
        write_results(rows, options)
        print(f"written to {JOBS_RESULTS.relative_to(JOBS_RESULTS.parents[2])} and {LATEST.name}")
    missed = [r for r in rows if r.met is False]
    if missed:
        print(f"{len(missed)} target(s) missed: " + "; ".join(f"{r.database} {r.scenario}" for r in missed))


if __name__ == "__main__":
    main()
