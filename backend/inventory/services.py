"""Inventory and custody operations: one named verb per rule, used by the REST API now and by the
sync mutators later.

Every operation carries a client-made ``move_id``. The first time it is seen the operation runs and
its result is stored in ``inventory_operation`` in the same transaction as its movements; any replay
returns that stored result and changes nothing.

Facts from the field are never rejected (SYNC.md): a checkout of an asset the store places elsewhere
still moves it and raises a ``custody_conflict``; a quantity taking a location below zero still moves
and raises a ``stock_discrepancy``; ``damaged`` and ``lost`` returns raise exceptions for the quality
and penalty workflow. What *is* refused, before anything is written: unknown records, impossible
quantities or sizes, moves between the wrong kinds of location, and acting outside one's scope.

Concurrency: on PostgreSQL the balance and asset rows an operation changes are locked
(``SELECT … FOR UPDATE``, in a fixed order) before they are read; on SQLite the operation takes the
write lock first (``begin_write``). Either way each operation reads the latest committed state and
balances stay exact under concurrent operations.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, Team, User
from backend.auth.services import CurrentUser, UserService, led_team_ids
from backend.db import begin_write, is_queued, queue_insert, transaction_cache, utcnow
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.events import SpareShortageAppeared, record_event
from backend.inventory.models import (
    CUSTODY_KINDS,
    DEFAULT_SPARE_RATIO,
    Asset,
    AssetService,
    AssetStatus,
    Balance,
    Condition,
    Handover,
    HandoverStatus,
    InventoryOperation,
    Item,
    ItemKind,
    Location,
    LocationKind,
    Movement,
    Operation,
    SparePolicy,
    SpareShortage,
    Tracking,
)
from backend.jobs.models import Blob
from backend.sync.exceptions import raise_exception
from backend.sync.feed import insert_synced_row_if_absent
from backend.sync.models import ExceptionKind

CONSUMED_CODE = "CONSUMED"
WRITTEN_OFF_CODE = "WRITTEN-OFF"
SERVICEABLE_STATUSES = (AssetStatus.in_stock, AssetStatus.in_custody)
# Ledger rows are written as plain rows (``queue_insert``), not ORM objects: they are append-only and
# the volume is high, and nothing reads them back within the operation.
OPERATION_TABLE = InventoryOperation.__table__
MOVEMENT_TABLE = Movement.__table__


# ---------------------------------------------------------------------------------------------------
# What an operation is asked to do, and what it answers


@dataclass(frozen=True)
class Stock:
    """What moves: one serialized asset, or a quantity of an item (of a size)."""

    asset_id: UUID | None = None
    item_id: UUID | None = None
    qty: int | None = None
    size: str = ""


@dataclass(frozen=True)
class OperationContext:
    actor: CurrentUser
    move_id: UUID
    recorded_at: datetime | None = None  # on the device; defaults to when the server received it
    job_id: UUID | None = None
    reason: str = ""
    # The request or mutation as it arrived, kept with any exception it raises.
    args: dict[str, Any] | None = None


@dataclass
class OperationResult:
    move_id: UUID
    operation: str
    duplicate: bool = False
    movement_ids: list[UUID] = field(default_factory=list)
    exception_ids: list[UUID] = field(default_factory=list)
    asset_ids: list[UUID] = field(default_factory=list)
    handover_id: UUID | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "move_id": str(self.move_id),
            "operation": self.operation,
            "movement_ids": [str(m) for m in self.movement_ids],
            "exception_ids": [str(e) for e in self.exception_ids],
            "asset_ids": [str(a) for a in self.asset_ids],
            "handover_id": str(self.handover_id) if self.handover_id else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OperationResult:
        return cls(
            move_id=UUID(data["move_id"]),
            operation=data["operation"],
            duplicate=True,
            movement_ids=[UUID(m) for m in data["movement_ids"]],
            exception_ids=[UUID(e) for e in data["exception_ids"]],
            asset_ids=[UUID(a) for a in data.get("asset_ids", [])],
            handover_id=UUID(data["handover_id"]) if data.get("handover_id") else None,
        )


@dataclass(frozen=True)
class CountLine:
    item_id: UUID
    counted: int
    size: str = ""


@dataclass(frozen=True)
class NewAsset:
    serial: str
    due_at: datetime | None = None


@dataclass
class SpareReportRow:
    item_id: UUID
    sku: str
    model: str
    region: str
    installed: int
    ratio: float
    minimum: int
    required: int
    serviceable: int
    in_repair: int
    in_transit: int
    shortage: int


# A phone's clock can be wrong, but not by years: beyond this a time is a bug or an attack, and far
# enough out it would overflow date arithmetic (next due dates) or the conversion to UTC.
DEVICE_TIME_PAST = timedelta(days=3 * 365)
DEVICE_TIME_FUTURE = timedelta(days=1)
EARLIEST_DATE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2200, 1, 1, tzinfo=UTC)


def check_device_time(value: datetime | None, field_name: str) -> None:
    """A time recorded on a device (when it happened): within the last three years, not tomorrow."""
    if value is None:
        return
    now = utcnow()
    try:
        in_range = now - DEVICE_TIME_PAST <= value <= now + DEVICE_TIME_FUTURE
    except (TypeError, OverflowError):  # naive, or beyond what UTC arithmetic can hold
        in_range = False
    if not in_range:
        raise InvalidInput(
            f"{field_name} must be a time with its offset, within the last three years and not in the future",
            field=field_name,
        )


def check_date(value: datetime | None, field_name: str) -> None:
    """A planned date (a due date): with an offset, between 2000 and 2200."""
    if value is None:
        return
    try:
        in_range = EARLIEST_DATE <= value < LATEST_DATE
    except (TypeError, OverflowError):
        in_range = False
    if not in_range:
        raise InvalidInput(
            f"{field_name} must be a date with its offset between 2000 and 2200", field=field_name
        )


def required_spares(installed: int, ratio: float, minimum: int) -> int:
    """The brief: spares at about 1% of the installed base, rounded up, never below the minimum."""
    # round() first: 0.01 × 300 is 3.0000000000000004 in binary floating point, which is 3 spares.
    return max(math.ceil(round(installed * ratio, 9)), minimum)


def _operation(method):
    """Run an operation without autoflush: its reads go to rows it has already locked (cached for the
    transaction), and its writes reach the database in one flush (at commit, or before a query that
    needs them), as multi-row statements when operations are batched."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        with self.session.no_autoflush:
            return await method(self, *args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------------------------------


class InventoryService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._op: OperationContext | None = None
        self._result: OperationResult | None = None
        self._line = 0
        self._record: dict[str, Any] | None = None
        self._shortage_checks: set[tuple[UUID, str]] = set()

    # --- lookups that refuse unknown records -----------------------------------------------------

    @property
    def _is_postgres(self) -> bool:
        return self.session.bind.dialect.name == "postgresql"

    async def _get_cached(self, model: type, key: UUID):
        # The session's identity map holds rows weakly; this keeps the catalog rows, places and people
        # an operation looked up for the rest of the transaction, so a batch reads each once.
        cache = transaction_cache(self.session)
        if (model, key) not in cache:
            cache[(model, key)] = await self.session.get(model, key)
        return cache[(model, key)]

    async def item(self, item_id: UUID, field_name: str = "item_id") -> Item:
        item = await self._get_cached(Item, item_id)
        if item is None:
            raise InvalidInput("no such item", field=field_name, code="UNKNOWN_ITEM")
        return item

    async def location(self, location_id: UUID, field_name: str = "location_id") -> Location:
        location = await self._get_cached(Location, location_id)
        if location is None or not location.is_active:
            raise InvalidInput("no such location", field=field_name, code="UNKNOWN_LOCATION")
        return location

    async def _locked_asset(self, asset_id: UUID, field_name: str = "asset_id") -> Asset:
        statement = select(Asset).where(Asset.id == asset_id).execution_options(populate_existing=True)
        if self._is_postgres:
            statement = statement.with_for_update()
        asset = await self.session.scalar(statement)
        if asset is None:
            raise InvalidInput("no such asset", field=field_name, code="UNKNOWN_ASSET")
        return asset

    async def _user(self, user_id: UUID, field_name: str = "user_id") -> User:
        user = await self._get_cached(User, user_id)
        if user is None or not user.is_active:
            raise InvalidInput("no such active user", field=field_name, code="UNKNOWN_USER")
        return user

    @staticmethod
    def _require_kind(location: Location, kinds: set[str] | frozenset[str], field_name: str) -> None:
        if location.kind not in kinds:
            allowed = ", ".join(sorted(kinds))
            raise InvalidInput(
                f"a {location.kind} location cannot be used here (expected {allowed})",
                field=field_name,
                code="WRONG_LOCATION_KIND",
            )

    @staticmethod
    def _check_size(item: Item, size: str) -> str:
        size = (size or "").strip()
        if item.sizes:
            if size not in item.sizes:
                raise InvalidInput(
                    f"{item.sku} comes in sizes {', '.join(item.sizes)}; {size!r} is not one of them",
                    field="size",
                    code="INVALID_SIZE",
                )
        elif size:
            raise InvalidInput(f"{item.sku} has no sizes", field="size", code="INVALID_SIZE")
        return size

    @staticmethod
    def _check_qty(qty: int | None) -> int:
        if qty is None or isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise InvalidInput("qty must be a whole number above zero", field="qty", code="INVALID_QTY")
        if qty > 1_000_000:
            raise InvalidInput("qty is implausibly large", field="qty", code="INVALID_QTY")
        return qty

    async def _resolve_stock(self, stock: Stock) -> tuple[Item, Asset | None, int, str]:
        if (stock.asset_id is None) == (stock.item_id is None):
            raise InvalidInput("give either asset_id or item_id with qty", field="asset_id")
        if stock.asset_id is not None:
            asset = await self._locked_asset(stock.asset_id)
            return await self.item(asset.item_id), asset, 1, ""
        item = await self.item(stock.item_id)
        if item.tracking == Tracking.serial:
            raise InvalidInput(
                f"{item.sku} is tracked by serial number: name the asset",
                field="asset_id",
                code="SERIAL_REQUIRED",
            )
        return item, None, self._check_qty(stock.qty), self._check_size(item, stock.size)

    # --- scope ------------------------------------------------------------------------------------

    async def _check_may_act_for(self, actor: CurrentUser, user: User, field_name: str = "user_id") -> None:
        """A manager acts for anyone, anyone for themselves, a supervisor for the technicians they may
        see (the users' own visibility rule); quality records nothing in the store."""
        if actor.role == Role.manager or actor.id == user.id:
            return
        if actor.role != Role.quality:
            scope = await UserService(self.session).visible_user_ids_filter(actor)
            if await self.session.scalar(select(User.id).where(User.id == user.id, scope)) is not None:
                return
        raise Forbidden("you cannot act for this person", field=field_name)

    async def _check_may_use_location(self, actor: CurrentUser, location: Location, field_name: str) -> None:
        """Custody locations belong to their technician: others reach them only through scope."""
        if location.kind not in CUSTODY_KINDS or location.user_id is None:
            return
        holder = await self._get_cached(User, location.user_id)
        try:
            await self._check_may_act_for(actor, holder, field_name)
        except Forbidden:
            raise Forbidden("that stock belongs to another technician", field=field_name) from None

    async def _technician(self, actor: CurrentUser, user_id: UUID | None) -> User:
        user = await self._user(user_id or actor.id)
        if user.role not in (Role.technician, Role.supervisor):
            raise InvalidInput("custody is held by technicians and supervisors", field="user_id")
        await self._check_may_act_for(actor, user)
        return user

    # --- well-known locations ---------------------------------------------------------------------

    async def person_location(self, user: User) -> Location:
        cache = transaction_cache(self.session)
        if ("person", user.id) not in cache:
            cache[("person", user.id)] = await self._person_location(user)
        return cache[("person", user.id)]

    async def _person_location(self, user: User) -> Location:
        def find():
            return select(Location).where(Location.kind == LocationKind.person, Location.user_id == user.id)

        location = await self.session.scalar(find())
        if location is None and self._is_postgres:
            # Two first operations for one technician at once must not make two person locations:
            # the second waits for the first on the user's row, then finds its location.
            await self.session.execute(select(User.id).where(User.id == user.id).with_for_update())
            location = await self.session.scalar(find())
        if location is None:
            region = ""
            if user.team_id is not None:
                region = await self.session.scalar(select(Team.region).where(Team.id == user.team_id)) or ""
            location = Location(
                kind=LocationKind.person, name=user.display_name, user_id=user.id, region=region
            )
            self.session.add(location)
            await self.session.flush()
        return location

    async def vehicle_location(self, user_id: UUID) -> Location | None:
        cache = transaction_cache(self.session)
        if ("vehicle", user_id) not in cache:
            cache[("vehicle", user_id)] = await self.session.scalar(
                select(Location).where(
                    Location.kind == LocationKind.vehicle, Location.user_id == user_id, Location.is_active
                )
            )
        return cache[("vehicle", user_id)]

    async def _sink(self, code: str, name: str) -> Location:
        """A well-known write-off location, made on first use (concurrent first uses make one)."""
        cache = transaction_cache(self.session)
        if ("sink", code) in cache:
            return cache[("sink", code)]
        find = select(Location).where(Location.code == code)
        location = await self.session.scalar(find)
        if location is None:
            row = {"id": uuid4(), "kind": LocationKind.written_off, "name": name, "code": code}
            row |= {"region": "", "address": "", "is_active": True}
            await insert_synced_row_if_absent(self.session, Location, row, unique=["code"])
            location = await self.session.scalar(find)
        cache[("sink", code)] = location
        return location

    async def preload_operations(self, move_ids: list[UUID]) -> None:
        """Look up a batch's ``move_id`` values in one query (a sync push), instead of one per operation."""
        cache = transaction_cache(self.session)
        seen = await self.session.scalars(
            select(InventoryOperation).where(InventoryOperation.move_id.in_(move_ids))
        )
        for record in seen:
            cache[("operation", record.move_id)] = record
        known_new = cache.setdefault("new_move_ids", set())
        known_new.update(m for m in move_ids if ("operation", m) not in cache)

    async def consumed_location(self) -> Location:
        return await self._sink(CONSUMED_CODE, "Consumed on jobs")

    async def written_off_location(self) -> Location:
        return await self._sink(WRITTEN_OFF_CODE, "Written off (lost, scrapped)")

    # --- the ledger -------------------------------------------------------------------------------

    async def _begin(self, operation: str, op: OperationContext) -> OperationResult | None:
        """Start an operation; returns the stored result when ``move_id`` was seen before."""
        check_device_time(op.recorded_at, "recorded_at")
        await begin_write(self.session)
        cache = transaction_cache(self.session)
        earlier = cache.get(("operation", op.move_id))
        if earlier is None and op.move_id not in cache.get("new_move_ids", ()):
            earlier = await self.session.get(InventoryOperation, op.move_id)
        if earlier is not None:
            stored = earlier if isinstance(earlier, dict) else earlier.__dict__
            if stored["actor_id"] != op.actor.id or stored["operation"] != str(operation):
                # Someone else's operation (or another kind) under this move_id: answering with its
                # result would drop this one silently.
                raise Conflict(
                    "this move_id was already used for a different operation",
                    field="move_id",
                    code="MOVE_ID_REUSED",
                )
            return OperationResult.from_json(stored["result"])
        self._op = op
        self._line = 0
        self._result = OperationResult(move_id=op.move_id, operation=operation)
        # Queued first, so its row precedes its movements; its result is filled in at the end (before
        # the row is written, unless something flushed mid-operation: then it is updated).
        self._record = {
            "move_id": op.move_id,
            "operation": str(operation),
            "actor_id": op.actor.id,
            "job_id": op.job_id,
            "recorded_at": op.recorded_at or utcnow(),
            "received_at": utcnow(),
            "args": op.args,
            "result": {},
        }
        queue_insert(self.session, OPERATION_TABLE, self._record)
        cache[("operation", op.move_id)] = self._record
        return None

    async def _finish(self) -> OperationResult:
        assert self._op is not None and self._result is not None
        if self._shortage_checks:
            await self.session.flush()  # the shortage check counts assets as they are now
            for item_id, region in sorted(self._shortage_checks, key=str):
                await self.check_spare_shortage(item_id, region)
            self._shortage_checks.clear()
        result = self._result
        self._record["result"] = result.to_json()
        if not is_queued(self.session, OPERATION_TABLE, self._record):
            await self.session.execute(
                update(OPERATION_TABLE)
                .where(OPERATION_TABLE.c.move_id == self._record["move_id"])
                .values(result=self._record["result"])
            )
        self._op, self._result, self._record = None, None, None
        return result

    async def _locked_balance(self, location_id: UUID, item_id: UUID, size: str) -> Balance:
        cache = transaction_cache(self.session)
        key = ("balance", location_id, item_id, size)
        if key not in cache:  # locked once per transaction; it stays locked until the commit
            cache[key] = await self._lock_balance_row(location_id, item_id, size)
        return cache[key]

    async def _lock_balance_row(self, location_id: UUID, item_id: UUID, size: str) -> Balance:
        def statement():
            query = (
                select(Balance)
                .where(Balance.location_id == location_id, Balance.item_id == item_id, Balance.size == size)
                .execution_options(populate_existing=True)
            )
            return query.with_for_update() if self._is_postgres else query

        balance = await self.session.scalar(statement())
        if balance is None:
            # Two first movements into one place may race to create its row: the database keeps one.
            row = {"id": uuid4(), "location_id": location_id, "item_id": item_id, "size": size, "qty": 0}
            await insert_synced_row_if_absent(
                self.session, Balance, row, unique=["location_id", "item_id", "size"]
            )
            balance = await self.session.scalar(statement())
        return balance

    async def _move(
        self,
        operation: str,
        item: Item,
        *,
        qty: int,
        source: Location | None,
        target: Location | None,
        asset: Asset | None = None,
        size: str = "",
        condition: str | None = None,
        custodian_id: UUID | None = None,
    ) -> tuple[UUID, int | None]:
        """Write one ledger line and move the balances with it; returns the line and the source's
        balance afterwards (None when there is no source)."""
        assert self._op is not None and self._result is not None
        keys = []
        if source is not None:
            keys.append((str(source.id), source.id, -qty))
        if target is not None:
            keys.append((str(target.id), target.id, qty))
        source_after = None
        for _key, location_id, delta in sorted(keys):  # one lock order everywhere: no deadlocks
            balance = await self._locked_balance(location_id, item.id, size)
            balance.qty = (balance.qty or 0) + delta
            if source is not None and location_id == source.id:
                source_after = balance.qty
        now, movement_id = utcnow(), uuid4()
        queue_insert(
            self.session,
            MOVEMENT_TABLE,
            {
                "id": movement_id,
                "created_at": now,
                "updated_at": now,
                "move_id": self._op.move_id,
                "line": self._line,
                "operation": str(operation),
                "from_location_id": source.id if source else None,
                "to_location_id": target.id if target else None,
                "item_id": item.id,
                "asset_id": asset.id if asset else None,
                "size": size,
                "qty": qty,
                "condition": condition,
                "job_id": self._op.job_id,
                "actor_id": self._op.actor.id,
                "custodian_id": custodian_id,
                "reason": self._op.reason,
                "recorded_at": self._op.recorded_at or now,
                "received_at": now,
            },
        )
        self._line += 1
        self._result.movement_ids.append(movement_id)
        return movement_id, source_after

    async def _raise(self, kind: str, message: str, *, user_id: UUID | None, **refs: Any) -> None:
        assert self._op is not None and self._result is not None
        exception = await raise_exception(
            self.session,
            kind=kind,
            message=message,
            user_id=user_id,
            raised_by_id=self._op.actor.id,
            mutation=self._op.args,
            move_id=self._op.move_id,
            job_id=self._op.job_id,
            **refs,
        )
        self._result.exception_ids.append(exception.id)

    async def _move_quantity(
        self,
        operation: str,
        item: Item,
        qty: int,
        size: str,
        source: Location | None,
        target: Location | None,
        *,
        custodian_id: UUID | None,
        condition: str | None = None,
    ) -> None:
        _movement, after = await self._move(
            operation,
            item,
            qty=qty,
            size=size,
            source=source,
            target=target,
            condition=condition,
            custodian_id=custodian_id,
        )
        if source is not None and after is not None and after < 0 and source.kind != LocationKind.written_off:
            shortfall = min(qty, -after)
            await self._raise(
                ExceptionKind.stock_discrepancy,
                f"{source.name} held {after + qty} of {item.sku}{' size ' + size if size else ''} "
                f"but {qty} left it; it is now {after}",
                user_id=custodian_id or source.user_id,
                item_id=item.id,
                location_id=source.id,
                qty=shortfall,
            )

    async def _location_of(self, location_id: UUID) -> Location:
        """Where the store has something (it exists: a foreign key says so)."""
        return await self._get_cached(Location, location_id)

    async def _move_asset(
        self,
        operation: str,
        asset: Asset,
        item: Item,
        target: Location,
        *,
        status: str,
        holder_id: UUID | None,
        condition: str | None = None,
        custodian_id: UUID | None = None,
        with_contents: bool = True,
        accepting_handover: bool = False,
    ) -> None:
        """Move a serialized asset from wherever the store has it to ``target`` (and a toolbox's tools
        with it): it is always in exactly one place."""
        if not accepting_handover and asset.status == AssetStatus.in_transit:
            await self._supersede_handovers(asset)
        source = await self._location_of(asset.location_id)
        if source is not None and source.id == target.id:
            source = target  # a change of status or holder in place still leaves a ledger line
        await self._move(
            operation,
            item,
            qty=1,
            source=source,
            target=target,
            asset=asset,
            condition=condition,
            custodian_id=custodian_id or holder_id or asset.holder_id,
        )
        asset.location_id = target.id
        asset.status = status
        asset.holder_id = holder_id
        if condition is not None:
            asset.condition = condition
        if item.kind == ItemKind.spare_unit:
            self._shortage_checks.add((item.id, asset.region))
        if operation != Operation.kit_content and asset.parent_asset_id is not None:
            asset.parent_asset_id = None  # a tool moved on its own has left its toolbox
        if with_contents and item.kind == ItemKind.toolbox:
            # Only the tools that are in the box travel with it: one that someone took out, lost or
            # sent to repair stays where the store has it (and is no longer part of the kit).
            statement = (
                select(Asset)
                .where(Asset.parent_asset_id == asset.id)
                .order_by(Asset.id)
                .execution_options(populate_existing=True)
            )
            if self._is_postgres:
                statement = statement.with_for_update()
            for child in list(await self.session.scalars(statement)):
                if child.location_id != (source.id if source else None) or child.status not in (
                    *SERVICEABLE_STATUSES,
                    AssetStatus.in_transit,
                ):
                    child.parent_asset_id = None
                    continue
                child_item = await self.item(child.item_id)
                await self._move_asset(
                    Operation.kit_content,
                    child,
                    child_item,
                    target,
                    status=status,
                    holder_id=holder_id,
                    custodian_id=custodian_id,
                    with_contents=False,
                )

    @staticmethod
    def _refuse_van(asset: Asset | None) -> None:
        # A van is also a location (its load space); it moves only by assignment, so the two agree.
        if asset is not None and asset.vehicle_location_id is not None:
            raise InvalidInput(
                "vans move by assigning and unassigning them", field="asset_id", code="USE_VEHICLE_ASSIGN"
            )

    async def _custody_source(self, user: User, from_location_id: UUID | None) -> Location:
        """Where counted stock leaves a technician's custody: the location they name (their person or
        van), else their person."""
        if from_location_id is None:
            return await self.person_location(user)
        source = await self.location(from_location_id, "from_location_id")
        self._require_kind(source, CUSTODY_KINDS, "from_location_id")
        if source.user_id != user.id:
            raise Forbidden("that stock is not in this technician's custody", field="from_location_id")
        return source

    async def _custody_target(self, user: User, to_vehicle: bool) -> Location:
        if to_vehicle:
            vehicle = await self.vehicle_location(user.id)
            if vehicle is None:
                raise InvalidInput(
                    f"{user.display_name} has no vehicle assigned", field="to_vehicle", code="NO_VEHICLE"
                )
            return vehicle
        return await self.person_location(user)

    async def _supersede_handovers(self, asset: Asset) -> None:
        """A later recorded movement of an asset ends any hand-over of it still waiting for acceptance:
        accepting it afterwards would pull the asset back from wherever it went. Only an asset in
        transit has one (a hand-over sets that status until it is decided)."""
        pending = list(
            await self.session.scalars(
                select(Handover).where(
                    Handover.asset_id == asset.id, Handover.status == HandoverStatus.pending
                )
            )
        )
        pending += transaction_cache(self.session).get(("handovers", asset.id), [])  # not flushed yet
        for handover in pending:
            if handover.status == HandoverStatus.pending:
                handover.status = HandoverStatus.declined
                handover.note = "superseded: the asset was moved by a later recorded operation"
                handover.decided_at = utcnow()

    async def _note_custody_conflict(
        self, asset: Asset, item: Item, claimed_source: UUID | None, taker: User, *, must_hold: bool = False
    ) -> None:
        """The field says the asset came from ``claimed_source`` (or, with ``must_hold``, from the
        taker's own custody); raise a conflict when the store believed otherwise (someone else holds
        it, nobody does, it is in transit, or at another place)."""
        held_by_other = asset.holder_id is not None and asset.holder_id != taker.id
        elsewhere = claimed_source is not None and asset.location_id != claimed_source
        unexpected_status = asset.status in (
            AssetStatus.in_transit,
            AssetStatus.in_repair,
            AssetStatus.written_off,
            AssetStatus.installed,
        )
        not_held = must_hold and asset.holder_id != taker.id
        if not (held_by_other or elsewhere or unexpected_status or not_held):
            return
        where = await self._location_of(asset.location_id)
        holder = await self.session.get(User, asset.holder_id) if asset.holder_id else None
        believed = (
            f"held by {holder.display_name}"
            if holder
            else f"at {where.name if where else 'an unknown place'}"
        )
        await self._raise(
            ExceptionKind.custody_conflict,
            f"{taker.display_name} took {item.sku} {asset.serial}, which the store had {believed} "
            f"({asset.status}); it was moved as recorded",
            user_id=taker.id,
            asset_id=asset.id,
            item_id=item.id,
            location_id=asset.location_id,
            other_user_id=asset.holder_id if held_by_other else None,
        )

    # --- operations -------------------------------------------------------------------------------

    @_operation
    async def receive(
        self,
        op: OperationContext,
        *,
        to_location_id: UUID,
        item_id: UUID,
        qty: int | None = None,
        size: str = "",
        assets: list[NewAsset] | None = None,
    ) -> OperationResult:
        """Goods arrive at a depot: a quantity, or new serialized assets (a van gets its load space)."""
        if op.actor.role != Role.manager:
            raise Forbidden("only managers receive stock into a depot")
        if (stored := await self._begin(Operation.receive, op)) is not None:
            return stored
        depot = await self.location(to_location_id, "to_location_id")
        self._require_kind(depot, {LocationKind.depot}, "to_location_id")
        item = await self.item(item_id)
        if item.tracking == Tracking.quantity:
            if assets:
                raise InvalidInput(f"{item.sku} is counted, not serialized", field="assets")
            size = self._check_size(item, size)
            await self._move_quantity(
                Operation.receive, item, self._check_qty(qty), size, None, depot, custodian_id=None
            )
            return await self._finish()
        if not assets:
            raise InvalidInput(f"{item.sku} is serialized: list the serial numbers", field="assets")
        for index, new in enumerate(assets):
            check_date(new.due_at, f"assets[{index}].due_at")
        serials = [a.serial.strip() for a in assets]
        if len(set(serials)) != len(serials) or any(not s for s in serials):
            raise InvalidInput("serial numbers must be unique and not blank", field="assets")
        taken = await self.session.scalars(
            select(Asset.serial).where(Asset.item_id == item.id, Asset.serial.in_(serials))
        )
        if taken_list := list(taken):
            raise Conflict(
                f"{item.sku} already has serial(s) {', '.join(taken_list[:5])}",
                field="assets",
                code="SERIAL_TAKEN",
            )
        for new in assets:
            asset = Asset(
                item_id=item.id,
                serial=new.serial.strip(),
                status=AssetStatus.in_stock,
                location_id=depot.id,
                region=depot.region,
                due_at=new.due_at or self._next_due(item, op.recorded_at or utcnow()),
            )
            if item.kind == ItemKind.vehicle:
                code = f"VAN-{asset.serial}"[:40]
                if await self.session.scalar(select(Location.id).where(Location.code == code)):
                    raise Conflict(
                        f"a vehicle location {code} exists already", field="assets", code="SERIAL_TAKEN"
                    )
                load = Location(
                    kind=LocationKind.vehicle,
                    name=f"{item.name} {asset.serial}",
                    region=depot.region,
                    code=code,
                )
                self.session.add(load)
                await self.session.flush()
                asset.vehicle_location_id = load.id
            self.session.add(asset)
            await self.session.flush()
            await self._move(Operation.receive, item, qty=1, source=None, target=depot, asset=asset)
            self._result.asset_ids.append(asset.id)
            if item.kind == ItemKind.spare_unit:
                self._shortage_checks.add((item.id, asset.region))
        return await self._finish()

    @staticmethod
    def _next_due(item: Item, after: datetime) -> datetime | None:
        if item.service_interval_days:
            return after + timedelta(days=item.service_interval_days)
        return None

    @_operation
    async def checkout(
        self,
        op: OperationContext,
        stock: Stock,
        *,
        from_location_id: UUID,
        user_id: UUID | None = None,
        to_vehicle: bool = False,
        operation: str = Operation.checkout,
    ) -> OperationResult:
        """A technician takes an asset or a quantity into their custody (their person or their van)."""
        user = await self._technician(op.actor, user_id)
        if (stored := await self._begin(operation, op)) is not None:
            return stored
        source = await self.location(from_location_id, "from_location_id")
        self._require_kind(
            source, {LocationKind.depot, LocationKind.person, LocationKind.vehicle}, "from_location_id"
        )
        await self._check_may_use_location(op.actor, source, "from_location_id")
        item, asset, qty, size = await self._resolve_stock(stock)
        if operation == Operation.uniform_issue and item.kind != ItemKind.uniform:
            raise InvalidInput(f"{item.sku} is not a uniform", field="item_id", code="NOT_A_UNIFORM")
        target = await self._custody_target(user, to_vehicle)
        if target.id == source.id:
            raise InvalidInput("it is already there", field="from_location_id", code="SAME_LOCATION")
        if asset is None:
            await self._move_quantity(operation, item, qty, size, source, target, custodian_id=user.id)
        else:
            self._refuse_van(asset)
            await self._note_custody_conflict(asset, item, source.id, user)
            await self._move_asset(
                operation, asset, item, target, status=AssetStatus.in_custody, holder_id=user.id
            )
            if item.loan_days and source.kind == LocationKind.depot:
                asset.return_due_at = (op.recorded_at or utcnow()) + timedelta(days=item.loan_days)
        return await self._finish()

    @_operation
    async def issue_uniform(
        self,
        op: OperationContext,
        *,
        user_id: UUID,
        item_id: UUID,
        size: str,
        qty: int,
        from_location_id: UUID,
    ) -> OperationResult:
        """Uniforms are issued by size from a depot to a technician (who keeps them)."""
        if op.actor.role not in (Role.manager, Role.supervisor):
            raise Forbidden("uniforms are issued by supervisors and managers")
        return await self.checkout(
            op,
            Stock(item_id=item_id, qty=qty, size=size),
            from_location_id=from_location_id,
            user_id=user_id,
            operation=Operation.uniform_issue,
        )

    @_operation
    async def return_(
        self,
        op: OperationContext,
        stock: Stock,
        *,
        to_location_id: UUID,
        condition: str,
        user_id: UUID | None = None,
        from_location_id: UUID | None = None,
        note: str = "",
        blobs: Sequence[str] = (),
    ) -> OperationResult:
        """Custody comes back to a depot (or straight to repair). Always accepted; ``damaged`` and
        ``lost`` raise an exception for the quality and penalty workflow, and lost goods are written off.
        The technician's ``note`` and photos (``blobs``, uploaded first) go with that exception; on an
        ``ok`` return they stay in the operation's arguments."""
        user = await self._technician(op.actor, user_id)
        if condition not in (Condition.ok, Condition.damaged, Condition.lost):
            raise InvalidInput("condition must be ok, damaged or lost", field="condition")
        if (stored := await self._begin(Operation.return_, op)) is not None:
            return stored
        await self._check_own_photos(op.actor, blobs)
        destination = await self.location(to_location_id, "to_location_id")
        self._require_kind(destination, {LocationKind.depot, LocationKind.repair}, "to_location_id")
        item, asset, qty, size = await self._resolve_stock(stock)
        self._refuse_van(asset)
        target = await self.written_off_location() if condition == Condition.lost else destination
        what = (
            f"{item.sku} {asset.serial}" if asset else f"{qty} × {item.sku}{' size ' + size if size else ''}"
        )
        if asset is not None:
            await self._note_custody_conflict(asset, item, None, user)
            status = {
                LocationKind.depot: AssetStatus.in_stock,
                LocationKind.repair: AssetStatus.in_repair,
                LocationKind.written_off: AssetStatus.written_off,
            }[target.kind]
            await self._move_asset(
                Operation.return_,
                asset,
                item,
                target,
                status=status,
                holder_id=None,
                condition=condition,
                custodian_id=user.id,
            )
            asset.return_due_at = None
        else:
            source = await self._custody_source(user, from_location_id)
            await self._move_quantity(
                Operation.return_, item, qty, size, source, target, custodian_id=user.id, condition=condition
            )
        if condition in (Condition.damaged, Condition.lost):
            await self._raise(
                ExceptionKind.damaged if condition == Condition.damaged else ExceptionKind.lost,
                f"{user.display_name} returned {what} as {condition}",
                user_id=user.id,
                asset_id=asset.id if asset else None,
                item_id=item.id,
                location_id=target.id,
                qty=qty,
                note=note.strip(),
                blobs=list(dict.fromkeys(blobs)),
            )
        return await self._finish()

    async def _check_own_photos(self, actor: CurrentUser, blobs: Sequence[str]) -> None:
        """Photos of a return are uploaded before it (else ``BlobMissing``: a push answers ``blocked``)
        by whoever records it: a hash seen elsewhere cannot be passed off as this tool's damage."""
        from backend.jobs.services import BlobMissing  # jobs builds on inventory, not the other way

        if not blobs:
            return
        found = await self.session.execute(
            select(Blob.sha256, Blob.uploaded_by_id).where(Blob.sha256.in_(set(blobs)))
        )
        uploaders = dict(found.all())
        for index, sha in enumerate(blobs):
            if sha not in uploaders:
                raise BlobMissing(sha, f"blobs[{index}]")
            if uploaders[sha] != actor.id:
                raise Forbidden(f"blob {sha} was uploaded by someone else", field=f"blobs[{index}]")

    @_operation
    async def transfer(
        self,
        op: OperationContext,
        stock: Stock,
        *,
        to_user_id: UUID,
        user_id: UUID | None = None,
        from_location_id: UUID | None = None,
    ) -> OperationResult:
        """A technician hands something to another; custody passes when the receiver accepts."""
        giver = await self._technician(op.actor, user_id)
        if (stored := await self._begin(Operation.transfer, op)) is not None:
            return stored
        receiver = await self._user(to_user_id, "to_user_id")
        if receiver.role not in (Role.technician, Role.supervisor):
            raise InvalidInput("hand-overs go to technicians or supervisors", field="to_user_id")
        if receiver.id == giver.id:
            raise InvalidInput("cannot hand over to oneself", field="to_user_id", code="SAME_USER")
        item, asset, qty, size = await self._resolve_stock(stock)
        if asset is not None:
            self._refuse_van(asset)
            await self._note_custody_conflict(asset, item, None, giver, must_hold=True)
            if asset.holder_id != giver.id or asset.status != AssetStatus.in_custody:
                # The giver had it in hand whatever the store believed: record that first, so the
                # hand-over starts from their custody (and a decline leaves it there).
                await self._move_asset(
                    Operation.transfer,
                    asset,
                    item,
                    await self.person_location(giver),
                    status=AssetStatus.in_custody,
                    holder_id=giver.id,
                )
            source_id = asset.location_id
            asset.status = AssetStatus.in_transit
            if item.kind == ItemKind.spare_unit:  # a spare in transit is not in the serviceable pool
                self._shortage_checks.add((item.id, asset.region))
        else:
            source = await self._custody_source(giver, from_location_id)
            source_id = source.id
        handover = Handover(
            move_id=op.move_id,
            from_user_id=giver.id,
            to_user_id=receiver.id,
            from_location_id=source_id,
            item_id=item.id,
            asset_id=asset.id if asset else None,
            size=size,
            qty=qty,
            recorded_at=op.recorded_at or utcnow(),
            note=op.reason,
        )
        self.session.add(handover)
        if asset is not None:
            transaction_cache(self.session).setdefault(("handovers", asset.id), []).append(handover)
        self._result.handover_id = handover.id
        return await self._finish()

    async def handover(self, current: CurrentUser, handover_id: UUID, *, lock: bool = False) -> Handover:
        statement = select(Handover).where(Handover.id == handover_id)
        if lock:
            # Two decisions at once (a double tap, the technician and their supervisor): the second
            # waits for the first and then sees it decided. SQLite writers are already serialized.
            statement = statement.execution_options(populate_existing=True)
            if self._is_postgres:
                statement = statement.with_for_update()
        handover = await self.session.scalar(statement)
        if handover is None:
            raise NotFound("no such hand-over", field="handover_id")
        if current.role == Role.manager or current.id in (handover.from_user_id, handover.to_user_id):
            return handover
        if current.role == Role.supervisor:
            teams = await led_team_ids(self.session, current.id)
            users = await self.session.scalars(
                select(User.team_id).where(User.id.in_([handover.from_user_id, handover.to_user_id]))
            )
            if teams & set(users):
                return handover
        if current.role == Role.quality:
            return handover
        raise NotFound("no such hand-over", field="handover_id")

    @_operation
    async def decide_handover(
        self,
        op: OperationContext,
        handover_id: UUID,
        *,
        accept: bool,
        to_vehicle: bool = False,
        record_late_answer: bool = False,
    ) -> OperationResult:
        """The receiver accepts (custody passes to them) or declines (it stays with the giver, and the
        disagreement becomes a custody conflict for the supervisor).

        An answer to a hand-over that is no longer pending is refused (``HANDOVER_DECIDED``), unless
        ``record_late_answer``: a phone's answer is a fact recorded offline (SYNC.md 1.1), so it is kept
        under its ``move_id`` with a custody conflict for the supervisor, and nothing moves."""
        if (stored := await self._begin(Operation.handover_decision, op)) is not None:
            return stored
        await self.session.flush()  # a hand-over recorded earlier in this transaction is looked up below
        handover = await self.handover(op.actor, handover_id, lock=True)
        receiver = await self._user(handover.to_user_id, "to_user_id")
        await self._check_may_act_for(op.actor, receiver)
        if handover.status != HandoverStatus.pending:
            if not record_late_answer:
                raise Conflict(f"the hand-over is already {handover.status}", code="HANDOVER_DECIDED")
            await self._note_late_answer(handover, receiver, accept=accept)
            return await self._finish()
        handover.status = HandoverStatus.accepted if accept else HandoverStatus.declined
        handover.decided_at = op.recorded_at or utcnow()
        handover.decided_by_id = op.actor.id
        item = await self.item(handover.item_id)
        asset = await self._locked_asset(handover.asset_id) if handover.asset_id else None
        if accept:
            target = await self._custody_target(receiver, to_vehicle)
            if asset is not None:
                await self._move_asset(
                    Operation.transfer,
                    asset,
                    item,
                    target,
                    status=AssetStatus.in_custody,
                    holder_id=receiver.id,
                    accepting_handover=True,
                )
            else:
                source = await self._location_of(handover.from_location_id)
                await self._move_quantity(
                    Operation.transfer,
                    item,
                    handover.qty,
                    handover.size,
                    source,
                    target,
                    custodian_id=handover.from_user_id,
                )
        else:
            if asset is not None and asset.status == AssetStatus.in_transit:
                asset.status = AssetStatus.in_custody
                if item.kind == ItemKind.spare_unit:
                    self._shortage_checks.add((item.id, asset.region))
            giver = await self.session.get(User, handover.from_user_id)
            await self._raise(
                ExceptionKind.custody_conflict,
                f"{receiver.display_name} declined the hand-over of {item.sku}"
                f"{' ' + asset.serial if asset else ''} from "
                f"{giver.display_name if giver else 'a technician'}"
                f"{': ' + op.reason.strip() if op.reason.strip() else ''}",
                user_id=handover.from_user_id,
                asset_id=asset.id if asset else None,
                item_id=item.id,
                location_id=handover.from_location_id,
                other_user_id=receiver.id,
                qty=handover.qty,
            )
        return await self._finish()

    async def _note_late_answer(self, handover: Handover, receiver: User, *, accept: bool) -> None:
        """An answer that came after the hand-over was decided (by another answer, or superseded by a
        later movement of the asset): a custody conflict about the receiver, naming what the store did."""
        assert self._op is not None
        item = await self.item(handover.item_id)
        asset = await self.session.get(Asset, handover.asset_id) if handover.asset_id else None
        giver = await self.session.get(User, handover.from_user_id)
        what = f"{item.sku}{' ' + asset.serial if asset else ''}"
        decided = str(handover.status)
        if handover.note.startswith("superseded"):
            decided = "cancelled (the asset was moved by a later recorded operation)"
        reason = self._op.reason.strip()
        await self._raise(
            ExceptionKind.custody_conflict,
            f"{receiver.display_name} {'accepted' if accept else 'declined'} the hand-over of {what} from "
            f"{giver.display_name if giver else 'a technician'}{': ' + reason if reason else ''}, but it was "
            f"already {decided}; nothing was moved",
            user_id=receiver.id,
            asset_id=asset.id if asset else None,
            item_id=item.id,
            location_id=asset.location_id if asset else handover.from_location_id,
            other_user_id=handover.from_user_id,
            qty=handover.qty,
        )

    @_operation
    async def consume(
        self,
        op: OperationContext,
        *,
        item_id: UUID,
        qty: int,
        size: str = "",
        asset_id: UUID | None = None,
        from_location_id: UUID | None = None,
        user_id: UUID | None = None,
    ) -> OperationResult:
        """Parts used on a job leave the technician's van (or person) for good."""
        user = await self._technician(op.actor, user_id)
        if op.job_id is None:
            raise InvalidInput("parts are consumed on a job", field="job_id")
        if (stored := await self._begin(Operation.consume, op)) is not None:
            return stored
        if from_location_id is not None:
            source = await self.location(from_location_id, "from_location_id")
            self._require_kind(
                source, {LocationKind.vehicle, LocationKind.person, LocationKind.depot}, "from_location_id"
            )
            await self._check_may_use_location(op.actor, source, "from_location_id")
        else:
            source = await self.vehicle_location(user.id) or await self.person_location(user)
        sink = await self.consumed_location()
        if asset_id is not None:
            item, asset, _, _ = await self._resolve_stock(Stock(asset_id=asset_id))
            if item.id != item_id:
                raise InvalidInput("the asset is not of that item", field="asset_id")
            if item.kind not in (ItemKind.part, ItemKind.consumable):
                raise InvalidInput(
                    f"{item.sku} is a {item.kind}, not a part or consumable",
                    field="asset_id",
                    code="NOT_CONSUMABLE",
                )
            await self._note_custody_conflict(asset, item, source.id, user)
            await self._move_asset(
                Operation.consume,
                asset,
                item,
                sink,
                status=AssetStatus.written_off,
                holder_id=None,
                custodian_id=user.id,
            )
        else:
            item, _, qty, size = await self._resolve_stock(Stock(item_id=item_id, qty=qty, size=size))
            if item.kind not in (ItemKind.part, ItemKind.consumable):
                raise InvalidInput(
                    f"{item.sku} is a {item.kind}, not a part or consumable",
                    field="item_id",
                    code="NOT_CONSUMABLE",
                )
            await self._move_quantity(Operation.consume, item, qty, size, source, sink, custodian_id=user.id)
        return await self._finish()

    @_operation
    async def swap_spare(
        self,
        op: OperationContext,
        *,
        installed_asset_id: UUID,
        spare_asset_id: UUID,
        removed_serial: str,
        repair_location_id: UUID | None = None,
        user_id: UUID | None = None,
    ) -> OperationResult:
        """A spare unit replaces a faulty installed unit: the spare becomes the installed unit at the
        site, the faulty one goes to repair (and counts as a spare in repair for its region)."""
        user = await self._technician(op.actor, user_id)
        if op.job_id is None:
            raise InvalidInput("a swap is done on a job", field="job_id")
        if (stored := await self._begin(Operation.swap_install, op)) is not None:
            return stored
        installed = await self._locked_asset(installed_asset_id, "installed_asset_id")
        spare = await self._locked_asset(spare_asset_id, "spare_asset_id")
        if installed.id == spare.id:
            raise InvalidInput("the spare and the installed unit are the same asset", field="spare_asset_id")
        installed_item, spare_item = await self.item(installed.item_id), await self.item(spare.item_id)
        if spare_item.kind != ItemKind.spare_unit:
            raise InvalidInput(
                f"{spare_item.sku} is not a spare unit", field="spare_asset_id", code="NOT_A_SPARE"
            )
        site = await self._location_of(installed.location_id)
        if site.kind != LocationKind.site or installed.status != AssetStatus.installed:
            raise InvalidInput(
                "that unit is not installed at a site", field="installed_asset_id", code="NOT_INSTALLED"
            )
        if repair_location_id is not None:
            repair = await self.location(repair_location_id, "repair_location_id")
            self._require_kind(repair, {LocationKind.repair}, "repair_location_id")
        else:
            repair = await self._default_repair_location(site.region)
        removed_serial = removed_serial.strip()
        if removed_serial and removed_serial != installed.serial:
            await self._raise(
                ExceptionKind.custody_conflict,
                f"{user.display_name} removed serial {removed_serial} at {site.name}, where the store had "
                f"{installed_item.sku} {installed.serial} installed; the recorded unit was sent to repair",
                user_id=user.id,
                asset_id=installed.id,
                item_id=installed_item.id,
                location_id=site.id,
            )
        if spare.holder_id != user.id and spare.location_id != (await self.person_location(user)).id:
            await self._note_custody_conflict(spare, spare_item, None, user)
        pool_region = spare.region
        await self._move_asset(
            Operation.swap_install,
            spare,
            spare_item,
            site,
            status=AssetStatus.installed,
            holder_id=None,
            condition=Condition.ok,
            custodian_id=user.id,
        )
        spare.region = site.region
        spare.installed_at = op.recorded_at or utcnow()
        spare.return_due_at = None
        self._shortage_checks.add((spare_item.id, pool_region))
        self._shortage_checks.add((spare_item.id, site.region))
        await self._move_asset(
            Operation.swap_remove,
            installed,
            installed_item,
            repair,
            status=AssetStatus.in_repair,
            holder_id=None,
            condition=Condition.faulty,
            custodian_id=user.id,
        )
        installed.installed_at = None
        self._result.asset_ids.extend([spare.id, installed.id])
        return await self._finish()

    async def _default_repair_location(self, region: str) -> Location:
        rows = list(
            await self.session.scalars(
                select(Location)
                .where(Location.kind == LocationKind.repair, Location.is_active)
                .order_by(Location.code)
            )
        )
        if not rows:
            raise InvalidInput(
                "there is no repair location to send the faulty unit to",
                field="repair_location_id",
                code="NO_REPAIR_LOCATION",
            )
        return next((r for r in rows if r.region == region), rows[0])

    @_operation
    async def install(
        self, op: OperationContext, *, asset_id: UUID, site_location_id: UUID
    ) -> OperationResult:
        """A new unit (an ATM from the depot or a van) is installed at a customer site."""
        if op.actor.role == Role.quality:
            raise Forbidden("quality does not move stock")
        if (stored := await self._begin(Operation.swap_install, op)) is not None:
            return stored
        asset = await self._locked_asset(asset_id)
        self._refuse_van(asset)
        item = await self.item(asset.item_id)
        site = await self.location(site_location_id, "site_location_id")
        self._require_kind(site, {LocationKind.site}, "site_location_id")
        source = await self._location_of(asset.location_id)
        await self._check_may_use_location(op.actor, source, "asset_id")
        # Installing what the store has as lost, in repair, installed elsewhere or with someone else is
        # recorded as done, and the contradiction raised.
        await self._note_custody_conflict(asset, item, None, await self._user(op.actor.id))
        pool_region = asset.region
        await self._move_asset(
            Operation.swap_install,
            asset,
            item,
            site,
            status=AssetStatus.installed,
            holder_id=None,
            custodian_id=asset.holder_id,
        )
        asset.region, asset.installed_at, asset.return_due_at = site.region, op.recorded_at or utcnow(), None
        self._shortage_checks.update({(item.id, pool_region), (item.id, site.region)})
        return await self._finish()

    @_operation
    async def send_to_repair(
        self, op: OperationContext, *, asset_id: UUID, to_location_id: UUID
    ) -> OperationResult:
        if op.actor.role not in (Role.manager, Role.supervisor):
            raise Forbidden("supervisors and managers send units to repair")
        if (stored := await self._begin(Operation.repair_send, op)) is not None:
            return stored
        asset = await self._locked_asset(asset_id)
        self._refuse_van(asset)
        item = await self.item(asset.item_id)
        repair = await self.location(to_location_id, "to_location_id")
        self._require_kind(repair, {LocationKind.repair}, "to_location_id")
        source = await self._location_of(asset.location_id)
        await self._check_may_use_location(op.actor, source, "asset_id")
        if asset.status in (AssetStatus.installed, AssetStatus.written_off):
            raise InvalidInput(
                f"the asset is {asset.status}; a swap takes installed units to repair",
                field="asset_id",
                code="WRONG_STATUS",
            )
        await self._move_asset(
            Operation.repair_send,
            asset,
            item,
            repair,
            status=AssetStatus.in_repair,
            holder_id=None,
            custodian_id=asset.holder_id,
        )
        return await self._finish()

    @_operation
    async def receive_from_repair(
        self, op: OperationContext, *, asset_id: UUID, to_location_id: UUID, repaired: bool
    ) -> OperationResult:
        """A unit comes back from repair: serviceable into a depot, or scrapped (written off)."""
        if op.actor.role not in (Role.manager, Role.supervisor):
            raise Forbidden("supervisors and managers receive units from repair")
        if (stored := await self._begin(Operation.repair_receive, op)) is not None:
            return stored
        asset = await self._locked_asset(asset_id)
        if asset.status != AssetStatus.in_repair:
            raise InvalidInput(
                f"the asset is {asset.status}, not in repair", field="asset_id", code="WRONG_STATUS"
            )
        item = await self.item(asset.item_id)
        depot = await self.location(to_location_id, "to_location_id")
        self._require_kind(depot, {LocationKind.depot}, "to_location_id")
        now = op.recorded_at or utcnow()
        if repaired:
            await self._move_asset(
                Operation.repair_receive,
                asset,
                item,
                depot,
                status=AssetStatus.in_stock,
                holder_id=None,
                condition=Condition.ok,
            )
            asset.region = depot.region
            asset.last_serviced_at, asset.due_at = now, self._next_due(item, now)
            self._shortage_checks.add((item.id, depot.region))
        else:
            await self._move_asset(
                Operation.repair_receive,
                asset,
                item,
                await self.written_off_location(),
                status=AssetStatus.written_off,
                holder_id=None,
                condition=Condition.faulty,
            )
        return await self._finish()

    @_operation
    async def count(
        self, op: OperationContext, *, location_id: UUID, lines: list[CountLine]
    ) -> OperationResult:
        """A stock count: each counted quantity that differs from the balance becomes an adjusting
        movement with the count's reason (a correction is a movement, never an edit)."""
        if op.actor.role == Role.quality:
            raise Forbidden("quality does not adjust stock")
        if not op.reason.strip():
            raise InvalidInput("a stock count needs a reason", field="reason")
        if not lines:
            raise InvalidInput("count at least one item", field="lines")
        location = await self.location(location_id)
        self._require_kind(
            location, {LocationKind.depot, LocationKind.person, LocationKind.vehicle}, "location_id"
        )
        if location.kind == LocationKind.depot and op.actor.role != Role.manager:
            raise Forbidden("only managers count a depot", field="location_id")
        await self._check_may_use_location(op.actor, location, "location_id")
        if (stored := await self._begin(Operation.count_adjust, op)) is not None:
            return stored
        seen: set[tuple[UUID, str]] = set()
        # Balances are locked in one order (item, size) whatever order the lines came in: two counts of
        # one place at once wait for each other instead of deadlocking.
        ordered = sorted(enumerate(lines), key=lambda pair: (str(pair[1].item_id), pair[1].size))
        for index, line in ordered:
            item = await self.item(line.item_id, f"lines[{index}].item_id")
            if item.tracking == Tracking.serial:
                raise InvalidInput(
                    f"{item.sku} is serialized: count it by its assets",
                    field=f"lines[{index}].item_id",
                    code="SERIAL_REQUIRED",
                )
            size = self._check_size(item, line.size)
            if (item.id, size) in seen:
                raise InvalidInput("an item and size is counted twice", field=f"lines[{index}]")
            seen.add((item.id, size))
            if isinstance(line.counted, bool) or not isinstance(line.counted, int) or line.counted < 0:
                raise InvalidInput("counted must be zero or more", field=f"lines[{index}].counted")
            balance = await self._locked_balance(location.id, item.id, size)
            difference = line.counted - (balance.qty or 0)
            if difference > 0:
                await self._move(
                    Operation.count_adjust,
                    item,
                    qty=difference,
                    source=None,
                    target=location,
                    size=size,
                    custodian_id=location.user_id,
                )
            elif difference < 0:
                await self._move(
                    Operation.count_adjust,
                    item,
                    qty=-difference,
                    source=location,
                    target=None,
                    size=size,
                    custodian_id=location.user_id,
                )
                if location.kind in CUSTODY_KINDS:
                    # Stock missing from someone's custody is a loss to look into, whoever counted it.
                    await self._raise(
                        ExceptionKind.stock_discrepancy,
                        f"a count of {location.name} found {-difference} × {item.sku}"
                        f"{' size ' + size if size else ''} fewer than recorded",
                        user_id=location.user_id,
                        item_id=item.id,
                        location_id=location.id,
                        qty=-difference,
                    )
        return await self._finish()

    @_operation
    async def assign_vehicle(
        self, op: OperationContext, *, vehicle_asset_id: UUID, user_id: UUID
    ) -> OperationResult:
        """A van goes to a technician: the van (an asset) into their custody, its load space (a
        location) and everything in it with it."""
        if op.actor.role not in (Role.manager, Role.supervisor):
            raise Forbidden("supervisors and managers assign vehicles")
        user = await self._technician(op.actor, user_id)
        if (stored := await self._begin(Operation.vehicle_assign, op)) is not None:
            return stored
        van = await self._locked_asset(vehicle_asset_id, "vehicle_asset_id")
        if van.vehicle_location_id is None:
            raise InvalidInput("that asset is not a vehicle", field="vehicle_asset_id", code="NOT_A_VEHICLE")
        existing = await self.vehicle_location(user.id)
        if existing is not None and existing.id != van.vehicle_location_id:
            raise Conflict(
                f"{user.display_name} already has a vehicle; unassign it first",
                field="user_id",
                code="VEHICLE_ALREADY_ASSIGNED",
            )
        load = await self._location_of(van.vehicle_location_id)
        if load.user_id is not None and load.user_id != user.id:
            await self._check_may_act_for(op.actor, await self.session.get(User, load.user_id))
        item = await self.item(van.item_id)
        await self._move_asset(
            Operation.vehicle_assign,
            van,
            item,
            await self.person_location(user),
            status=AssetStatus.in_custody,
            holder_id=user.id,
        )
        cache = transaction_cache(self.session)
        if load.user_id is not None:
            cache.pop(("vehicle", load.user_id), None)
        load.user_id = user.id
        cache[("vehicle", user.id)] = load
        await self._set_holder_of_contents(load.id, user.id, AssetStatus.in_custody)
        return await self._finish()

    @_operation
    async def unassign_vehicle(
        self, op: OperationContext, *, vehicle_asset_id: UUID, to_location_id: UUID
    ) -> OperationResult:
        if op.actor.role not in (Role.manager, Role.supervisor):
            raise Forbidden("supervisors and managers assign vehicles")
        if (stored := await self._begin(Operation.vehicle_unassign, op)) is not None:
            return stored
        van = await self._locked_asset(vehicle_asset_id, "vehicle_asset_id")
        if van.vehicle_location_id is None:
            raise InvalidInput("that asset is not a vehicle", field="vehicle_asset_id", code="NOT_A_VEHICLE")
        depot = await self.location(to_location_id, "to_location_id")
        self._require_kind(depot, {LocationKind.depot}, "to_location_id")
        load = await self._location_of(van.vehicle_location_id)
        if load.user_id is not None:
            await self._check_may_act_for(op.actor, await self.session.get(User, load.user_id))
        item = await self.item(van.item_id)
        await self._move_asset(
            Operation.vehicle_unassign, van, item, depot, status=AssetStatus.in_stock, holder_id=None
        )
        if load.user_id is not None:
            transaction_cache(self.session).pop(("vehicle", load.user_id), None)
        load.user_id = None
        await self._set_holder_of_contents(load.id, None, AssetStatus.in_stock)
        return await self._finish()

    async def _set_holder_of_contents(self, location_id: UUID, holder_id: UUID | None, status: str) -> None:
        await self.session.flush()
        contents = await self.session.scalars(select(Asset).where(Asset.location_id == location_id))
        for asset in contents:
            asset.holder_id = holder_id
            if asset.status in SERVICEABLE_STATUSES:
                asset.status = status

    async def record_service(
        self, current: CurrentUser, asset_id: UUID, *, kind: str, performed_at: datetime, note: str = ""
    ) -> AssetService:
        """A calibration, inspection or maintenance was done: the next one falls due an interval later."""
        if current.role == Role.quality:
            raise Forbidden("quality does not record services")
        check_device_time(performed_at, "performed_at")
        await begin_write(self.session)
        asset = await self._locked_asset(asset_id)
        item = await self.item(asset.item_id)
        location = await self._location_of(asset.location_id)
        await self._check_may_use_location(current, location, "asset_id")
        if current.role == Role.technician and asset.holder_id != current.id:
            raise Forbidden("technicians record services on what they hold", field="asset_id")
        if item.service_kind and kind != item.service_kind:
            raise InvalidInput(
                f"{item.sku} is due for {item.service_kind}, not {kind}",
                field="kind",
                code="WRONG_SERVICE_KIND",
            )
        next_due = self._next_due(item, performed_at)
        service = AssetService(
            asset_id=asset.id,
            kind=kind,
            performed_at=performed_at,
            actor_id=current.id,
            note=note,
            next_due_at=next_due,
        )
        self.session.add(service)
        asset.last_serviced_at, asset.due_at = performed_at, next_due
        await self.session.flush()
        return service

    # --- spare policy -----------------------------------------------------------------------------

    async def spare_report(
        self, *, item_id: UUID | None = None, region: str | None = None
    ) -> list[SpareReportRow]:
        """Per model and region: installed units, required spares, the serviceable pool, spares in repair
        and in transit, and the shortage. One grouped query over the asset table."""
        status, condition = Asset.status, Asset.condition
        statement = (
            select(
                Asset.item_id,
                Asset.region,
                func.sum(case((status == AssetStatus.installed, 1), else_=0)),
                func.sum(
                    case((and_(status.in_(SERVICEABLE_STATUSES), condition == Condition.ok), 1), else_=0)
                ),
                func.sum(case((status == AssetStatus.in_repair, 1), else_=0)),
                func.sum(case((status == AssetStatus.in_transit, 1), else_=0)),
            )
            .join(Item, Item.id == Asset.item_id)
            .where(Item.kind == ItemKind.spare_unit)
            .group_by(Asset.item_id, Asset.region)
        )
        if item_id is not None:
            statement = statement.where(Asset.item_id == item_id)
        if region is not None:
            statement = statement.where(Asset.region == region)
        counts = {(row[0], row[1]): row[2:] for row in await self.session.execute(statement)}
        policy_query = select(SparePolicy)
        if item_id is not None:
            policy_query = policy_query.where(SparePolicy.item_id == item_id)
        if region is not None:
            policy_query = policy_query.where(SparePolicy.region == region)
        policies = {(p.item_id, p.region): p for p in await self.session.scalars(policy_query)}
        keys = set(counts) | set(policies)
        items = {
            i.id: i for i in await self.session.scalars(select(Item).where(Item.id.in_({k[0] for k in keys})))
        }
        rows = []
        for key in keys:
            installed, serviceable, in_repair, in_transit = (
                int(v or 0) for v in counts.get(key, (0, 0, 0, 0))
            )
            policy = policies.get(key)
            ratio = policy.ratio if policy else DEFAULT_SPARE_RATIO
            minimum = policy.minimum if policy else 0
            required = required_spares(installed, ratio, minimum)
            item = items[key[0]]
            rows.append(
                SpareReportRow(
                    item_id=item.id,
                    sku=item.sku,
                    model=item.name,
                    region=key[1],
                    installed=installed,
                    ratio=ratio,
                    minimum=minimum,
                    required=required,
                    serviceable=serviceable,
                    in_repair=in_repair,
                    in_transit=in_transit,
                    shortage=max(0, required - serviceable),
                )
            )
        rows.sort(key=lambda r: (-r.shortage, r.sku, r.region))
        return rows

    async def check_spare_shortage(self, item_id: UUID, region: str) -> None:
        """Open, update or close the shortage record of a model in a region; a newly opened one is
        announced with a ``SpareShortageAppeared`` event."""
        if self._is_postgres:
            # Two spare movements of one model at once must not both open a shortage: the model's
            # catalog row serializes the check (SQLite writers are serialized already).
            await self.session.execute(select(Item.id).where(Item.id == item_id).with_for_update())
        rows = await self.spare_report(item_id=item_id, region=region)
        shortage = rows[0] if rows else None
        current = await self.session.scalar(
            select(SpareShortage).where(
                SpareShortage.item_id == item_id,
                SpareShortage.region == region,
                SpareShortage.closed_at.is_(None),
            )
        )
        if shortage is not None and shortage.shortage > 0:
            if current is None:
                self.session.add(
                    SpareShortage(
                        item_id=item_id,
                        region=region,
                        shortage=shortage.shortage,
                        required=shortage.required,
                        serviceable=shortage.serviceable,
                    )
                )
                record_event(
                    self.session,
                    SpareShortageAppeared(
                        item_id,
                        shortage.sku,
                        region,
                        shortage.required,
                        shortage.serviceable,
                        shortage.shortage,
                    ),
                )
            else:
                current.shortage, current.required, current.serviceable = (
                    shortage.shortage,
                    shortage.required,
                    shortage.serviceable,
                )
        elif current is not None:
            current.closed_at = utcnow()

    async def set_spare_policy(
        self, item_id: UUID, region: str, *, ratio: float, minimum: int
    ) -> SparePolicy:
        item = await self.item(item_id)
        if item.kind != ItemKind.spare_unit:
            raise InvalidInput(f"{item.sku} is not a spare unit model", field="item_id", code="NOT_A_SPARE")
        if not (0 <= ratio <= 1):
            raise InvalidInput("ratio must be between 0 and 1", field="ratio")
        if minimum < 0:
            raise InvalidInput("minimum must be zero or more", field="minimum")
        await begin_write(self.session)
        policy = await self.session.scalar(
            select(SparePolicy).where(SparePolicy.item_id == item_id, SparePolicy.region == region)
        )
        if policy is None:
            policy = SparePolicy(item_id=item_id, region=region)
            self.session.add(policy)
        policy.ratio, policy.minimum = ratio, minimum
        policy.updated_at = utcnow()
        await self.session.flush()
        await self.check_spare_shortage(item_id, region)
        return policy

    # --- rebuilding balances from the ledger ------------------------------------------------------

    async def ledger_balances(self) -> dict[tuple[UUID, UUID, str], int]:
        """Every balance as the ledger says it is: what arrived minus what left."""
        totals: dict[tuple[UUID, UUID, str], int] = {}
        incoming = (
            select(Movement.to_location_id, Movement.item_id, Movement.size, func.sum(Movement.qty))
            .where(Movement.to_location_id.is_not(None))
            .group_by(Movement.to_location_id, Movement.item_id, Movement.size)
        )
        outgoing = (
            select(Movement.from_location_id, Movement.item_id, Movement.size, func.sum(Movement.qty))
            .where(Movement.from_location_id.is_not(None))
            .group_by(Movement.from_location_id, Movement.item_id, Movement.size)
        )
        for sign, statement in ((1, incoming), (-1, outgoing)):
            for location_id, item_id, size, qty in await self.session.execute(statement):
                key = (location_id, item_id, size)
                totals[key] = totals.get(key, 0) + sign * int(qty)
        return totals

    async def balance_drift(self) -> list[tuple[tuple[UUID, UUID, str], int, int]]:
        """Balances that differ from the ledger: (key, stored, ledger)."""
        ledger = await self.ledger_balances()
        stored = {
            (b.location_id, b.item_id, b.size): b.qty for b in await self.session.scalars(select(Balance))
        }
        return [
            (key, stored.get(key, 0), ledger.get(key, 0))
            for key in sorted(set(ledger) | set(stored), key=str)
            if stored.get(key, 0) != ledger.get(key, 0)
        ]

    async def rebuild_balances(self) -> int:
        """Set every balance to what the ledger says; returns how many changed."""
        await begin_write(self.session)
        drift = await self.balance_drift()
        for (location_id, item_id, size), _stored, ledger in drift:
            balance = await self._locked_balance(location_id, item_id, size)
            balance.qty = ledger
        await self.session.flush()
        return len(drift)


# Installed units are serviced through jobs, written-off ones not at all: neither is "due".
NOT_SERVICED_STATUSES = (AssetStatus.written_off, AssetStatus.installed)


def overdue_filter(now: datetime):
    """Assets out with a technician past their return date, or past a calibration/inspection/maintenance
    (``is_overdue`` is the same rule for one asset in hand)."""
    return or_(
        and_(
            Asset.return_due_at.is_not(None),
            Asset.return_due_at < now,
            Asset.status == AssetStatus.in_custody,
        ),
        and_(Asset.due_at.is_not(None), Asset.due_at < now, Asset.status.not_in(NOT_SERVICED_STATUSES)),
    )


def is_overdue(asset: Asset, now: datetime) -> bool:
    late_return = bool(
        asset.return_due_at and asset.return_due_at < now and asset.status == AssetStatus.in_custody
    )
    late_service = bool(asset.due_at and asset.due_at < now and asset.status not in NOT_SERVICED_STATUSES)
    return late_return or late_service
