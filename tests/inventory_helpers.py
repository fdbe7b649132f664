"""Shared set-up for the inventory service tests (no HTTP): who acts, a small catalog and location set,
one operation per transaction, and snapshots to compare before and after an operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import User
from backend.auth.services import CurrentUser
from backend.inventory.models import (
    Asset,
    AssetService,
    Balance,
    Handover,
    InventoryOperation,
    Item,
    ItemKind,
    KitComponent,
    Location,
    LocationKind,
    Movement,
    SpareShortage,
    Tracking,
)
from backend.inventory.services import InventoryService, OperationContext
from backend.sync.models import SyncChange, SyncException

T = TypeVar("T")
Factory = async_sessionmaker[AsyncSession]

# --- who acts ----------------------------------------------------------------------------------------


current_user = CurrentUser.acting_as


async def load_actors(factory: Factory) -> dict[str, CurrentUser]:
    """Every demo user as a ``CurrentUser``, by username."""
    async with factory() as session:
        return {u.username: current_user(u) for u in await session.scalars(select(User))}


def ctx(
    actor: CurrentUser,
    *,
    move_id: UUID | None = None,
    job: bool | UUID = False,
    reason: str = "",
    recorded_at: datetime | None = None,
    args: dict[str, Any] | None = None,
) -> OperationContext:
    job_id = job if isinstance(job, UUID) else (uuid4() if job else None)
    return OperationContext(
        actor=actor,
        move_id=move_id or uuid4(),
        recorded_at=recorded_at,
        job_id=job_id,
        reason=reason,
        args=args,
    )


async def run(factory: Factory, work: Callable[[InventoryService], Awaitable[T]]) -> T:
    """One operation in its own transaction, committed on success and rolled back on any error, as the
    API does it."""
    async with factory() as session, session.begin():
        return await work(InventoryService(session))


async def read(factory: Factory, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with factory() as session:
        return await work(session)


# --- a small catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    suffix: str
    region: str
    other_region: str
    # items
    part: UUID  # a counted part, no sizes
    uniform: UUID  # a counted uniform in S, M, L
    tool: UUID  # a serialized tool lent for 7 days, calibrated every 180 days
    box: UUID  # a toolbox whose kit holds two tools
    spare: UUID  # a spare unit model (an ATM), maintained every 90 days
    van: UUID  # a vehicle model
    # locations
    depot: UUID  # in ``region``
    depot_b: UUID  # in ``other_region``
    repair: UUID
    site: UUID  # a customer site in ``region``
    site_b: UUID  # a customer site in ``other_region``

    @property
    def item_ids(self) -> list[UUID]:
        return [self.part, self.uniform, self.tool, self.box, self.spare, self.van]

    @property
    def serial_item_ids(self) -> list[UUID]:
        return [self.tool, self.box, self.spare, self.van]


UNIFORM_SIZES = ["S", "M", "L"]
TOOL_CALIBRATION_DAYS = 180
SPARE_MAINTENANCE_DAYS = 90


async def make_catalog(factory: Factory, suffix: str | None = None, region: str = "") -> Catalog:
    """Items and locations with names unique to ``suffix``, so several catalogs can share a database."""
    suffix = suffix or uuid4().hex[:8]
    region = region or f"East-{suffix}"
    other_region = f"West-{suffix}"

    def item(code: str, name: str, kind: ItemKind, **extra: Any) -> Item:
        tracking = Tracking.quantity if kind in (ItemKind.part, ItemKind.uniform) else Tracking.serial
        return Item(sku=f"{code}-{suffix}", name=name, kind=kind, tracking=tracking, **extra)

    part = item("PART", "Card reader belt", ItemKind.part)
    uniform = item("UNIF", "Work jacket", ItemKind.uniform, sizes=list(UNIFORM_SIZES))
    tool = item(
        "TOOL",
        "Torque wrench",
        ItemKind.tool,
        loan_days=7,
        service_kind="calibration",
        service_interval_days=TOOL_CALIBRATION_DAYS,
    )
    box = item("BOX", "Service toolbox", ItemKind.toolbox)
    spare = item(
        "ATM",
        "ATM model X",
        ItemKind.spare_unit,
        service_kind="maintenance",
        service_interval_days=SPARE_MAINTENANCE_DAYS,
    )
    van = item("VAN", "Service van", ItemKind.vehicle, service_kind="inspection", service_interval_days=365)

    def location(kind: LocationKind, code: str, name: str, where: str) -> Location:
        return Location(kind=kind, code=f"{code}-{suffix}", name=f"{name} {suffix}", region=where)

    depot = location(LocationKind.depot, "DEP-A", "Depot A", region)
    depot_b = location(LocationKind.depot, "DEP-B", "Depot B", other_region)
    repair = location(LocationKind.repair, "REP", "Repair shop", region)
    site = location(LocationKind.site, "SITE-A", "Bank branch A", region)
    site_b = location(LocationKind.site, "SITE-B", "Bank branch B", other_region)
    async with factory() as session, session.begin():
        session.add_all([part, uniform, tool, box, spare, van, depot, depot_b, repair, site, site_b])
        await session.flush()
        session.add(KitComponent(kit_item_id=box.id, component_item_id=tool.id, qty=2))
    return Catalog(
        suffix=suffix,
        region=region,
        other_region=other_region,
        part=part.id,
        uniform=uniform.id,
        tool=tool.id,
        box=box.id,
        spare=spare.id,
        van=van.id,
        depot=depot.id,
        depot_b=depot_b.id,
        repair=repair.id,
        site=site.id,
        site_b=site_b.id,
    )


async def pack_kit(factory: Factory, box_asset_id: UUID, tool_asset_ids: list[UUID]) -> None:
    """Put tools into a toolbox (there is no operation for it yet: packing is set-up data)."""
    async with factory() as session, session.begin():
        for tool_id in tool_asset_ids:
            tool = await session.get(Asset, tool_id)
            tool.parent_asset_id = box_asset_id


# --- reading the state -------------------------------------------------------------------------------

COUNTED_TABLES: dict[str, Any] = {
    "movement": Movement,
    "inventory_operation": InventoryOperation,
    "sync_exception": SyncException,
    "handover": Handover,
    "balance": Balance,
    "asset": Asset,
    "location": Location,
    "spare_shortage": SpareShortage,
    "asset_service": AssetService,
    "sync_change": SyncChange,
}


async def table_counts(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for name, model in COUNTED_TABLES.items():
        counts[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    return counts


def _row(obj: Any) -> tuple:
    return tuple((c.key, getattr(obj, c.key)) for c in obj.__table__.columns)


async def snapshot(session: AsyncSession, item_ids: list[UUID] | None = None) -> dict[str, Any]:
    """Balances, assets, hand-overs and open shortages (of ``item_ids``, or all) in full, every row
    version included, and how many rows each inventory table holds."""
    parts: dict[str, Any] = {"counts": await table_counts(session)}
    for name, model in (
        ("balances", Balance),
        ("assets", Asset),
        ("handovers", Handover),
        ("shortages", SpareShortage),
    ):
        statement = select(model).execution_options(populate_existing=True)
        if item_ids is not None:
            statement = statement.where(model.item_id.in_(item_ids))
        parts[name] = sorted((_row(o) for o in await session.scalars(statement)), key=str)
    return parts


async def balance_of(session: AsyncSession, location_id: UUID, item_id: UUID, size: str = "") -> int:
    qty = await session.scalar(
        select(Balance.qty).where(
            Balance.location_id == location_id, Balance.item_id == item_id, Balance.size == size
        )
    )
    return int(qty or 0)


async def get_fresh(session: AsyncSession, model: type[T], key: Any) -> T:
    return await session.get(model, key, populate_existing=True)


async def movements_of(session: AsyncSession, ids: list[UUID]) -> list[Movement]:
    """The movements with these ids, in the order of ``ids``."""
    rows = {m.id: m for m in await session.scalars(select(Movement).where(Movement.id.in_(ids)))}
    return [rows[i] for i in ids]


async def exceptions_of(session: AsyncSession, ids: list[UUID]) -> list[SyncException]:
    rows = {e.id: e for e in await session.scalars(select(SyncException).where(SyncException.id.in_(ids)))}
    return [rows[i] for i in ids]
