"""Sync benchmarks: `python -m bench sync [--quick]` times the sync protocol over HTTP on a live server.

One real server per database (``python -m backend.cli serve``: uvicorn, one process, on a fresh data
folder after ``migrate`` and ``seed --demo --no-inventory --no-jobs``), driven over loopback like a phone,
on SQLite and, with FIELDQ_BENCH_DATABASE_URL, on PostgreSQL (a throwaway database). Set up first, not
timed: through the API a depot, a part (1,000,000 received, 5,000 checked out to tech1), a customer, a
site, a procedure (arrive / photo / ups reading 12–13.8 / optional extra) and a photo uploaded by tech1;
in-process (bulk rows with their feed entries, as bench/jobs.py loads them) tech1's assigned jobs to push
on, and tech4's scope of 5,000 records (jobs on site, each with 3 steps and ~20 logs; the catalog).

Scenarios (client-side wall time; every request body is built before the clock starts):

* push: one client (tech1), each request a fresh batch of 100 mutations continuing its counter: 4 jobs'
  days of 25 mutations (accepted, en_route, on_site, 2 job.update, 4 job.step with a photo and a reading,
  10 job.log, 3 stock.consume, a custody.checkout and a custody.return of quantities, work_done). Every
  result must be ``applied`` (or ``merged``) and ``last_mutation_id`` the batch's last id;
* first pull of the 5,000-record scope: a new client (cursor null), pages of limit 1000 until
  ``has_more`` is false; the time of the whole pull, and changes/s;
* empty incremental pull: the cursor at the head of that scope, nothing new;
* blob upload: PUT /api/sync/v1/blobs/{sha256} of a distinct ~3 MB 12 MP JPEG each time (same picture,
  its own comment segment), on a quiet server (the previous upload's background rendering finished) and
  back to back;
* raw: the same database's own rate for equivalent rows, from this process with the server's driver
  family and settings (sqlite3 in WAL with synchronous=NORMAL; asyncpg), in a scratch table shaped like
  job_log: executemany of 100 rows in one transaction (a push's worth), a plain SELECT of 5,000 rows (a
  scope's worth), a primary-key lookup; and for blobs sha256 + write + fsync of the file.

The check column has the server process's CPU time (all threads, /proc) during the timed requests: when it
is close to the wall time, the request is CPU-bound in the server. Goals (the sync performance issue): push
≥ 10,000 mutations/s and p95 of a 100-mutation push < 25 ms; pull ≥ 50,000 changes/s and a first pull of
5,000 records < 150 ms; empty pull < 3 ms; blob upload < 50 ms. Latency goals are judged on the p95.
``ratio`` = FieldQ's rate ÷ the raw rate (1/40: forty times slower). ``--quick`` runs fewer requests
and writes nothing; a full run replaces the ``sync`` section of bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import random
import shutil
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.md"
PASSWORD = "fieldq-demo"  # noqa: S105 - the demo company's published password
PUSH_TECH, SCOPE_TECH = "tech1", "tech4"
JOBS_PER_BATCH = 4
MUTATIONS_PER_JOB = 25
PAGE_LIMIT = 1000
BLOB_BYTES = 3_000_000
STEPS = [
    {"id": "arrive", "title": "Arrival and customer contact", "requires": ["check"], "key_moment": True},
    {"id": "photo", "title": "Dispenser before cleaning", "requires": ["photo"]},
    {
        "id": "ups",
        "title": "UPS battery voltage",
        "requires": ["reading"],
        "reading_unit": "V",
        "reading_min": 12.0,
        "reading_max": 13.8,
        "monitoring_point": True,
    },
    {"id": "extra", "title": "Optional extra clean", "requires": ["check"], "mandatory": False},
]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass
class Options:
    pushes: int = 30
    warmup: int = 3
    scope_records: int = 5000
    first_pulls: int = 10
    empty_pulls: int = 300
    blobs: int = 12
    raw_runs: int = 30
    quick: bool = False

    @classmethod
    def quick_run(cls) -> Options:
        return cls(pushes=10, warmup=2, first_pulls=3, empty_pulls=60, blobs=4, raw_runs=10, quick=True)


# ---------------------------------------------------------------------------------------------------
# Results


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Row:
    database: str
    scenario: str
    n: int
    latencies: list[float]  # seconds, one per timed unit (a push, a whole first pull, a query)
    rate: float | None = None
    unit: str = ""
    raw_rate: float | None = None
    raw_unit: str = ""
    goal: str = ""
    met: bool | None = None
    check: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0

    @property
    def p95(self) -> float:
        return _pct(self.latencies, 0.95) if self.latencies else 0.0

    def cells(self) -> list[str]:
        ratio = "–"
        if self.rate and self.raw_rate:
            value = self.rate / self.raw_rate
            ratio = f"1/{1 / value:,.0f}" if value < 0.5 else f"{value:.2f}"
        verdict = "" if self.met is None else (" ✅" if self.met else " ❌ MISSED")
        return [
            self.database,
            self.scenario,
            f"{self.n:,}",
            f"{self.p50 * 1000:.2f}" if self.latencies else "–",
            f"{self.p95 * 1000:.2f}" if self.latencies else "–",
            f"{self.rate:,.0f} {self.unit}" if self.rate else "–",
            f"{self.raw_rate:,.0f} {self.raw_unit}" if self.raw_rate else "–",
            ratio,
            f"{self.goal}{verdict}" if self.goal else "",
            self.check,
        ]


HEADER = ["database", "scenario", "n", "p50 ms", "p95 ms", "rate", "raw rate", "ratio", "goal", "check"]


def markdown_table(rows: list[Row]) -> str:
    table = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(line)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = function()
    return time.perf_counter() - started, out


class Clock:
    """Wall time of one request on this side, and the server's CPU time meanwhile (for one scenario)."""

    def __init__(self, cpu: Callable[[], float], measured: Measured, scenario: str) -> None:
        self.cpu, self.measured, self.scenario = cpu, measured, scenario

    def __call__(self, function: Callable[[], Any]) -> tuple[float, Any]:
        cpu = self.cpu()
        seconds, out = _timed(function)
        self.measured.add_cpu(self.scenario, self.cpu() - cpu)
        return seconds, out


# ---------------------------------------------------------------------------------------------------
# The server


def Server(database_url: str | None) -> LiveServer:
    """The demo people only (no inventory, no jobs): the bench builds its own world."""
    return LiveServer(
        database_url,
        seed=("--demo", "--no-inventory", "--no-jobs"),
        env={"FIELDQ_ACCESS_TOKEN_TTL": "3600"},  # the run must not outlive its bearer tokens
        prefix="fieldq-bench-sync-",
    )


class Api:
    """A thin HTTP client: bearer tokens per user, msgspec JSON, an error for any unexpected status."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=120)
        self.tokens: dict[str, dict[str, str]] = {}
        self.users: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.http.close()

    def login(self, username: str) -> None:
        body = self.call("POST", "/api/auth/login", None, {"username": username, "password": PASSWORD})
        self.tokens[username] = {"Authorization": f"Bearer {body['access_token']}"}
        self.users[username] = body["user"]

    def request(self, method: str, path: str, who: str | None, body: Any = None) -> httpx.Response:
        headers = dict(self.tokens[who]) if who else {}
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else _encode(body)
            headers["Content-Type"] = "application/json"
        return self.http.request(method, path, headers=headers, content=content)

    def call(self, method: str, path: str, who: str | None, body: Any = None, expect=(200, 201)) -> Any:
        response = self.request(method, path, who, body)
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path} as {who}: {response.status_code} {response.text[:2000]}")
        return _decode(response.content) if response.content else None


# ---------------------------------------------------------------------------------------------------
# A phone: one client id, its mutation counter, its cursor


def _now() -> str:
    # A second in the past: the server refuses device times in the future.
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


def _id() -> str:
    return str(uuid.uuid4())


@dataclass
class Phone:
    api: Api
    user: str
    client_id: str = field(default_factory=_id)
    next_id: int = 1
    cursor: str | None = None

    def mutation(self, name: str, **args: Any) -> dict[str, Any]:
        made = {"id": self.next_id, "name": name, "client_time": _now(), "args": args}
        self.next_id += 1
        return made

    def push_body(self, mutations: list[dict[str, Any]]) -> bytes:
        return _encode({"protocol": 1, "client_id": self.client_id, "mutations": mutations})

    def push(self, body: bytes) -> dict[str, Any]:
        out = self.api.call("POST", "/api/sync/v1/push", self.user, body, expect=(200,))
        bad = [r for r in out["results"] if r["status"] not in ("applied", "merged")]
        if bad:
            raise RuntimeError(f"push as {self.user}: {len(bad)} not applied, first: {bad[0]}")
        return out

    def pull_page(self, cursor: str | None) -> dict[str, Any]:
        body = {"protocol": 1, "client_id": self.client_id, "cursor": cursor, "limit": PAGE_LIMIT}
        return self.api.call("POST", "/api/sync/v1/pull", self.user, body, expect=(200,))

    def pull_all(self) -> tuple[int, int, set[tuple[str, str]]]:
        """Pull until ``has_more`` is false; (changes, pages, records held)."""
        changes = pages = 0
        held: set[tuple[str, str]] = set()
        while True:
            page = self.pull_page(self.cursor)
            pages += 1
            if page["reset"]:
                held.clear()
            for change in page["changes"]:
                key = (change["entity"], change["id"])
                if change["op"] == "put":
                    held.add(key)
                else:
                    held.discard(key)
            changes += len(page["changes"])
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return changes, pages, held


# ---------------------------------------------------------------------------------------------------
# The world: catalog, stock, jobs and the technician scope to pull


@dataclass
class World:
    depot: str
    part: str
    site: str
    procedure: str
    photo: str
    push_jobs: list[dict[str, Any]]
    scope_records: int = 0
    scope_pages: int = 0
    setup_seconds: float = 0.0


def _jpeg(width: int, height: int, quality: int, seed: int) -> bytes:
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 48)
    blurred = noise.filter(ImageFilter.GaussianBlur(1))
    colour = Image.merge("RGB", (image, blurred, Image.blend(image, noise, 0.5)))
    draw = ImageDraw.Draw(colour)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle(
            [x, y, x + width // 20, y + height // 20], fill=tuple(rng.randrange(256) for _ in "rgb")
        )
    out = io.BytesIO()
    colour.save(out, "JPEG", quality=quality)
    return out.getvalue()


def photo_3mb() -> bytes:
    """A 12 MP (4000×3000) JPEG of about 3 MB, like a phone camera's."""
    best = b""
    for quality in (70, 80, 88, 92, 95):
        best = _jpeg(4000, 3000, quality, 7)
        if len(best) >= BLOB_BYTES:
            break
    return best


def distinct(jpeg: bytes, index: int) -> bytes:
    """The same picture with a comment segment of its own: another sha256, so it is really stored."""
    comment = f"fieldq bench {index} {uuid.uuid4()}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def build_world(api: Api, database_url: str, options: Options) -> World:
    """The catalog and stock through the API; the jobs and the pull scope in-process (bulk rows with
    their feed entries, as the jobs benchmark loads them), which takes seconds instead of minutes."""
    started = time.perf_counter()
    for user in ("manager", "supervisor1", PUSH_TECH, SCOPE_TECH):
        api.login(user)
    tag = uuid.uuid4().hex[:6]
    depot = api.call(
        "POST",
        "/api/inventory/locations",
        "manager",
        {"kind": "depot", "name": f"Bench depot {tag}", "code": f"DEP-{tag}", "region": "Shanghai East"},
    )
    part = api.call(
        "POST",
        "/api/inventory/items",
        "manager",
        {"sku": f"FLT-{tag}", "name": "Dispenser pick filter", "kind": "part"},
    )
    customer = api.call(
        "POST", "/api/customers", "manager", {"name": "中国工商银行 ICBC", "code": f"ICBC-{tag}"}
    )
    site = api.call(
        "POST",
        "/api/sites",
        "manager",
        {
            "customer_id": customer["id"],
            "name": f"ICBC Lujiazui branch {tag}",
            "code": f"SITE-{tag}",
            "address": "上海市浦东新区陆家嘴环路 1000 号",
            "lat": 31.2397,
            "lon": 121.4998,
            "region": "Shanghai East",
        },
    )
    procedure = api.call(
        "POST",
        "/api/procedures",
        "manager",
        {
            "code": f"PM-{tag}",
            "job_type": "maintenance",
            "name": "ATM preventive maintenance",
            "steps": STEPS,
        },
    )
    api.call(
        "POST",
        "/api/inventory/ops/receive",
        "manager",
        {"move_id": _id(), "to_location_id": depot["id"], "item_id": part["id"], "qty": 1_000_000},
    )
    api.call(
        "POST",
        "/api/inventory/ops/checkout",
        PUSH_TECH,
        {"move_id": _id(), "from_location_id": depot["id"], "item_id": part["id"], "qty": 5_000},
    )
    photo = _jpeg(800, 600, 85, 1)
    photo_sha = hashlib.sha256(photo).hexdigest()
    response = api.http.put(
        f"/api/sync/v1/blobs/{photo_sha}",
        content=photo,
        headers={**api.tokens[PUSH_TECH], "Content-Type": "image/jpeg"},
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"photo upload: {response.status_code} {response.text}")
    # What the scope holds before its jobs (catalog, depots, the technician's profile...).
    _changes, _pages, before = Phone(api, SCOPE_TECH).pull_all()
    plan = SeedPlan(
        customer=customer["id"],
        site=site["id"],
        procedure=procedure["id"],
        team=api.users[SCOPE_TECH]["team_id"],
        supervisor=api.users["supervisor1"]["id"],
        push_tech=api.users[PUSH_TECH]["id"],
        push_jobs=(options.pushes + options.warmup) * JOBS_PER_BATCH,
        scope_tech=api.users[SCOPE_TECH]["id"],
        # The customer and the site join the scope with its first job.
        scope_records=options.scope_records - len(before) - 2,
    )
    push_jobs = asyncio.run(seed_jobs(database_url, plan))
    world = World(depot["id"], part["id"], site["id"], procedure["id"], photo_sha, push_jobs)
    _changes, pages, held = Phone(api, SCOPE_TECH).pull_all()
    world.scope_records, world.scope_pages = len(held), pages
    world.setup_seconds = time.perf_counter() - started
    return world


@dataclass
class SeedPlan:
    customer: str
    site: str
    procedure: str
    team: str
    supervisor: str
    push_tech: str
    push_jobs: int
    scope_tech: str
    scope_records: int  # jobs, steps and logs to add to the scope technician's


async def seed_jobs(database_url: str, plan: SeedPlan) -> list[dict[str, Any]]:
    """Assigned jobs for the pushing technician; on-site jobs with 3 steps and ~20 logs each for the
    scope technician, ``plan.scope_records`` records in all. Returns the push jobs (id, version)."""
    from sqlalchemy import text

    from backend.db import create_engine, create_session_factory
    from backend.jobs.models import Job, JobLog, JobStep
    from backend.jobs.services import step_row_id
    from backend.settings import Settings
    from backend.sync.feed import insert_synced_rows
    from bench.jobs import _job_row  # also installs the change recorder in this process

    now = datetime.now(UTC)
    ids = {name: uuid.UUID(getattr(plan, name)) for name in ("customer", "site", "procedure", "team")}
    supervisor, push_tech, scope_tech = (
        uuid.UUID(plan.supervisor),
        uuid.UUID(plan.push_tech),
        uuid.UUID(plan.scope_tech),
    )
    number = 0

    def job(assignee: uuid.UUID, status: str, **values: Any) -> dict[str, Any]:
        nonlocal number
        number += 1
        start = now + timedelta(hours=number % 9)
        return _job_row(
            id=uuid.uuid4(),
            number=f"BS{number:07d}",
            type="maintenance",
            status=status,
            customer_id=ids["customer"],
            site_id=ids["site"],
            procedure_id=ids["procedure"],
            team_id=ids["team"],
            assignee_id=assignee,
            created_by_id=supervisor,
            description=f"Quarterly preventive maintenance #{number}",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            **values,
        )

    push_jobs = [job(push_tech, "assigned") for _ in range(plan.push_jobs)]
    scope_jobs = [
        job(scope_tech, "on_site", accepted_at=now, arrived_at=now)
        for _ in range(max(1, plan.scope_records // 25))
    ]
    steps = [
        {
            "id": step_row_id(j["id"], step_id),
            "job_id": j["id"],
            "step_id": step_id,
            "result": result,
            "value": value,
            "in_range": True if value else None,
            "note": "",
            "blobs": [],
            "completed_by_id": scope_tech,
            "client_time": now,
        }
        for j in scope_jobs
        for step_id, result, value in (("arrive", "pass", None), ("ups", "pass", 13.1), ("extra", "na", None))
    ]
    logs = []
    for n in range(max(0, plan.scope_records - len(scope_jobs) - len(steps))):
        kind = ("note", "time", "reading")[n % 3]
        logs.append(
            {
                "id": uuid.uuid4(),
                "job_id": scope_jobs[n % len(scope_jobs)]["id"],
                "kind": kind,
                "text": f"Bench log {n}: cleaned and checked the dispenser",
                "minutes": 5 + n % 40 if kind == "time" else None,
                "value": 12.5 + (n % 10) / 10 if kind == "reading" else None,
                "author_id": scope_tech,
                "client_time": now,
            }
        )
    engine = create_engine(Settings(database_url=database_url))
    try:
        factory = create_session_factory(engine)
        async with factory() as session:
            # The jobs first, their records after, as they happen: a job entering a technician's scope
            # announces the records it already has, so one transaction for both would send them twice.
            await insert_synced_rows(session, Job, [*push_jobs, *scope_jobs])
            await session.commit()
            await insert_synced_rows(session, JobStep, steps)
            for first in range(0, len(logs), 2000):
                await insert_synced_rows(session, JobLog, logs[first : first + 2000])
            await session.commit()
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:  # what autovacuum would soon know on a live server
                await conn.execute(text("ANALYZE"))
                await conn.commit()
    finally:
        await engine.dispose()
    return [{"id": str(j["id"]), "version": 1} for j in push_jobs]


def job_day(phone: Phone, world: World, job: dict[str, Any]) -> list[dict[str, Any]]:
    """A technician's 25 mutations on one job, in the order a day produces them."""
    job_id, base = job["id"], job["version"]
    m = phone.mutation
    stock = {"item_id": world.part}

    def log(kind: str, n: int) -> dict[str, Any]:
        extra: dict[str, Any] = {"text": f"Note {n}: dispenser cleaned, belts checked"}
        if kind == "time":
            extra["minutes"] = 10 + n
        elif kind == "reading":
            extra["value"] = 13.0 + n / 100
        return m("job.log", log_id=_id(), job_id=job_id, kind=kind, **extra)

    batch = [
        m("job.transition", job_id=job_id, to="accepted"),
        m("job.transition", job_id=job_id, to="en_route"),
        m("job.transition", job_id=job_id, to="on_site", geo={"lat": 31.24, "lon": 121.5, "accuracy_m": 8}),
        m("job.update", job_id=job_id, base_version=base, fields={"arrival_note": "Branch manager on site"}),
        m("job.step", job_id=job_id, step_id="arrive", result="pass"),
        log("note", 1),
        m("custody.checkout", move_id=_id(), from_location_id=world.depot, job_id=job_id, qty=2, **stock),
        m("stock.consume", move_id=_id(), job_id=job_id, qty=1, **stock),
        log("time", 2),
        m("job.step", job_id=job_id, step_id="photo", result="pass", blobs=[world.photo]),
        log("reading", 3),
        m("job.step", job_id=job_id, step_id="ups", result="pass", value=13.1),
        m("stock.consume", move_id=_id(), job_id=job_id, qty=1, **stock),
        log("note", 4),
        m("job.step", job_id=job_id, step_id="extra", result="na"),
        log("note", 5),
        m("stock.consume", move_id=_id(), job_id=job_id, qty=1, **stock),
        log("time", 6),
        log("note", 7),
        m("custody.return", move_id=_id(), to_location_id=world.depot, condition="ok", qty=1, **stock),
        m("job.update", job_id=job_id, base_version=base, fields={"findings": "Pick filter worn; replaced"}),
        log("note", 8),
        log("note", 9),
        log("time", 10),
        m("job.transition", job_id=job_id, to="work_done"),
    ]
    assert len(batch) == MUTATIONS_PER_JOB
    return batch


# ---------------------------------------------------------------------------------------------------
# The scenarios over HTTP


@dataclass
class Measured:
    push: list[float] = field(default_factory=list)
    push_mutations: int = 0
    push_statuses: dict[str, int] = field(default_factory=dict)
    first_pull: list[float] = field(default_factory=list)
    first_pull_changes: list[int] = field(default_factory=list)
    first_pull_pages: int = 0
    empty_pull: list[float] = field(default_factory=list)
    blob_quiet: list[float] = field(default_factory=list)
    blob_burst: list[float] = field(default_factory=list)
    blob_size: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # server CPU seconds during the timed requests
    rows_per_push: float = 0.0  # rows a push added to the database, all tables

    def add_cpu(self, scenario: str, seconds: float) -> None:
        self.cpu[scenario] = self.cpu.get(scenario, 0.0) + seconds


def measure_push(api: Api, world: World, options: Options, out: Measured, cpu: Callable[[], float]) -> None:
    phone = Phone(api, PUSH_TECH)
    jobs = iter(world.push_jobs)
    bodies: list[tuple[bytes, int, int]] = []  # (request body, mutations, the batch's last id)
    for _ in range(options.warmup + options.pushes):
        batch = [mutation for _ in range(JOBS_PER_BATCH) for mutation in job_day(phone, world, next(jobs))]
        bodies.append((phone.push_body(batch), len(batch), batch[-1]["id"]))
    for body, _count, _last in bodies[: options.warmup]:
        phone.push(body)
    timed = Clock(cpu, out, "push")
    for body, count, last in bodies[options.warmup :]:
        seconds, result = timed(lambda body=body: phone.push(body))
        out.push.append(seconds)
        out.push_mutations += count
        for r in result["results"]:
            out.push_statuses[r["status"]] = out.push_statuses.get(r["status"], 0) + 1
        if result["last_mutation_id"] != last:
            raise RuntimeError(f"push: last_mutation_id {result['last_mutation_id']}, expected {last}")


def measure_pulls(api: Api, options: Options, out: Measured, cpu: Callable[[], float]) -> None:
    Phone(api, SCOPE_TECH).pull_all()  # warm the server's caches and the database's pages
    phone = Phone(api, SCOPE_TECH)
    timed = Clock(cpu, out, "first_pull")
    for _ in range(options.first_pulls):
        phone = Phone(api, SCOPE_TECH)
        seconds, (changes, pages, _held) = timed(phone.pull_all)
        out.first_pull.append(seconds)
        out.first_pull_changes.append(changes)
        out.first_pull_pages = pages
    cursor = phone.cursor
    for _ in range(5):
        cursor = phone.pull_page(cursor)["cursor"]
    timed = Clock(cpu, out, "empty_pull")
    for _ in range(options.empty_pulls):
        seconds, page = timed(lambda cursor=cursor: phone.pull_page(cursor))
        if page["changes"] or page["has_more"] or page["reset"]:
            raise RuntimeError(f"empty pull returned something: {str(page)[:500]}")
        cursor = page["cursor"]
        out.empty_pull.append(seconds)


def measure_blobs(api: Api, server: Server, options: Options, out: Measured, original: bytes) -> None:
    from backend.media.store import BlobStore

    store = BlobStore(server.data / "blobs")
    out.blob_size = len(original)
    images = [distinct(original, i) for i in range(2 * options.blobs + 1)]
    headers = {**api.tokens[PUSH_TECH], "Content-Type": "image/jpeg"}

    def upload(data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        response = api.http.put(f"/api/sync/v1/blobs/{sha}", content=data, headers=headers)
        if response.status_code != 201:
            raise RuntimeError(f"blob upload: {response.status_code} {response.text[:500]}")
        return sha

    def rendered(sha: str) -> None:
        deadline = time.monotonic() + 10
        while not all(store.variant_path(sha, v).is_file() for v in ("display", "thumbnail")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the variants of {sha} were not rendered in 10 s")
            time.sleep(0.01)

    rendered(upload(images[0]))  # warm-up
    timed = Clock(server.cpu, out, "blob_quiet")
    for data in images[1 : options.blobs + 1]:
        seconds, sha = timed(lambda data=data: upload(data))
        out.blob_quiet.append(seconds)
        rendered(sha)
    burst = []
    timed = Clock(server.cpu, out, "blob_burst")
    for data in images[options.blobs + 1 :]:
        seconds, sha = timed(lambda data=data: upload(data))
        out.blob_burst.append(seconds)
        burst.append(sha)
    for sha in burst:
        rendered(sha)


# ---------------------------------------------------------------------------------------------------
# The raw database, from this process


@dataclass
class Raw:
    insert: list[float] = field(default_factory=list)  # one per 100-row transaction
    insert_rows: int = 100
    select: list[float] = field(default_factory=list)  # one per 5,000-row SELECT
    select_rows: int = 5000
    lookup: list[float] = field(default_factory=list)
    blob: list[float] = field(default_factory=list)


def _raw_rows(count: int, job_id: uuid.UUID, author_id: uuid.UUID, as_text: bool) -> list[tuple]:
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        values = (
            uuid.uuid4(),
            job_id,
            ("note", "time", "reading")[n % 3],
            f"Note {n}: dispenser cleaned, belts checked",
            10 + n % 30,
            13.0 + n / 1000,
            author_id,
            now,
            1,
            now,
            now,
        )
        if as_text:
            values = tuple(
                v.hex if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v
                for v in values
            )
        rows.append(values)
    return rows


# The raw statements, for sqlite3 (?) and asyncpg ($n): a scratch table shaped like job_log.
RAW_SQLITE = {
    "create": (
        "CREATE TABLE bench_raw_log (id CHAR(32) PRIMARY KEY, job_id CHAR(32) NOT NULL, "
        "kind VARCHAR(10) NOT NULL, text VARCHAR NOT NULL, minutes INTEGER, value FLOAT, author_id CHAR(32), "
        "client_time DATETIME, version INTEGER NOT NULL, created_at DATETIME NOT NULL, "
        "updated_at DATETIME NOT NULL)"
    ),
    "insert": (
        "INSERT INTO bench_raw_log (id, job_id, kind, text, minutes, value, author_id, client_time, version, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "select": (
        "SELECT id, job_id, kind, text, minutes, value, author_id, client_time, version, created_at, "
        "updated_at FROM bench_raw_log ORDER BY id LIMIT ?"
    ),
    "lookup": (
        "SELECT id, job_id, kind, text, minutes, value, author_id, client_time, version, created_at, "
        "updated_at FROM bench_raw_log WHERE id = ?"
    ),
}
RAW_POSTGRES = {
    "create": (
        "CREATE TABLE bench_raw_log (id UUID PRIMARY KEY, job_id UUID NOT NULL, kind VARCHAR(10) NOT NULL, "
        "text VARCHAR NOT NULL, minutes INTEGER, value FLOAT, author_id UUID, "
        "client_time TIMESTAMP WITH TIME ZONE, version INTEGER NOT NULL, "
        "created_at TIMESTAMP WITH TIME ZONE NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL)"
    ),
    "insert": (
        "INSERT INTO bench_raw_log (id, job_id, kind, text, minutes, value, author_id, client_time, version, "
        "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ),
    "select": (
        "SELECT id, job_id, kind, text, minutes, value, author_id, client_time, version, created_at, "
        "updated_at FROM bench_raw_log ORDER BY id LIMIT $1"
    ),
    "lookup": (
        "SELECT id, job_id, kind, text, minutes, value, author_id, client_time, version, created_at, "
        "updated_at FROM bench_raw_log WHERE id = $1"
    ),
}


def raw_sqlite(path: Path, options: Options, select_rows: int) -> Raw:
    raw = Raw(select_rows=select_rows)
    sql = RAW_SQLITE
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=10000",
            "PRAGMA synchronous=NORMAL",
        ):
            conn.execute(pragma)
        conn.execute(sql["create"])
        conn.execute("CREATE INDEX ix_bench_raw_log_job_id ON bench_raw_log (job_id)")
        job_id, author = uuid.uuid4(), uuid.uuid4()
        batches = [_raw_rows(raw.insert_rows, job_id, author, True) for _ in range(options.raw_runs + 3)]
        for n, rows in enumerate(batches):
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql["insert"], rows)
            conn.execute("COMMIT")
            if n >= 3:
                raw.insert.append(time.perf_counter() - started)
        conn.execute("BEGIN")
        conn.executemany(sql["insert"], _raw_rows(select_rows, uuid.uuid4(), author, True))
        conn.execute("COMMIT")
        ids = [r[0] for r in conn.execute("SELECT id FROM bench_raw_log LIMIT 200")]
        for n in range(options.raw_runs + 2):
            seconds, rows = _timed(lambda: conn.execute(sql["select"], (select_rows,)).fetchall())
            assert len(rows) == select_rows
            if n >= 2:
                raw.select.append(seconds)
        for n in range(200):
            seconds, _row = _timed(lambda n=n: conn.execute(sql["lookup"], (ids[n],)).fetchone())
            raw.lookup.append(seconds)
        conn.execute("DROP TABLE bench_raw_log")
    finally:
        conn.close()
    return raw


async def raw_postgres(url: str, options: Options, select_rows: int) -> Raw:
    import asyncpg

    raw = Raw(select_rows=select_rows)
    sql = RAW_POSTGRES
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql["create"])
        await conn.execute("CREATE INDEX ix_bench_raw_log_job_id ON bench_raw_log (job_id)")
        job_id, author = uuid.uuid4(), uuid.uuid4()
        batches = [_raw_rows(raw.insert_rows, job_id, author, False) for _ in range(options.raw_runs + 3)]
        for n, rows in enumerate(batches):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.executemany(sql["insert"], rows)
            if n >= 3:
                raw.insert.append(time.perf_counter() - started)
        async with conn.transaction():
            await conn.executemany(sql["insert"], _raw_rows(select_rows, uuid.uuid4(), author, False))
        await conn.execute("ANALYZE bench_raw_log")
        ids = [r[0] for r in await conn.fetch("SELECT id FROM bench_raw_log LIMIT 200")]
        for n in range(options.raw_runs + 2):
            started = time.perf_counter()
            rows = await conn.fetch(sql["select"], select_rows)
            seconds = time.perf_counter() - started
            assert len(rows) == select_rows
            if n >= 2:
                raw.select.append(seconds)
        for n in range(200):
            started = time.perf_counter()
            await conn.fetchrow(sql["lookup"], ids[n])
            raw.lookup.append(time.perf_counter() - started)
        await conn.execute("DROP TABLE bench_raw_log")
    finally:
        await conn.close()
    return raw


def count_rows(sqlite_path: Path, raw_url: str | None) -> int:
    """Rows in all the database's tables (to tell how many rows the pushes inserted)."""
    if raw_url is None:
        conn = sqlite3.connect(sqlite_path)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return sum(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names)  # noqa: S608
        finally:
            conn.close()

    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(raw_url)
        try:
            names = [
                r[0]
                for r in await conn.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            ]
            return sum([await conn.fetchval(f'SELECT count(*) FROM "{name}"') for name in names])  # noqa: S608
        finally:
            await conn.close()

    return asyncio.run(count())


def raw_blob(folder: Path, options: Options, size: int) -> list[float]:
    """sha256 + write to a temp file + fsync + link, as the blob store stores an original."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(size)
    out = []
    for n in range(options.blobs + 2):
        data = payload[:-8] + n.to_bytes(8, "big")
        started = time.perf_counter()
        digest = hashlib.sha256(data).hexdigest()
        temp = folder / f".{digest}.tmp"
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, folder / digest)
        temp.unlink()
        if n >= 2:
            out.append(time.perf_counter() - started)
    return out


# ---------------------------------------------------------------------------------------------------
# One database


def _rate(count: float, seconds: list[float]) -> float:
    total = sum(seconds)
    return count / total if total else 0.0


def run_database(
    label: str, server_url: str | None, raw_url: str | None, options: Options, photo: bytes
) -> list[Row]:
    started = time.perf_counter()

    def phase(text: str) -> None:
        print(f"  {time.perf_counter() - started:5.1f} s  {text}", file=sys.stderr)

    print(f"sync benchmark on {label}:", file=sys.stderr)
    measured = Measured()
    with Server(server_url) as server:
        phase("server up (migrated, demo people seeded)")
        api = Api(server.base)
        try:
            world = build_world(api, server.database_url, options)
            phase(
                f"set up (not timed): {len(world.push_jobs)} jobs to push, a scope of "
                f"{world.scope_records:,} records"
            )
            if raw_url is None:
                raw = raw_sqlite(server.sqlite_path, options, world.scope_records)
            else:
                raw = asyncio.run(raw_postgres(raw_url, options, world.scope_records))
            phase("raw database")
            before = count_rows(server.sqlite_path, raw_url)
            measure_push(api, world, options, measured, server.cpu)
            added = count_rows(server.sqlite_path, raw_url) - before
            measured.rows_per_push = added / (options.warmup + len(measured.push))
            phase(f"push: {len(measured.push)} pushes")
            measure_pulls(api, options, measured, server.cpu)
            phase(f"pull: {len(measured.first_pull)} first pulls, {len(measured.empty_pull)} empty pulls")
            measure_blobs(api, server, options, measured, photo)
            raw.blob = raw_blob(server.data / "raw-blobs", options, measured.blob_size)
            phase(f"blobs: {len(measured.blob_quiet) + len(measured.blob_burst)} uploads")
        finally:
            api.close()
        problems = server.problems()
    if problems:
        print(f"  {len(problems)} server error line(s), log kept at {server.log_path}:", file=sys.stderr)
        for line in problems[:20]:
            print(f"    {line}", file=sys.stderr)
    else:
        shutil.rmtree(server.data, ignore_errors=True)
    phase(f"{label} done")
    return rows_for(label, world, measured, raw, problems)


def _per(measured: Measured, scenario: str, count: int, unit: str) -> str:
    seconds = measured.cpu.get(scenario)
    if not seconds or not count:
        return ""
    return f"server CPU {seconds / count * 1000:,.1f} ms/{unit}"


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def rows_for(label: str, world: World, m: Measured, raw: Raw, problems: list[str]) -> list[Row]:
    rows = []
    per_push = m.push_mutations / max(1, len(m.push))
    push_rate = _rate(m.push_mutations, m.push)
    push_p95 = _pct(m.push, 0.95)
    raw_insert_rate = _rate(raw.insert_rows * len(raw.insert), raw.insert)
    statuses = ", ".join(f"{v:,} {k}" for k, v in sorted(m.push_statuses.items()))
    rows.append(
        Row(
            label,
            f"push: {per_push:.0f} mixed mutations per request",
            len(m.push),
            m.push,
            push_rate,
            "mut/s",
            raw_insert_rate,
            "rows/s",
            f"≥ 10,000 mut/s {_mark(push_rate >= 10_000)}; p95 < 25 ms {_mark(push_p95 < 0.025)}",
            None,
            f"{statuses}; {m.rows_per_push:,.0f} rows inserted/push; {_per(m, 'push', len(m.push), 'push')}",
        )
    )
    changes = statistics.median(m.first_pull_changes) if m.first_pull_changes else 0
    pull_rate = _rate(sum(m.first_pull_changes), m.first_pull)
    pull_p95 = _pct(m.first_pull, 0.95)
    rows.append(
        Row(
            label,
            f"first pull: {world.scope_records:,}-record scope, limit {PAGE_LIMIT}",
            len(m.first_pull),
            m.first_pull,
            pull_rate,
            "changes/s",
            _rate(raw.select_rows * len(raw.select), raw.select),
            "rows/s",
            f"≥ 50,000 changes/s {_mark(pull_rate >= 50_000)}; < 150 ms {_mark(pull_p95 < 0.150)}",
            None,
            f"{changes:,.0f} changes in {m.first_pull_pages} pages; "
            f"{_per(m, 'first_pull', len(m.first_pull), 'pull')}",
        )
    )
    rows.append(
        Row(
            label,
            "empty incremental pull (cursor at the head)",
            len(m.empty_pull),
            m.empty_pull,
            _rate(len(m.empty_pull), m.empty_pull),
            "pulls/s",
            _rate(len(raw.lookup), raw.lookup),
            "lookups/s",
            f"< 3 ms {_mark(_pct(m.empty_pull, 0.95) < 0.003)}",
            None,
            f"0 changes each; {_per(m, 'empty_pull', len(m.empty_pull), 'pull')}",
        )
    )
    size = f"{m.blob_size / 1e6:.1f} MB"
    for scenario, key, latencies, note in (
        ("blob upload: quiet server", "blob_quiet", m.blob_quiet, "previous renders done"),
        ("blob upload: back to back", "blob_burst", m.blob_burst, "renders of earlier uploads running"),
    ):
        rows.append(
            Row(
                label,
                f"{scenario} ({size} 12 MP JPEG)",
                len(latencies),
                latencies,
                _rate(len(latencies), latencies),
                "uploads/s",
                _rate(len(raw.blob), raw.blob),
                "files/s",
                f"< 50 ms {_mark(_pct(latencies, 0.95) < 0.050)}",
                None,
                f"201, distinct sha256; {note}; {_per(m, key, len(latencies), 'upload')}",
            )
        )
    for scenario, latencies, count, unit in (
        (
            f"raw: executemany {raw.insert_rows} job_log-like rows, 1 txn",
            raw.insert,
            raw.insert_rows,
            "rows/s",
        ),
        (f"raw: SELECT {raw.select_rows:,} job_log-like rows", raw.select, raw.select_rows, "rows/s"),
        ("raw: SELECT 1 row by primary key", raw.lookup, 1, "lookups/s"),
        (f"raw: sha256 + write + fsync {size}", raw.blob, 1, "files/s"),
    ):
        where = "a file in the data folder" if unit == "files/s" else "scratch table, same database"
        rows.append(
            Row(
                label,
                scenario,
                len(latencies),
                latencies,
                _rate(count * len(latencies), latencies),
                unit,
                check=where,
            )
        )
    if problems:
        rows[0].check += f"; {len(problems)} server error line(s) in the log"
    return rows


# ---------------------------------------------------------------------------------------------------
# Entry point


def _targets() -> tuple[list[tuple[str, str | None, str | None]], Callable[[], None] | None]:
    """(label, server database URL, raw driver URL) per database; a cleanup for the throwaway one."""
    targets: list[tuple[str, str | None, str | None]] = [("sqlite", None, None)]
    pg = os.environ.get("FIELDQ_BENCH_DATABASE_URL")
    if not pg:
        return targets, None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(pg).set(drivername="postgresql+psycopg")
    name = f"fieldq_bench_sync_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = admin_url.set(database=name)
    targets.append(
        (
            "postgresql",
            database.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
            database.set(drivername="postgresql").render_as_string(hide_password=False),
        )
    )

    def cleanup() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return targets, cleanup


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def run(options: Options, only: str | None = None) -> list[Row]:
    photo = photo_3mb()  # once: a 12 MP encode takes a while
    targets, cleanup = _targets()
    rows: list[Row] = []
    try:
        for label, server_url, raw_url in targets:
            if only and label != only:
                continue
            rows.extend(run_database(label, server_url, raw_url, options, photo))
    finally:
        if cleanup:
            cleanup()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sync", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (10 pushes); nothing written")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--pushes", type=int, default=Options.pushes, help="timed pushes (default 30)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results")
    args = parser.parse_args(argv)
    options = Options.quick_run() if args.quick else Options(pushes=max(5, args.pushes))
    started = time.perf_counter()
    load_before = _load()
    rows = run(options, args.only)
    table = markdown_table(rows)
    print(table)
    missed = [r for r in rows if "❌" in r.goal]
    if missed:
        print(
            f"{len(missed)} row(s) missing a goal: " + "; ".join(f"{r.database} {r.scenario}" for r in missed)
        )
    print(f"sync benchmark: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.no_write or args.quick:
        return
    from bench.inventory import merge_section

    merge_section(
        LATEST,
        "sync",
        "## Sync protocol (live server over HTTP: `python -m bench sync`)\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load average {load_before} before and "
        f"{_load()} after. One uvicorn process per database on a fresh data folder, one client on "
        "loopback; p50/p95 = client-side wall time per request (a first pull: all its pages); rate = units ÷ "
        "the sum of those times. Push: one technician's client, each request a fresh batch of 100 "
        "mutations (4 jobs' days: accept/en route/on site/work done, 2 job.update, 4 job.step with a photo "
        "and a reading, 10 job.log, 3 stock.consume, a custody.checkout and a custody.return of quantities). "
        "Raw: the same database from the benchmark process (sqlite3 with the server's pragmas / asyncpg) in "
        "a scratch table shaped like job_log; ratio = FieldQ rate ÷ raw rate. server CPU = the server "
        "process's CPU time (all threads) during the timed requests. Goals: push ≥ 10,000 mutations/s and "
        "p95 < 25 ms per 100-mutation push; pull ≥ 50,000 changes/s and a first pull of 5,000 records < "
        "150 ms; empty pull < 3 ms; blob upload < 50 ms; latency goals judged on the p95.\n\n"
        f"{table}\n",
    )
    print(f"written to {LATEST.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
