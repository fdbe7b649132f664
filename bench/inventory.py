"""Inventory benchmarks: `python -m bench inventory` measures the service layer in-process.

Scenarios, on SQLite (a temp-file database) and, with FIELDQ_BENCH_DATABASE_URL, on PostgreSQL (a
throwaway database on that server):

* movements through ``InventoryService`` (checkouts to a person and to a van, consumes from the van,
  returns to the depot), one operation per transaction (a REST request) and 100 per transaction
  (a sync push);
* concurrent consumes from one van, each task with its own session: the final balance must be exact;
* the spare-policy report over 100,000 installed units (median of several runs), and serialized
  spare checkouts/returns whose shortage check runs a filtered report on every operation;
* the CSV import of the installed base, when ``backend.inventory.imports`` exists.

Targets from the inventory issue: at least 2,000 movements/s, the spare report under 1 s. A missed
target is printed as missed; `--profile` shows where the time of a small run goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import importlib.util
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser
from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory, import_all_models
from backend.inventory.models import (
    Asset,
    AssetStatus,
    Balance,
    Condition,
    InventoryOperation,
    Item,
    ItemKind,
    Location,
    LocationKind,
    Movement,
    SparePolicy,
    Tracking,
)
from backend.inventory.services import InventoryService, OperationContext, Stock
from backend.settings import Settings
from backend.sync.feed import insert_synced_rows, install_change_recorder

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
INVENTORY_RESULTS = RESULTS_DIR / "inventory.md"
LATEST = RESULTS_DIR / "latest.md"

TARGET_MOVEMENTS_PER_S = 2000.0
TARGET_REPORT_SECONDS = 1.0
REGIONS = ("North", "South", "East")
BATCH = 100
# Benchmark users never log in: a placeholder, not a hash of anything.
NO_LOGIN = "x"

import_all_models()
install_change_recorder()


# ---------------------------------------------------------------------------------------------------
# Results


@dataclass
class Row:
    database: str
    scenario: str
    operations: int
    movements: int
    seconds: float
    statements: int = 0  # SQL statements sent while measuring
    target: str = ""
    met: bool | None = None
    check: str = ""
    rates: bool = True  # False for the report rows: seconds is a median per run, not a total

    def cells(self) -> list[str]:
        ops_s = f"{self.operations / self.seconds:,.0f}" if self.rates and self.seconds else "–"
        mov_s = (
            f"{self.movements / self.seconds:,.0f}" if self.rates and self.seconds and self.movements else "–"
        )
        per_op = f"{self.statements / self.operations:.1f}" if self.statements and self.operations else "–"
        verdict = "" if self.met is None else (" ✅" if self.met else " ❌ MISSED")
        return [
            self.database,
            self.scenario,
            f"{self.operations:,}",
            f"{self.movements:,}" if self.movements else "–",
            f"{self.seconds:.3f}",
            ops_s,
            mov_s,
            per_op,
            f"{self.target}{verdict}" if self.target else "",
            self.check,
        ]


HEADER = [
    "database",
    "scenario",
    "operations",
    "movements",
    "seconds",
    "ops/s",
    "movements/s",
    "SQL/op",
    "target",
    "check",
]


def markdown_table(rows: list[Row]) -> str:
    table = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(line)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def print_rich(rows: list[Row], title: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich comes with the dev tools
        print(markdown_table(rows))
        return
    table = Table(title=title)
    numeric = {"operations", "movements", "seconds", "ops/s", "movements/s", "SQL/op"}
    for name in HEADER:
        table.add_column(name, justify="right" if name in numeric else "left")
    for row in rows:
        table.add_row(*row.cells())
    Console(width=200).print(table)


def merge_section(path: Path, name: str, body: str) -> None:
    """Replace (or add) the section ``name`` of the results file, keeping the other sections.

    Sections sit between ``<!-- bench:NAME -->`` markers; a file written before the markers existed
    (the auth table alone) is kept as the ``auth`` section."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    heading = "# Benchmark results"
    existing = path.read_text() if path.exists() else ""
    if existing and "<!-- bench:" not in existing:
        legacy = existing.replace(heading, "", 1).strip()
        title = "## Auth and HTTP (live server: `python -m bench auth`)"
        existing = (
            f"{heading}\n\n<!-- bench:auth -->\n{title}\n\n{legacy}\n<!-- /bench:auth -->\n" if legacy else ""
        )
    if start in existing and end in existing:
        before, rest = existing.split(start, 1)
        after = rest.split(end, 1)[1]
        text_out = before + block + after
    else:
        text_out = (existing.rstrip() or heading) + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text_out.rstrip() + "\n")


# ---------------------------------------------------------------------------------------------------
# Databases


class Database:
    """A fresh database with the current schema (as the tests make them), dropped afterwards."""

    def __init__(self, label: str, pg_url: str | None = None) -> None:
        self.label = label
        self._pg_admin = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        if pg_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fieldq-bench-inv-")
            path = Path(self._tmp.name) / "bench.db"
            self.sync_url = f"sqlite:///{path}"
            self.url = f"sqlite+aiosqlite:///{path}"
        else:
            base = make_url(pg_url).set(drivername="postgresql+psycopg")
            self._pg_admin = create_engine(base, isolation_level="AUTOCOMMIT")
            self.name = f"fieldq_bench_inv_{uuid.uuid4().hex[:8]}"
            self.sync_url = base.set(database=self.name).render_as_string(hide_password=False)
            self.url = base.set(drivername="postgresql+asyncpg", database=self.name).render_as_string(
                hide_password=False
            )

    @property
    def is_postgres(self) -> bool:
        return self._pg_admin is not None

    def __enter__(self) -> Database:
        if self._pg_admin is not None:
            with self._pg_admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine = create_engine(self.sync_url)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pg_admin is not None:
            with self._pg_admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self._pg_admin.dispose()
        if self._tmp is not None:
            self._tmp.cleanup()


class StatementCounter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_args: Any) -> None:
        self.count += 1


# ---------------------------------------------------------------------------------------------------
# The world the operations run in


@dataclass
class World:
    manager: CurrentUser
    techs: list[CurrentUser]
    depots: dict[str, UUID]  # region → depot location
    persons: dict[UUID, UUID]  # user → person location
    vans: dict[UUID, UUID]  # user → van load space
    parts: list[UUID]
    repair: UUID
    spare_models: list[UUID] = field(default_factory=list)
    spares: dict[tuple[UUID, str], list[UUID]] = field(default_factory=dict)  # in stock, per model+region


_current = CurrentUser.acting_as


def _op(actor: CurrentUser, job_id: UUID | None = None, move_id: UUID | None = None) -> OperationContext:
    return OperationContext(actor=actor, move_id=move_id or uuid4(), job_id=job_id)


async def seed_world(
    factory: async_sessionmaker[AsyncSession], technicians: int = 8, parts: int = 4
) -> World:
    async with factory() as session:
        manager = User(
            username="bench-manager", display_name="Bench Manager", role=Role.manager, password_hash=NO_LOGIN
        )
        techs = [
            User(
                username=f"bench-tech{i}",
                display_name=f"Tech {i}",
                role=Role.technician,
                password_hash=NO_LOGIN,
            )
            for i in range(technicians)
        ]
        session.add_all([manager, *techs])
        depots = {
            region: Location(
                kind=LocationKind.depot, name=f"Depot {region}", code=f"DEP-{region}", region=region
            )
            for region in REGIONS
        }
        repair = Location(kind=LocationKind.repair, name="Repair centre", code="REPAIR", region=REGIONS[0])
        session.add_all([*depots.values(), repair])
        await session.flush()
        persons, vans = {}, {}
        for i, tech in enumerate(techs):
            region = REGIONS[i % len(REGIONS)]
            person = Location(
                kind=LocationKind.person, name=tech.display_name, user_id=tech.id, region=region
            )
            van = Location(
                kind=LocationKind.vehicle, name=f"Van {i}", code=f"VAN-{i}", user_id=tech.id, region=region
            )
            session.add_all([person, van])
            persons[tech.id], vans[tech.id] = person, van
        items = [
            Item(sku=f"PART-{i:03d}", name=f"Part {i}", kind=ItemKind.part, tracking=Tracking.quantity)
            for i in range(parts)
        ]
        session.add_all(items)
        await session.commit()
        world = World(
            manager=_current(manager),
            techs=[_current(t) for t in techs],
            depots={region: loc.id for region, loc in depots.items()},
            persons={uid: loc.id for uid, loc in persons.items()},
            vans={uid: loc.id for uid, loc in vans.items()},
            parts=[i.id for i in items],
            repair=repair.id,
        )
    async with factory() as session:
        service = InventoryService(session)
        for item_id in world.parts:
            await service.receive(
                _op(world.manager), to_location_id=world.depots[REGIONS[0]], item_id=item_id, qty=1_000_000
            )
        await session.commit()
    return world


# ---------------------------------------------------------------------------------------------------
# Movements


Operation = Callable[[InventoryService], Awaitable[Any]]


def movement_ops(world: World, count: int, technicians: int | None = None) -> list[Operation]:
    """A realistic mix, each op one ledger line: per technician and part, take 3 to the person, 3 to
    the van, consume 1 from the van on a job, return 1 from the person: balances stay positive."""
    depot = world.depots[REGIONS[0]]
    ops: list[Operation] = []
    for index in range(count):
        step, rest = index % 4, index // 4
        techs = world.techs[:technicians] if technicians else world.techs
        tech = techs[rest % len(techs)]
        item_id = world.parts[(rest // len(techs)) % len(world.parts)]

        move_id = uuid4()

        def make(step=step, tech=tech, item_id=item_id, move_id=move_id) -> Operation:
            if step == 0:
                return lambda s: s.checkout(
                    _op(tech, move_id=move_id), Stock(item_id=item_id, qty=3), from_location_id=depot
                )
            if step == 1:
                return lambda s: s.checkout(
                    _op(tech, move_id=move_id),
                    Stock(item_id=item_id, qty=3),
                    from_location_id=depot,
                    to_vehicle=True,
                )
            if step == 2:
                return lambda s: s.consume(_op(tech, job_id=uuid4(), move_id=move_id), item_id=item_id, qty=1)
            return lambda s: s.return_(
                _op(tech, move_id=move_id),
                Stock(item_id=item_id, qty=1),
                to_location_id=depot,
                condition=Condition.ok,
            )

        operation = make()
        operation.move_id = move_id  # known up front, as a sync push knows its batch's move_ids
        ops.append(operation)
    return ops


async def _count(factory: async_sessionmaker[AsyncSession], model: type) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def _drift(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return len(await InventoryService(session).balance_drift())


async def run_ops(
    factory: async_sessionmaker[AsyncSession], ops: list[Operation], per_transaction: int
) -> float:
    started = time.perf_counter()
    for first in range(0, len(ops), per_transaction):
        async with factory() as session:
            service = InventoryService(session)
            batch = ops[first : first + per_transaction]
            move_ids = [getattr(op, "move_id", None) for op in batch]
            if per_transaction > 1 and all(move_ids):
                await service.preload_operations(move_ids)  # one lookup per batch, like a sync push
            for op in batch:
                await op(service)
            await session.commit()
    return time.perf_counter() - started


async def measure_movements(
    label: str,
    factory: async_sessionmaker[AsyncSession],
    counter: StatementCounter,
    world: World,
    scenario: str,
    count: int,
    per_transaction: int,
    technicians: int | None = None,
) -> Row:
    ops = movement_ops(world, count, technicians)
    await run_ops(factory, movement_ops(world, 40), per_transaction)  # warm the pool and caches
    movements_before = await _count(factory, Movement)
    operations_before = await _count(factory, InventoryOperation)
    statements_before = counter.count
    seconds = await run_ops(factory, ops, per_transaction)
    statements = counter.count - statements_before
    movements = await _count(factory, Movement) - movements_before
    operations = await _count(factory, InventoryOperation) - operations_before
    drift = await _drift(factory)
    rate = movements / seconds
    ok = operations == count and drift == 0
    return Row(
        label,
        scenario,
        count,
        movements,
        seconds,
        statements=statements,
        target=f"≥ {TARGET_MOVEMENTS_PER_S:,.0f} mov/s",
        met=rate >= TARGET_MOVEMENTS_PER_S,
        check=f"{operations:,} ops stored, balance drift {drift}" + ("" if ok else " ✗"),
    )


async def measure_concurrent_consumes(
    label: str,
    factory: async_sessionmaker[AsyncSession],
    counter: StatementCounter,
    world: World,
    tasks: int,
    per_task: int,
) -> Row:
    """``tasks`` sessions consume 1 at a time from the same van at once; the van ends exactly at 0."""
    tech = world.techs[0]
    van = world.vans[tech.id]
    item_id = world.parts[0]
    async with factory() as session:
        service = InventoryService(session)
        before = await session.scalar(
            select(Balance.qty).where(Balance.location_id == van, Balance.item_id == item_id)
        )
        await service.checkout(
            _op(tech),
            Stock(item_id=item_id, qty=tasks * per_task),
            from_location_id=world.depots[REGIONS[0]],
            to_vehicle=True,
        )
        await session.commit()
    start_qty = (before or 0) + tasks * per_task
    failures: list[str] = []

    async def worker() -> int:
        done = 0
        for _ in range(per_task):
            try:
                async with factory() as session:
                    await InventoryService(session).consume(
                        _op(tech, job_id=uuid4()), item_id=item_id, qty=1, from_location_id=van
                    )
                    await session.commit()
                done += 1
            except Exception as exc:  # counted and shown: a failed consume must not move the balance
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
        return done

    movements_before = await _count(factory, Movement)
    statements_before = counter.count
    started = time.perf_counter()
    done = sum(await asyncio.gather(*(worker() for _ in range(tasks))))
    seconds = time.perf_counter() - started
    statements = counter.count - statements_before
    movements = await _count(factory, Movement) - movements_before
    async with factory() as session:
        final = await session.scalar(
            select(Balance.qty).where(Balance.location_id == van, Balance.item_id == item_id)
        )
    drift = await _drift(factory)
    expected = start_qty - done
    exact = final == expected and movements == done and drift == 0
    check = (
        f"van {final} = expected {expected}, drift {drift}"
        if exact
        else (f"✗ van {final} ≠ expected {expected} (movements {movements}, done {done}), drift {drift}")
    )
    if failures:
        check += f"; {len(failures)} failed, e.g. {failures[0]}"
    return Row(
        label,
        f"consume from one van, {tasks} concurrent sessions",
        tasks * per_task,
        movements,
        seconds,
        statements=statements,
        target=f"exact; ≥ {TARGET_MOVEMENTS_PER_S:,.0f} mov/s",
        met=exact and not failures and movements / seconds >= TARGET_MOVEMENTS_PER_S,
        check=check,
    )


# ---------------------------------------------------------------------------------------------------
# The installed base and the spare report


async def load_installed_base(
    factory: async_sessionmaker[AsyncSession],
    world: World,
    units: int,
    models: int = 6,
    sites_per_region: int = 100,
    spares_per_pool: int = 40,
) -> tuple[float, int]:
    """Sites, spare-unit models, ``units`` installed units spread over models × regions, and per model
    and region a spare pool (in stock, some damaged, some in repair or in transit) and a policy.
    Returns (seconds, rows inserted)."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    inserted = 0
    async with factory() as session:
        items = [
            {
                "id": uuid4(),
                "sku": f"ATM-{chr(65 + m)}",
                "name": f"ATM model {chr(65 + m)}",
                "kind": ItemKind.spare_unit,
                "tracking": Tracking.serial,
                "unit": "ea",
                "sizes": [],
                "is_active": True,
            }
            for m in range(models)
        ]
        await insert_synced_rows(session, Item, items)
        sites: dict[str, list[UUID]] = {}
        site_rows = []
        for region in REGIONS:
            sites[region] = []
            for n in range(sites_per_region):
                site_id = uuid4()
                sites[region].append(site_id)
                site_rows.append(
                    {
                        "id": site_id,
                        "kind": LocationKind.site,
                        "name": f"Branch {region} {n}",
                        "code": f"SITE-{region[:1]}{n:04d}",
                        "region": region,
                        "address": "",
                        "is_active": True,
                    }
                )
        await insert_synced_rows(session, Location, site_rows)
        inserted += len(items) + len(site_rows)
        world.spare_models = [row["id"] for row in items]

        def asset_row(item: dict, serial: str, status: str, location: UUID, region: str, **extra) -> dict:
            return {
                "id": uuid4(),
                "item_id": item["id"],
                "serial": serial,
                "status": status,
                "condition": extra.pop("condition", Condition.ok),
                "location_id": location,
                "region": region,
                **extra,
            }

        rows: list[dict] = []
        pools = [(item, region) for item in items for region in REGIONS]
        for n in range(units):
            item, region = pools[n % len(pools)]
            site = sites[region][(n // len(pools)) % sites_per_region]
            rows.append(
                asset_row(
                    item, f"{item['sku']}-{n:07d}", AssetStatus.installed, site, region, installed_at=now
                )
            )
            if len(rows) >= 10_000:
                await insert_synced_rows(session, Asset, rows)
                inserted += len(rows)
                rows = []
        for p, (item, region) in enumerate(pools):
            depot = world.depots[region]
            for s in range(spares_per_pool):
                if s < 2:
                    status, location, condition = AssetStatus.in_repair, world.repair, Condition.faulty
                elif s < 3:
                    status, location, condition = AssetStatus.in_transit, depot, Condition.ok
                elif s < 5:
                    status, location, condition = AssetStatus.in_stock, depot, Condition.damaged
                else:
                    status, location, condition = AssetStatus.in_stock, depot, Condition.ok
                row = asset_row(
                    item, f"{item['sku']}-S{p:02d}{s:04d}", status, location, region, condition=condition
                )
                rows.append(row)
                if status == AssetStatus.in_stock and condition == Condition.ok:
                    world.spares.setdefault((item["id"], region), []).append(row["id"])
        await insert_synced_rows(session, Asset, rows)
        inserted += len(rows)
        policies = [
            {
                "id": uuid4(),
                "item_id": item["id"],
                "region": region,
                "ratio": 0.01 if p % 2 else 0.005,
                "minimum": 10 * (p % 3),
                "created_at": now,
                "updated_at": now,
            }
            for p, (item, region) in enumerate(pools)
        ]
        await session.execute(insert(SparePolicy.__table__), policies)
        inserted += len(policies)
        await session.commit()
    seconds = time.perf_counter() - started
    async with factory() as session:  # what autovacuum/ANALYZE would know on a live server
        await session.execute(text("ANALYZE"))
        await session.commit()
    return seconds, inserted


async def measure_report(
    label: str, factory: async_sessionmaker[AsyncSession], counter: StatementCounter, units: int, runs: int
) -> Row:
    times, rows = [], []
    statements_before = counter.count
    for _ in range(runs):
        async with factory() as session:
            started = time.perf_counter()
            rows = await InventoryService(session).spare_report()
            times.append(time.perf_counter() - started)
    statements = counter.count - statements_before
    median = statistics.median(times)
    installed = sum(r.installed for r in rows)
    short = sum(1 for r in rows if r.shortage)
    ok = installed == units
    return Row(
        label,
        f"spare_report() over {units:,} installed units (median of {runs})",
        runs,
        0,
        median,
        statements=statements,
        target=f"< {TARGET_REPORT_SECONDS:.0f} s",
        met=median < TARGET_REPORT_SECONDS,
        check=(
            f"{len(rows)} rows, {installed:,} installed, {short} short; "
            f"min {min(times):.3f} max {max(times):.3f} s" + ("" if ok else " ✗")
        ),
        rates=False,
    )


async def measure_spare_moves(
    label: str, factory: async_sessionmaker[AsyncSession], counter: StatementCounter, world: World, pairs: int
) -> Row:
    """Serialized spare units out to a technician and back, one per transaction: each runs the
    shortage check (a filtered spare report) of its model and region over the installed base."""
    ops: list[Operation] = []
    for n in range(pairs):
        tech = world.techs[n % len(world.techs)]
        region = REGIONS[n % len(world.techs) % len(REGIONS)]
        item_id = world.spare_models[n % len(world.spare_models)]
        asset_id = world.spares[(item_id, region)][n % len(world.spares[(item_id, region)])]
        depot = world.depots[region]
        ops.append(
            lambda s, tech=tech, asset_id=asset_id, depot=depot: s.checkout(
                _op(tech), Stock(asset_id=asset_id), from_location_id=depot
            )
        )
        ops.append(
            lambda s, tech=tech, asset_id=asset_id, depot=depot: s.return_(
                _op(tech), Stock(asset_id=asset_id), to_location_id=depot, condition=Condition.ok
            )
        )
    movements_before = await _count(factory, Movement)
    statements_before = counter.count
    seconds = await run_ops(factory, ops, 1)
    statements = counter.count - statements_before
    movements = await _count(factory, Movement) - movements_before
    drift = await _drift(factory)
    async with factory() as session:
        misplaced = await session.scalar(
            select(func.count())
            .select_from(Asset)
            .where(Asset.item_id.in_(world.spare_models), Asset.status == AssetStatus.in_custody)
        )
    return Row(
        label,
        "spare unit checkout/return (shortage check, 1 op/txn)",
        len(ops),
        movements,
        seconds,
        statements=statements,
        target=f"≥ {TARGET_MOVEMENTS_PER_S:,.0f} mov/s",
        met=movements / seconds >= TARGET_MOVEMENTS_PER_S,
        check=f"balance drift {drift}, {misplaced} left in custody",
    )


async def measure_csv_import(
    label: str,
    factory: async_sessionmaker[AsyncSession],
    world: World,
    units: int,
    sites_per_region: int = 100,
) -> Row | None:
    """``backend.inventory.imports.import_installed_base`` of a CSV file of ``units`` more installed
    units (at sites the file creates), in one transaction, when that module exists."""
    if importlib.util.find_spec("backend.inventory.imports") is None:
        return None
    from backend.inventory import imports

    models = world.spare_models
    async with factory() as session:
        skus = dict((await session.execute(select(Item.id, Item.sku).where(Item.id.in_(models)))).all())
    scenario = f"CSV import_installed_base, {units:,} units (1 txn)"
    with tempfile.TemporaryDirectory(prefix="fieldq-bench-csv-") as tmp:
        path = Path(tmp) / "installed-base.csv"
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["sku", "serial", "site_code", "site_name", "region", "installed_at"])
            for n in range(units):
                region = REGIONS[n % len(REGIONS)]
                site = (n // len(REGIONS)) % sites_per_region
                sku = skus[models[(n // (len(REGIONS) * sites_per_region)) % len(models)]]
                writer.writerow(
                    [
                        sku,
                        f"IMP-{n:07d}",
                        f"IMP-{region[:1]}{site:04d}",
                        f"Imported {region} {site}",
                        region,
                        "2024-05-01",
                    ]
                )
        movements_before = await _count(factory, Movement)
        try:
            async with factory() as session:
                started = time.perf_counter()
                summary = await imports.import_installed_base(session, path, actor=world.manager.username)
                await session.commit()
                seconds = time.perf_counter() - started
        except Exception as exc:  # the module is young: report its failure, do not hide the other rows
            return Row(
                label, scenario, units, 0, 0.0, rates=False, check=f"✗ {type(exc).__name__}: {exc}"[:160]
            )
    movements = await _count(factory, Movement) - movements_before
    drift = await _drift(factory)
    opening = summary.opening
    stored = opening.assets if opening else 0
    ok = stored == units and movements == units and drift == 0
    return Row(
        label,
        scenario,
        units,
        movements,
        seconds,
        check=(
            f"{stored:,} assets, {opening.locations if opening else 0} sites, balance drift {drift}"
            + ("" if ok else " ✗")
        ),
    )


# ---------------------------------------------------------------------------------------------------


@dataclass
class Options:
    single_ops: int = 1000
    batched_ops: int = 2000
    tasks: int = 8
    per_task: int = 40
    units: int = 100_000
    report_runs: int = 5
    spare_pairs: int = 100
    import_units: int = 100_000


async def _attempt(rows: list[Row], label: str, scenario: str, measure: Awaitable[Row | None]) -> bool:
    """Add the row ``measure`` makes; a scenario that raises becomes a failed row (and the others run)."""
    try:
        row = await measure
    except Exception as exc:
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        rows.append(
            Row(label, scenario, 0, 0, 0.0, rates=False, met=False, target="runs", check=f"✗ {message}"[:220])
        )
        traceback.print_exc(limit=-6, file=sys.stderr)
        return False
    if row is not None:
        rows.append(row)
    return True


async def _load_row(label: str, factory: async_sessionmaker[AsyncSession], world: World, units: int) -> Row:
    seconds, inserted = await load_installed_base(factory, world, units)
    return Row(
        label,
        f"load {units:,} installed units (insert_synced_rows)",
        inserted,
        0,
        seconds,
        check="bulk Core inserts + feed rows, then ANALYZE",
    )


async def run_database(database: Database, options: Options) -> list[Row]:
    label = "postgresql" if database.is_postgres else "sqlite"
    engine = create_async_db_engine(Settings(database_url=database.url))
    counter = StatementCounter(engine)
    factory = create_session_factory(engine)
    rows: list[Row] = []
    try:
        world = await seed_world(factory)
        single = "checkout/consume/return, 1 op/txn"
        await _attempt(
            rows,
            label,
            single,
            measure_movements(label, factory, counter, world, single, options.single_ops, 1),
        )
        batched = f"checkout/consume/return, {BATCH} ops/txn"
        await _attempt(
            rows,
            label,
            batched,
            measure_movements(label, factory, counter, world, batched, options.batched_ops, BATCH),
        )
        # The shape of a sync push: one technician's phone sends its day's operations in batches.
        one_phone = f"one technician's push, {BATCH} ops/txn"
        await _attempt(
            rows,
            label,
            one_phone,
            measure_movements(label, factory, counter, world, one_phone, options.batched_ops, BATCH, 1),
        )
        await _attempt(
            rows,
            label,
            "consume from one van, concurrent sessions",
            measure_concurrent_consumes(label, factory, counter, world, options.tasks, options.per_task),
        )
        load = f"load {options.units:,} installed units"
        if await _attempt(rows, label, load, _load_row(label, factory, world, options.units)):
            await _attempt(
                rows,
                label,
                "spare_report()",
                measure_report(label, factory, counter, options.units, options.report_runs),
            )
            await _attempt(
                rows,
                label,
                "spare unit checkout/return",
                measure_spare_moves(label, factory, counter, world, options.spare_pairs),
            )
            await _attempt(
                rows,
                label,
                "CSV import_installed_base",
                measure_csv_import(label, factory, world, options.import_units),
            )
    finally:
        await engine.dispose()
    return rows


def targets_from_env() -> list[tuple[str, str | None]]:
    targets: list[tuple[str, str | None]] = [("sqlite", None)]
    if pg := os.environ.get("FIELDQ_BENCH_DATABASE_URL"):
        targets.append(("postgresql", pg))
    return targets


def run(options: Options, only: str | None = None) -> list[Row]:
    rows: list[Row] = []
    for label, url in targets_from_env():
        if only and label != only:
            continue
        print(f"inventory benchmark on {label} …", file=sys.stderr)
        started = time.perf_counter()
        with Database(label, url) as database:
            rows.extend(asyncio.run(run_database(database, options)))
        print(f"  {label} done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def write_results(rows: list[Row]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load average {load} at the end"
    table = markdown_table(rows)
    body = (
        "## Inventory (service layer, in-process: `python -m bench inventory`)\n\n"
        f"{stamp}. Targets: ≥ {TARGET_MOVEMENTS_PER_S:,.0f} movements/s, spare report < "
        f"{TARGET_REPORT_SECONDS:.0f} s. SQL/op = statements sent per operation (report: per run).\n\n"
        f"{table}\n"
    )
    INVENTORY_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    INVENTORY_RESULTS.write_text(f"# Inventory benchmark results\n\n{body}")
    merge_section(LATEST, "inventory", body)
    return table


# ---------------------------------------------------------------------------------------------------
# Profiling: where a small run spends its time


class StatementLog:
    """The statements an engine sends, and the time spent inside the driver's execute (the database's
    share, with the driver's round trip; the rest of an operation's time is Python)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.lines: list[str] = []
        self.seconds = 0.0
        self._started: dict[int, float] = {}
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(
        self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, many: bool
    ) -> None:
        self._started[id(context)] = time.perf_counter()
        self.lines.append(("executemany " if many else "") + " ".join(statement.split())[:100])

    def _after(
        self, _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        self.seconds += time.perf_counter() - self._started.pop(id(context), time.perf_counter())

    def reset(self) -> None:
        self.lines.clear()
        self.seconds = 0.0


def profile(options: Options, database_label: str, limit: int = 25) -> None:
    """Where a small run spends its time: the statements of one operation of each kind, the database's
    share of the time against Python's, and cProfile's top functions (1 and 100 ops per transaction)."""
    url = dict(targets_from_env()).get(database_label, "missing")
    if url == "missing":
        sys.exit(f"{database_label}: set FIELDQ_BENCH_DATABASE_URL to profile PostgreSQL")

    async def body() -> None:
        with Database(database_label, url) as database:
            engine = create_async_db_engine(Settings(database_url=database.url))
            log = StatementLog(engine)
            factory = create_session_factory(engine)
            try:
                world = await seed_world(factory)
                await run_ops(factory, movement_ops(world, 40), 1)
                names = ["checkout to person", "checkout to van", "consume from van", "return to depot"]
                for name, op in zip(names, movement_ops(world, 4), strict=True):
                    log.reset()
                    await run_ops(factory, [op], 1)
                    print(
                        f"### {database_label}: one '{name}' in its own transaction: "
                        f"{len(log.lines)} statements"
                    )
                    print("\n".join(f"    {line}" for line in log.lines), end="\n\n")
                for per_transaction in (1, BATCH):
                    ops = movement_ops(world, options.single_ops)
                    log.reset()
                    seconds = await run_ops(factory, ops, per_transaction)
                    print(
                        f"### {database_label}, {per_transaction} op/txn: "
                        f"{seconds / len(ops) * 1000:.2f} ms/op, "
                        f"of which in the driver's execute {log.seconds / len(ops) * 1000:.2f} ms "
                        f"({log.seconds / seconds:.0%}); {len(log.lines) / len(ops):.1f} statements/op"
                    )
                for per_transaction in (1, BATCH):
                    ops = movement_ops(world, options.single_ops)
                    profiler = cProfile.Profile()
                    profiler.enable()
                    seconds = await run_ops(factory, ops, per_transaction)
                    profiler.disable()
                    out = io.StringIO()
                    stats = pstats.Stats(profiler, stream=out)
                    stats.sort_stats("cumulative").print_stats(r"backend|flush|autoflush|execute", limit)
                    stats.sort_stats("tottime").print_stats(limit)
                    print(
                        f"### {database_label}: cProfile, {len(ops)} ops, {per_transaction} per transaction, "
                        f"{seconds:.2f} s under the profiler\n{out.getvalue()}"
                    )
            finally:
                await engine.dispose()

    asyncio.run(body())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench inventory", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--units", type=int, default=Options.units, help="installed units for the report")
    parser.add_argument("--profile", choices=["sqlite", "postgresql"], help="cProfile a small run instead")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results files")
    args = parser.parse_args(argv)
    options = Options(units=args.units)
    if args.quick:
        options = Options(
            single_ops=200,
            batched_ops=400,
            tasks=4,
            per_task=20,
            units=10_000,
            spare_pairs=20,
            import_units=5_000,
        )
    if args.profile:
        options.single_ops = min(options.single_ops, 400)
        profile(options, args.profile)
        return
    rows = run(options, args.only)
    print_rich(rows, "FieldQ inventory benchmark")
    if not args.no_write and not args.quick:
        write_results(rows)
        print(f"written to {INVENTORY_RESULTS.relative_to(ROOT)} and {LATEST.relative_to(ROOT)}")
    missed = [r for r in rows if r.met is False]
    if missed:
        print(f"{len(missed)} target(s) missed: " + "; ".join(f"{r.database} {r.scenario}" for r in missed))


if __name__ == "__main__":
    main()
