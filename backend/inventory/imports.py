"""CSV imports: the catalog, serialized assets into depots, and the installed base at customer sites.

An import reads the whole file and validates every row before it writes anything, and reports every
problem it found with its row number (the header is row 1): an unknown sku, a wrong kind, a serial
repeated in the file or already stored, an unknown location, a bad date or number, a missing or an
unknown column. Only a file without a single error is written, all of it in one transaction.

Writing is done in bulk, for installed bases of 100,000 units: synced rows (locations, assets,
balances) through ``insert_synced_rows`` with their feed entries, and the ledger (one
``inventory_operation`` per import, one numbered ``opening`` movement per asset) with plain bulk
inserts. Balances are increased (or created) by exactly what the movements brought, so they stay
equal to the ledger. ``write_opening_assets`` is that loader on its own, for callers that build their
rows in code (the demo seed).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID, uuid4

from sqlalchemy import insert, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import User
from backend.db import begin_write, utcnow
from backend.inventory.models import (
    NAME_MAX,
    QUANTITY_KINDS,
    REGION_MAX,
    SERIAL_KINDS,
    SERIAL_MAX,
    SIZE_MAX,
    SKU_MAX,
    Asset,
    AssetStatus,
    Balance,
    Condition,
    InventoryOperation,
    Item,
    ItemKind,
    KitComponent,
    Location,
    LocationKind,
    Movement,
    Operation,
    ServiceKind,
    Tracking,
)
from backend.inventory.services import InventoryService
from backend.sync.feed import insert_synced_rows

# Rows written (and validated, and looked up) per statement: well under the parameter limits of both
# databases (SQLite 32,766; asyncpg 32,767) and small enough for a lively progress bar.
CHUNK = 2000
CODE_MAX = 40
ADDRESS_MAX = 300
UNIT_MAX = 12
MAX_DAYS = 36_500
MAX_KIT_QTY = 1000
SQLITE_LOAD_CACHE_KIB = 131_072
# Installed dates a little ahead of the server clock (a time zone, a clock off) are accepted.
FUTURE_SLACK = timedelta(days=1)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]+")


class _FastIds:
    """Random (version 4) UUIDs from one read of the random source per 4,096 ids: ``uuid4()`` reads it
    once per id, which is a good part of the time of a 100,000-unit import on a busy machine."""

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0

    def __call__(self) -> UUID:
        if self._position >= len(self._buffer):
            self._buffer, self._position = os.urandom(16 * 4096), 0
        start = self._position
        self._position += 16
        return UUID(bytes=self._buffer[start : start + 16], version=4)


new_id = _FastIds()

# (phase, how many more rows are done, the phase's total rows)
ProgressFn = Callable[[str, int, int], None]


def _no_progress(_phase: str, _advance: int, _total: int) -> None:
    return None


# ---------------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, order=True)
class RowError:
    """One problem in the file: ``row`` counts the header as row 1; row 0 is the file as a whole."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        if not self.row:
            return f"{self.column}: {self.message}" if self.column else self.message
        if self.column:
            return f"row {self.row}, {self.column}: {self.message}"
        return f"row {self.row}: {self.message}"


class ImportFailed(Exception):
    """The file was not imported; nothing was written. ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[RowError]) -> None:
        self.errors = sorted(errors)
        noun = "problem" if len(self.errors) == 1 else "problems"
        super().__init__(f"{len(self.errors)} {noun}; nothing was imported")


class _Errors:
    def __init__(self, items: Iterable[RowError] = ()) -> None:
        self.items: list[RowError] = list(items)

    def add(self, row: int, column: str, message: str) -> None:
        self.items.append(RowError(row, column, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ImportFailed(self.items)


# ---------------------------------------------------------------------------------------------------
# Reading CSV files


@dataclass(frozen=True)
class CsvSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


CATALOG_SPEC = CsvSpec(
    "catalog",
    ("sku", "name", "kind"),
    ("tracking", "unit", "sizes", "service_kind", "service_interval_days", "loan_days", "kit_contents"),
)
ASSETS_SPEC = CsvSpec("assets", ("sku", "serial", "location_code"), ("due_at",))
INSTALLED_BASE_SPEC = CsvSpec(
    "installed-base",
    ("sku", "serial", "site_code"),
    ("site_name", "region", "address", "installed_at", "customer_code", "customer_name", "lat", "lon"),
)


@dataclass(frozen=True)
class CsvRow:
    row: int  # the header is row 1
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


Source = str | Path | TextIO


def _open(source: Source) -> TextIO:
    if isinstance(source, (str, Path)):
        # utf-8-sig: spreadsheets save a byte-order mark in front of the header.
        return Path(source).open(encoding="utf-8-sig", newline="")
    return source


@dataclass
class CsvFile:
    rows: list[CsvRow]  # the rows that can be validated
    problems: list[RowError]  # rows that cannot: a wrong number of cells, unreadable CSV

    @property
    def size(self) -> int:
        return len(self.rows) + len({p.row for p in self.problems})


def read_csv(source: Source, spec: CsvSpec) -> CsvFile:
    """Every data row of the file, its cells trimmed (blank lines skipped). Raises ``ImportFailed`` for
    an unreadable or empty file and header problems (missing, unknown or repeated columns); rows with
    a wrong number of cells are returned as problems, to be reported with the rest."""
    errors = _Errors()
    stream = _open(source)
    close = stream is not source
    try:
        try:
            text = stream.read()
        except UnicodeDecodeError as exc:
            raise ImportFailed([RowError(0, "", f"the file is not UTF-8 text ({exc.reason})")]) from exc
    finally:
        if close:
            stream.close()
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[CsvRow] = []
    header: list[str] | None = None
    record = 0
    try:
        for cells in reader:
            record += 1
            if header is None:
                if not any(c.strip() for c in cells):
                    raise ImportFailed([RowError(1, "", "the header row is empty")])
                header = [c.strip().lower() for c in cells]
                _check_header(header, spec, errors)
                errors.raise_if_any()
                continue
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if len(cells) != len(header):
                errors.add(record, "", f"has {len(cells)} cells; the header has {len(header)} columns")
                continue
            rows.append(CsvRow(record, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
    except csv.Error as exc:
        errors.add(record + 1, "", f"unreadable CSV: {exc}")
    if header is None:
        raise ImportFailed(
            [RowError(0, "", "the file is empty: expected a header row with " + ", ".join(spec.columns))]
        )
    if not rows and not errors:
        raise ImportFailed([RowError(0, "", "the file has a header but no rows")])
    return CsvFile(rows, errors.items)


def _check_header(header: list[str], spec: CsvSpec, errors: _Errors) -> None:
    seen: set[str] = set()
    for index, name in enumerate(header, start=1):
        if not name:
            errors.add(1, f"column {index}", "has no name")
        elif name in seen:
            errors.add(1, name, "appears twice in the header")
        elif name not in spec.columns:
            errors.add(1, name, f"unknown column (expected {', '.join(spec.columns)})")
        seen.add(name)
    for name in spec.required:
        if name not in seen:
            errors.add(1, name, "missing column")


# ---------------------------------------------------------------------------------------------------
# Cells


def _text(errors: _Errors, row: CsvRow, column: str, *, max_length: int, required: bool = False) -> str:
    value = row.get(column)
    if not value:
        if required:
            errors.add(row.row, column, "is required")
        return ""
    if _CONTROL.search(value):
        errors.add(row.row, column, "contains control characters (a line break, a tab)")
    elif len(value) > max_length:
        errors.add(row.row, column, f"is longer than {max_length} characters")
    return value


def _whole_number(errors: _Errors, row: CsvRow, column: str, *, low: int, high: int) -> int | None:
    value = row.get(column)
    if not value:
        return None
    if not _DIGITS.fullmatch(value) or not (low <= int(value) <= high):
        errors.add(row.row, column, f"{value!r} is not a whole number from {low} to {high}")
        return None
    return int(value)


def parse_when(value: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date and time (UTC unless it names its offset)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _when(errors: _Errors, row: CsvRow, column: str) -> datetime | None:
    value = row.get(column)
    if not value:
        return None
    try:
        parsed = parse_when(value)
    except (ValueError, OverflowError):
        errors.add(row.row, column, f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+08:00])")
        return None
    if not (1970 <= parsed.year <= 2200):
        errors.add(row.row, column, f"{value!r} is out of range")
        return None
    return parsed


# ---------------------------------------------------------------------------------------------------
# Lookups


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True, slots=True)
class _ItemInfo:
    """What validation reads of an item, as plain attributes (an ORM attribute read costs more)."""

    id: UUID
    sku: str
    name: str
    kind: str
    tracking: str
    is_active: bool
    service_interval_days: int | None


async def _items_by_sku(session: AsyncSession) -> dict[str, _ItemInfo]:
    return {
        item.sku: _ItemInfo(
            item.id, item.sku, item.name, item.kind, item.tracking, item.is_active, item.service_interval_days
        )
        for item in await session.scalars(select(Item))
    }


async def _locations_by_code(session: AsyncSession, codes: Iterable[str]) -> dict[str, Location]:
    wanted = sorted({c for c in codes if c})
    found: dict[str, Location] = {}
    for chunk in _chunks(wanted):
        for location in await session.scalars(select(Location).where(Location.code.in_(chunk))):
            found[location.code] = location
    return found


async def _stored_serials(session: AsyncSession, pairs: Iterable[tuple[UUID, str]]) -> set[tuple[UUID, str]]:
    """Which (item, serial) pairs already have an asset."""
    wanted = sorted(set(pairs), key=lambda pair: pair[1])
    taken: set[tuple[UUID, str]] = set()
    for chunk in _chunks(wanted):
        statement = select(Asset.item_id, Asset.serial).where(
            Asset.serial.in_({serial for _item, serial in chunk})
        )
        wanted_chunk = set(chunk)
        for item_id, serial in await session.execute(statement):
            if (item_id, serial) in wanted_chunk:
                taken.add((item_id, serial))
    return taken


async def _actor(session: AsyncSession, username: str) -> User:
    actor = await session.scalar(select(User).where(User.username == username.strip().lower()))
    if actor is None or not actor.is_active:
        raise ImportFailed(
            [RowError(0, "actor", f"there is no active user {username!r} to record the import")]
        )
    return actor


# ---------------------------------------------------------------------------------------------------
# The bulk loader: validated rows in, rows written


@dataclass(frozen=True, slots=True)
class NewLocation:
    kind: str
    name: str
    code: str | None
    region: str = ""
    address: str = ""
    user_id: UUID | None = None
    id: UUID = field(default_factory=new_id)


@dataclass(frozen=True, slots=True)
class OpeningAsset:
    """A serialized unit to create where it already is, with its opening movement. A parent asset (a
    toolbox for its tools) must be stored already or come earlier in the list."""

    item_id: UUID
    serial: str
    location_id: UUID
    status: str
    region: str
    due_at: datetime | None = None
    installed_at: datetime | None = None
    holder_id: UUID | None = None
    parent_asset_id: UUID | None = None
    vehicle_location_id: UUID | None = None  # a van's load space (a NewLocation of kind vehicle)
    id: UUID = field(default_factory=new_id)


@dataclass
class OpeningResult:
    move_id: UUID
    assets: int = 0
    locations: int = 0
    movements: int = 0
    balances_created: int = 0
    balances_increased: int = 0
    shortage_checks: int = 0


async def write_opening_assets(
    session: AsyncSession,
    *,
    actor_id: UUID,
    assets: Sequence[OpeningAsset],
    new_locations: Sequence[NewLocation] = (),
    reason: str = "",
    args: dict[str, Any] | None = None,
    recorded_at: datetime | None = None,
    progress: ProgressFn = _no_progress,
    phase: str = "Importing",
) -> OpeningResult:
    """Create ``new_locations`` and ``assets`` in bulk, with one ``opening`` operation whose numbered
    movements bring each asset from nowhere to its location, and balances increased (or created) to
    match; then re-check the spare shortage of every spare model and region touched.

    The caller validated the rows (known items and locations, serials not taken) and holds the write
    transaction; a constraint the rows still break fails the whole statement, so nothing half-lands."""
    is_sqlite = session.bind.dialect.name == "sqlite"
    if is_sqlite:
        # The indexes of 100,000 new rows with random keys outgrow SQLite's 2 MiB page cache; a larger
        # one (for this connection, during the load) takes a third off the time of the inserts.
        previous_cache = (await session.execute(text("PRAGMA cache_size"))).scalar()
        await session.execute(text(f"PRAGMA cache_size=-{SQLITE_LOAD_CACHE_KIB}"))
    try:
        return await _write_opening_assets(
            session,
            actor_id=actor_id,
            assets=assets,
            new_locations=new_locations,
            reason=reason,
            args=args,
            recorded_at=recorded_at,
            progress=progress,
            phase=phase,
        )
    finally:
        if is_sqlite:
            await session.execute(text(f"PRAGMA cache_size={int(previous_cache)}"))


async def _write_opening_assets(
    session: AsyncSession,
    *,
    actor_id: UUID,
    assets: Sequence[OpeningAsset],
    new_locations: Sequence[NewLocation],
    reason: str,
    args: dict[str, Any] | None,
    recorded_at: datetime | None,
    progress: ProgressFn,
    phase: str,
) -> OpeningResult:
    now = utcnow()
    recorded_at = recorded_at or now
    move_id = uuid4()
    result = OpeningResult(move_id=move_id)
    total = len(assets)

    for chunk in _chunks(list(new_locations)):
        await insert_synced_rows(
            session,
            Location,
            [
                {
                    "id": loc.id,
                    "kind": loc.kind,
                    "name": loc.name,
                    "code": loc.code,
                    "region": loc.region,
                    "address": loc.address,
                    "user_id": loc.user_id,
                    "is_active": True,
                }
                for loc in chunk
            ],
        )
    result.locations = len(new_locations)

    summary = {
        "move_id": str(move_id),
        "operation": Operation.opening.value,
        "movement_ids": [],  # one line per asset: read them from the ledger, not from here
        "exception_ids": [],
        "asset_ids": [],
        "handover_id": None,
        "assets": total,
        "locations": len(new_locations),
    }
    await session.execute(
        insert(InventoryOperation.__table__),
        [
            {
                "move_id": move_id,
                "operation": Operation.opening.value,
                "actor_id": actor_id,
                "job_id": None,
                "recorded_at": recorded_at,
                "received_at": now,
                "args": args,
                "result": summary,
            }
        ],
    )

    line = 0
    for chunk in _chunks(assets):
        await insert_synced_rows(
            session,
            Asset,
            [
                {
                    "id": a.id,
                    "item_id": a.item_id,
                    "serial": a.serial,
                    "status": a.status,
                    "condition": Condition.ok.value,
                    "location_id": a.location_id,
                    "holder_id": a.holder_id,
                    "region": a.region,
                    "parent_asset_id": a.parent_asset_id,
                    "vehicle_location_id": a.vehicle_location_id,
                    "due_at": a.due_at,
                    "last_serviced_at": None,
                    "return_due_at": None,
                    "installed_at": a.installed_at,
                }
                for a in chunk
            ],
        )
        movements = []
        for a in chunk:
            movements.append(
                {
                    "id": new_id(),
                    "created_at": now,
                    "updated_at": now,
                    "move_id": move_id,
                    "line": line,
                    "operation": Operation.opening.value,
                    "from_location_id": None,
                    "to_location_id": a.location_id,
                    "item_id": a.item_id,
                    "asset_id": a.id,
                    "size": "",
                    "qty": 1,
                    "condition": None,
                    "job_id": None,
                    "actor_id": actor_id,
                    "custodian_id": a.holder_id,
                    "reason": reason,
                    "recorded_at": recorded_at,
                    "received_at": now,
                }
            )
            line += 1
        await session.execute(insert(Movement.__table__), movements)
        progress(phase, len(chunk), total)
    result.assets = result.movements = total

    # Balances: one row per (location, item, size), increased by what arrived, or created.
    arrived = Counter((a.location_id, a.item_id) for a in assets)
    new_location_ids = {loc.id for loc in new_locations}
    existing_keys = [key for key in arrived if key[0] not in new_location_ids]
    stored: dict[tuple[UUID, UUID], Balance] = {}
    is_postgres = session.bind.dialect.name == "postgresql"
    for chunk in _chunks(sorted(existing_keys, key=str)):
        statement = (
            select(Balance)
            .where(tuple_(Balance.location_id, Balance.item_id).in_(chunk), Balance.size == "")
            .order_by(Balance.id)
            .execution_options(populate_existing=True)
        )
        if is_postgres:
            statement = statement.with_for_update()
        for balance in await session.scalars(statement):
            stored[(balance.location_id, balance.item_id)] = balance
    for key, balance in stored.items():
        balance.qty = (balance.qty or 0) + arrived[key]  # through the session: version and feed follow
    fresh = [
        {"id": new_id(), "location_id": loc, "item_id": item, "size": "", "qty": qty}
        for (loc, item), qty in arrived.items()
        if (loc, item) not in stored
    ]
    for chunk in _chunks(fresh):
        await insert_synced_rows(session, Balance, list(chunk))
    result.balances_created, result.balances_increased = len(fresh), len(stored)
    await session.flush()

    # Spare pools: every spare model and region the import touched.
    item_ids = {a.item_id for a in assets}
    spare_ids: set[UUID] = set()
    for chunk in _chunks(sorted(item_ids, key=str)):
        spare_ids.update(
            await session.scalars(select(Item.id).where(Item.id.in_(chunk), Item.kind == ItemKind.spare_unit))
        )
    checks = sorted({(a.item_id, a.region) for a in assets if a.item_id in spare_ids}, key=str)
    service = InventoryService(session)
    for item_id, region in checks:
        await service.check_spare_shortage(item_id, region)
    result.shortage_checks = len(checks)
    await session.flush()
    return result


# ---------------------------------------------------------------------------------------------------
# Imports


@dataclass
class ImportSummary:
    kind: str
    rows: int
    items: int = 0
    kit_components: int = 0
    opening: OpeningResult | None = None
    # The jobs domain's sites and units made for the installed base (installed-base imports).
    sites: int = 0
    units: int = 0


def _validation_progress(progress: ProgressFn, total: int) -> Callable[[int], None]:
    state = {"reported": 0}

    def done(index: int) -> None:
        # ``index`` rows are validated; report in chunks so a large file costs no time on the bar.
        if index - state["reported"] >= CHUNK or index == total:
            progress("Validating", index - state["reported"], total)
            state["reported"] = index

    return done


# --- catalog -----------------------------------------------------------------------------------------


@dataclass
class _CatalogRow:
    row: int
    sku: str
    values: dict[str, Any]
    kit: list[tuple[str, int, int]]  # (component sku, qty, row)


async def validate_catalog(
    session: AsyncSession,
    rows: Sequence[CsvRow],
    progress: ProgressFn = _no_progress,
    problems: Iterable[RowError] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Item rows and kit component rows ready to insert; raises ``ImportFailed`` with every problem."""
    errors = _Errors(problems)
    stored = await _items_by_sku(session)
    first_row: dict[str, int] = {}
    parsed: list[_CatalogRow] = []
    tick = _validation_progress(progress, len(rows))
    for index, row in enumerate(rows, start=1):
        sku = _text(errors, row, "sku", max_length=SKU_MAX, required=True)
        if sku:
            if sku in first_row:
                errors.add(row.row, "sku", f"{sku} is repeated (first on row {first_row[sku]})")
            elif sku in stored:
                errors.add(row.row, "sku", f"{sku} is already in the catalog")
            else:
                first_row[sku] = row.row
        name = _text(errors, row, "name", max_length=NAME_MAX, required=True)
        kind = row.get("kind").lower()
        if not kind:
            errors.add(row.row, "kind", "is required")
        elif kind not in ItemKind.__members__.values():
            errors.add(row.row, "kind", f"{kind!r} is not one of {', '.join(ItemKind)}")
            kind = ""
        tracking = row.get("tracking").lower()
        if tracking and tracking not in Tracking.__members__.values():
            errors.add(row.row, "tracking", f"{tracking!r} is not one of {', '.join(Tracking)}")
        elif kind:
            default = (
                Tracking.quantity if kind in QUANTITY_KINDS or kind == ItemKind.part else Tracking.serial
            )
            tracking = tracking or default
            if kind in SERIAL_KINDS and tracking != Tracking.serial:
                errors.add(row.row, "tracking", f"a {kind} is tracked by serial number")
            elif kind in QUANTITY_KINDS and tracking != Tracking.quantity:
                errors.add(row.row, "tracking", f"a {kind} is counted (tracking quantity)")
        unit = _text(errors, row, "unit", max_length=UNIT_MAX) or "ea"
        sizes = _sizes(errors, row, tracking)
        service_kind = row.get("service_kind").lower() or None
        if service_kind and service_kind not in ServiceKind.__members__.values():
            errors.add(row.row, "service_kind", f"{service_kind!r} is not one of {', '.join(ServiceKind)}")
        interval = _whole_number(errors, row, "service_interval_days", low=1, high=MAX_DAYS)
        if service_kind and row.get("service_interval_days") == "":
            errors.add(row.row, "service_interval_days", f"is required with service_kind {service_kind}")
        if interval is not None and not service_kind:
            errors.add(row.row, "service_kind", "is required with service_interval_days")
        loan_days = _whole_number(errors, row, "loan_days", low=1, high=MAX_DAYS)
        if tracking == Tracking.quantity:
            if service_kind or interval is not None:
                errors.add(row.row, "service_kind", "services are kept on serialized items only")
            if loan_days is not None:
                errors.add(row.row, "loan_days", "loans are kept on serialized items only")
        kit = _kit_contents(errors, row, kind)
        parsed.append(
            _CatalogRow(
                row.row,
                sku,
                {
                    "id": uuid4(),
                    "sku": sku,
                    "name": name,
                    "kind": kind,
                    "tracking": tracking,
                    "unit": unit,
                    "sizes": sizes,
                    "service_kind": service_kind,
                    "service_interval_days": interval,
                    "loan_days": loan_days,
                    "is_active": True,
                },
                kit,
            )
        )
        tick(index)

    # Kit contents may name items stored before or anywhere in this file.
    kinds = {sku: item.kind for sku, item in stored.items()}
    ids = {sku: item.id for sku, item in stored.items()}
    for entry in parsed:
        if entry.sku and entry.sku not in ids:
            kinds[entry.sku], ids[entry.sku] = entry.values["kind"], entry.values["id"]
    components: list[dict[str, Any]] = []
    for entry in parsed:
        for component, qty, row_number in entry.kit:
            if component not in ids:
                errors.add(row_number, "kit_contents", f"unknown sku {component}")
            elif kinds[component] == ItemKind.toolbox:
                errors.add(row_number, "kit_contents", f"{component} is a toolbox; a kit holds no toolboxes")
            else:
                components.append(
                    {"kit_item_id": entry.values["id"], "component_item_id": ids[component], "qty": qty}
                )
    errors.raise_if_any()
    return [entry.values for entry in parsed], components


def _sizes(errors: _Errors, row: CsvRow, tracking: str) -> list[str]:
    raw = row.get("sizes")
    if not raw:
        return []
    sizes = [s.strip() for s in raw.split("|")]
    if any(not s for s in sizes):
        errors.add(row.row, "sizes", "has an empty size (separate sizes with |, e.g. S|M|L)")
    elif len(set(sizes)) != len(sizes):
        errors.add(row.row, "sizes", "repeats a size")
    elif any(len(s) > SIZE_MAX or _CONTROL.search(s) for s in sizes):
        errors.add(row.row, "sizes", f"a size is longer than {SIZE_MAX} characters or has control characters")
    elif tracking == Tracking.serial:
        errors.add(row.row, "sizes", "serialized items have no sizes")
    return sizes


def _kit_contents(errors: _Errors, row: CsvRow, kind: str) -> list[tuple[str, int, int]]:
    raw = row.get("kit_contents")
    if not raw:
        return []
    if kind and kind != ItemKind.toolbox:
        errors.add(row.row, "kit_contents", f"only a toolbox has kit contents, not a {kind}")
        return []
    contents: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for part in raw.split("|"):
        sku, _, qty_text = part.strip().partition(":")
        sku, qty_text = sku.strip(), qty_text.strip() or "1"
        if not sku:
            errors.add(row.row, "kit_contents", f"{part.strip()!r} names no sku (write SKU:QTY|SKU:QTY)")
            continue
        if not _DIGITS.fullmatch(qty_text) or not (1 <= int(qty_text) <= MAX_KIT_QTY):
            errors.add(
                row.row, "kit_contents", f"{sku}: {qty_text!r} is not a quantity from 1 to {MAX_KIT_QTY}"
            )
            continue
        if sku in seen:
            errors.add(row.row, "kit_contents", f"{sku} is listed twice")
            continue
        if sku == row.get("sku"):
            errors.add(row.row, "kit_contents", "a kit cannot contain itself")
            continue
        seen.add(sku)
        contents.append((sku, int(qty_text), row.row))
    return contents


async def import_catalog(
    session: AsyncSession, source: Source, *, progress: ProgressFn = _no_progress
) -> ImportSummary:
    """Add the items of a catalog CSV (and the contents of its toolbox kits)."""
    await begin_write(session)
    file = read_csv(source, CATALOG_SPEC)
    items, components = await validate_catalog(session, file.rows, progress, file.problems)
    for chunk in _chunks(items):
        await insert_synced_rows(session, Item, list(chunk))
        progress("Importing", len(chunk), len(items))
    for chunk in _chunks(components):
        await session.execute(insert(KitComponent.__table__), list(chunk))
    await session.flush()
    return ImportSummary("catalog", file.size, items=len(items), kit_components=len(components))


# --- serialized assets into depots -------------------------------------------------------------------


def _serial(
    errors: _Errors,
    row: CsvRow,
    item: _ItemInfo | None,
    sku: str,
    first_row: dict[tuple[Any, str], int],
) -> str:
    serial = _text(errors, row, "serial", max_length=SERIAL_MAX, required=True)
    if serial:
        key = (item.id if item else sku, serial)
        if key in first_row:
            errors.add(row.row, "serial", f"{sku} {serial} is repeated (first on row {first_row[key]})")
        else:
            first_row[key] = row.row
    return serial


def _item(errors: _Errors, row: CsvRow, items: dict[str, _ItemInfo]) -> tuple[str, _ItemInfo | None]:
    sku = row.get("sku")
    if not sku:
        errors.add(row.row, "sku", "is required")
        return sku, None
    item = items.get(sku)
    if item is None:
        errors.add(row.row, "sku", f"unknown sku {sku}")
    elif not item.is_active:
        errors.add(row.row, "sku", f"{sku} is no longer active")
        item = None
    return sku, item


async def _report_stored_serials(
    session: AsyncSession, errors: _Errors, first_row: dict[tuple[Any, str], int], skus: dict[UUID, str]
) -> None:
    pairs = [key for key in first_row if isinstance(key[0], UUID)]
    for item_id, serial in sorted(await _stored_serials(session, pairs), key=lambda p: first_row[p]):
        errors.add(first_row[(item_id, serial)], "serial", f"{skus[item_id]} {serial} already exists")


async def validate_assets(
    session: AsyncSession,
    rows: Sequence[CsvRow],
    progress: ProgressFn = _no_progress,
    problems: Iterable[RowError] = (),
) -> tuple[list[OpeningAsset], list[NewLocation]]:
    """Serialized assets for depots (and a load space for each van); raises ``ImportFailed``."""
    errors = _Errors(problems)
    items = await _items_by_sku(session)
    locations = await _locations_by_code(session, (r.get("location_code") for r in rows))
    van_codes = set(await _locations_by_code(session, (f"VAN-{r.get('serial')}"[:CODE_MAX] for r in rows)))
    now = utcnow()
    first_row: dict[tuple[Any, str], int] = {}
    assets: list[OpeningAsset] = []
    loads: list[NewLocation] = []
    tick = _validation_progress(progress, len(rows))
    for index, row in enumerate(rows, start=1):
        sku, item = _item(errors, row, items)
        if item is not None and item.tracking != Tracking.serial:
            errors.add(row.row, "sku", f"{sku} is a {item.kind} counted by quantity, not a serialized item")
            item = None
        serial = _serial(errors, row, item, sku, first_row)
        code = row.get("location_code")
        depot = locations.get(code)
        if not code:
            errors.add(row.row, "location_code", "is required")
        elif depot is None or not depot.is_active:
            errors.add(row.row, "location_code", f"unknown location {code}")
            depot = None
        elif depot.kind != LocationKind.depot:
            errors.add(row.row, "location_code", f"{code} is a {depot.kind}, not a depot")
            depot = None
        due_at = _when(errors, row, "due_at")
        load: NewLocation | None = None
        if item is not None and item.kind == ItemKind.vehicle and serial and depot is not None:
            load_code = f"VAN-{serial}"[:CODE_MAX]
            if load_code in van_codes:
                errors.add(row.row, "serial", f"a location with code {load_code} (a van's load space) exists")
            else:
                load = NewLocation(
                    LocationKind.vehicle, f"{item.name} {serial}"[:NAME_MAX], load_code, depot.region
                )
                van_codes.add(load_code)  # a second van with the same code in the file
        if item is not None and depot is not None and serial:
            if due_at is None and item.service_interval_days:
                due_at = now + timedelta(days=item.service_interval_days)
            if load is not None:
                loads.append(load)
            assets.append(
                OpeningAsset(
                    item_id=item.id,
                    serial=serial,
                    location_id=depot.id,
                    status=AssetStatus.in_stock,
                    region=depot.region,
                    due_at=due_at,
                    vehicle_location_id=load.id if load else None,
                )
            )
        tick(index)
    await _report_stored_serials(session, errors, first_row, {i.id: i.sku for i in items.values()})
    errors.raise_if_any()
    return assets, loads


async def _import_opening_assets(
    session: AsyncSession, source: Source, kind: str, spec, validate, actor: str, progress: ProgressFn
) -> ImportSummary:
    """Check every row of a file of serialized units, then write them with their opening movements."""
    await begin_write(session)
    user = await _actor(session, actor)
    file = read_csv(source, spec)
    assets, new_locations = await validate(session, file.rows, progress, file.problems)
    opening = await write_opening_assets(
        session,
        actor_id=user.id,
        assets=assets,
        new_locations=new_locations,
        reason=f"import: {kind}",
        args={"import": kind, "file": _name(source), "rows": file.size},
        progress=progress,
    )
    return ImportSummary(kind, file.size, opening=opening)


async def import_assets(
    session: AsyncSession, source: Source, *, actor: str = "manager", progress: ProgressFn = _no_progress
) -> ImportSummary:
    """Serialized assets (tools, toolboxes, vans, spare units) into depots, each with its opening
    movement; vans get their load space."""
    return await _import_opening_assets(
        session, source, "assets", ASSETS_SPEC, validate_assets, actor, progress
    )


# --- the installed base ------------------------------------------------------------------------------


@dataclass
class SiteFacts:
    """What an installed-base file says about a site beyond its inventory location: whose it is and
    where it is (for the jobs domain's ``site``)."""

    customer_code: str = ""
    customer_name: str = ""
    lat: float | None = None
    lon: float | None = None


def _coordinate(errors: _Errors, row: CsvRow, column: str, limit: float) -> float | None:
    value = row.get(column)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        errors.add(row.row, column, f"{value!r} is not a number")
        return None
    if not -limit <= number <= limit:
        errors.add(row.row, column, f"{value} is outside -{limit:g}…{limit:g}")
        return None
    return number


async def validate_installed_base(
    session: AsyncSession,
    rows: Sequence[CsvRow],
    progress: ProgressFn = _no_progress,
    problems: Iterable[RowError] = (),
    site_facts: dict[str, SiteFacts] | None = None,
) -> tuple[list[OpeningAsset], list[NewLocation]]:
    """Installed units at customer sites (and the sites not stored yet); raises ``ImportFailed``.
    ``site_facts`` collects the customer and coordinates given per site code."""
    errors = _Errors(problems)
    facts = site_facts if site_facts is not None else {}
    items = await _items_by_sku(session)
    stored_sites = await _locations_by_code(session, (r.get("site_code") for r in rows))
    latest = utcnow() + FUTURE_SLACK
    first_row: dict[tuple[Any, str], int] = {}
    new_sites: dict[str, tuple[NewLocation, int]] = {}
    assets: list[OpeningAsset] = []
    tick = _validation_progress(progress, len(rows))
    for index, row in enumerate(rows, start=1):
        sku, item = _item(errors, row, items)
        if item is not None and item.kind != ItemKind.spare_unit:
            errors.add(row.row, "sku", f"{sku} is a {item.kind}; the installed base holds spare_unit models")
            item = None
        serial = _serial(errors, row, item, sku, first_row)
        code = _text(errors, row, "site_code", max_length=CODE_MAX, required=True)
        name = _text(errors, row, "site_name", max_length=NAME_MAX)
        region = _text(errors, row, "region", max_length=REGION_MAX)
        address = _text(errors, row, "address", max_length=ADDRESS_MAX)
        installed_at = _when(errors, row, "installed_at")
        if installed_at is not None and installed_at > latest:
            errors.add(row.row, "installed_at", f"{row.get('installed_at')} is in the future")
        customer_code = _text(errors, row, "customer_code", max_length=CODE_MAX)
        customer_name = _text(errors, row, "customer_name", max_length=NAME_MAX)
        lat, lon = _coordinate(errors, row, "lat", 90), _coordinate(errors, row, "lon", 180)
        if (lat is None) != (lon is None) and not (row.get("lat") and row.get("lon")):
            errors.add(row.row, "lat" if lat is None else "lon", "give both lat and lon, or neither")
        if code:
            known = facts.setdefault(code, SiteFacts())
            for column, given in (("customer_code", customer_code), ("customer_name", customer_name)):
                earlier = getattr(known, column)
                if given and earlier and given != earlier:
                    errors.add(row.row, column, f"site {code} has {column} {earlier!r} on an earlier row")
                elif given:
                    setattr(known, column, given)
            if lat is not None and lon is not None:
                known.lat, known.lon = lat, lon
        site_id: UUID | None = None
        site_region = ""
        if code and code in stored_sites:
            site = stored_sites[code]
            if site.kind != LocationKind.site:
                errors.add(row.row, "site_code", f"{code} is a {site.kind}, not a site")
            elif not site.is_active:
                errors.add(row.row, "site_code", f"site {code} is no longer active")
            elif region and region != site.region:
                errors.add(row.row, "region", f"site {code} is in region {site.region!r}, not {region!r}")
            else:
                site_id, site_region = site.id, site.region
        elif code and code in new_sites:
            site, first = new_sites[code]
            for column, given, known in (("site_name", name, site.name), ("region", region, site.region)):
                if given and given != known:
                    errors.add(row.row, column, f"site {code} was given {column} {known!r} on row {first}")
            site_id, site_region = site.id, site.region
        elif code:
            if not name:
                errors.add(row.row, "site_name", f"is required for the new site {code}")
            if not region:
                errors.add(row.row, "region", f"is required for the new site {code}")
            if name and region:
                site = NewLocation(LocationKind.site, name, code, region, address)
                new_sites[code] = (site, row.row)
                site_id, site_region = site.id, region
        if item is not None and serial and site_id is not None:
            assets.append(
                OpeningAsset(
                    item_id=item.id,
                    serial=serial,
                    location_id=site_id,
                    status=AssetStatus.installed,
                    region=site_region,
                    installed_at=installed_at,
                )
            )
        tick(index)
    await _report_stored_serials(session, errors, first_row, {i.id: i.sku for i in items.values()})
    errors.raise_if_any()
    return assets, [site for site, _row in new_sites.values()]


async def import_installed_base(
    session: AsyncSession, source: Source, *, actor: str = "manager", progress: ProgressFn = _no_progress
) -> ImportSummary:
    """Units installed at customer sites (creating the sites not stored yet), each with its opening
    movement; the spare shortage of every model and region touched is re-checked. Every site location
    then has its jobs-domain ``site`` (of the customer the file names, else a placeholder customer a
    manager can correct) and every installed unit its ``unit``, so jobs can be raised on them."""
    from backend.jobs.catalog import (
        UNRECORDED_CUSTOMER_CODE,
        UNRECORDED_CUSTOMER_NAME,
        customer_by_code,
        link_installed_base,
    )
    from backend.jobs.models import Site

    facts: dict[str, SiteFacts] = {}

    async def validate(*args):
        return await validate_installed_base(*args, site_facts=facts)

    summary = await _import_opening_assets(
        session, source, "installed-base", INSTALLED_BASE_SPEC, validate, actor, progress
    )
    customers: dict[str, UUID] = {}
    for fact in facts.values():
        if fact.customer_code and fact.customer_code not in customers:
            customers[fact.customer_code] = await customer_by_code(
                session, fact.customer_code, fact.customer_name or fact.customer_code
            )

    def customer_for(location: Location) -> UUID:
        fact = facts.get(location.code or "")
        code = fact.customer_code if fact and fact.customer_code else UNRECORDED_CUSTOMER_CODE
        if code not in customers:
            raise RuntimeError(f"customer {code} was not prepared")  # every site of the file has one
        return customers[code]

    def site_details(location: Location) -> dict[str, Any]:
        fact = facts.get(location.code or "")
        return {"lat": fact.lat, "lon": fact.lon} if fact and fact.lat is not None else {}

    # Site locations stored before this import (without a row in this file) may lack a site too.
    unlinked = await session.scalars(
        select(Location.code)
        .outerjoin(Site, Site.location_id == Location.id)
        .where(Location.kind == LocationKind.site, Site.id.is_(None))
    )
    if UNRECORDED_CUSTOMER_CODE not in customers and any(
        not (facts.get(code or "") and facts[code].customer_code) for code in unlinked
    ):
        customers[UNRECORDED_CUSTOMER_CODE] = await customer_by_code(
            session, UNRECORDED_CUSTOMER_CODE, UNRECORDED_CUSTOMER_NAME
        )
    linked = await link_installed_base(session, customer_for=customer_for, site_details=site_details)
    summary.sites, summary.units = linked.sites, linked.units
    return summary


IMPORTERS = {
    "catalog": import_catalog,
    "assets": import_assets,
    "installed-base": import_installed_base,
}


def _name(source: Source) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return str(getattr(source, "name", ""))
