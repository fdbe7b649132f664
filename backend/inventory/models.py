"""Inventory and custody tables: the catalog, locations, serialized assets, the movement ledger and the
balances kept in step with it, hand-overs awaiting acceptance, services done on assets, and the spare
policy sized from the installed base.

The ledger (``movement``) is append-only: no code path updates or deletes a row. ``balance`` is a
cache of the ledger kept in the same transaction as each movement; ``fieldq inventory check``
rebuilds it from the ledger and reports any drift.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db import Entity, SyncedEntity, utcnow

SKU_MAX = 60
NAME_MAX = 160
SERIAL_MAX = 80
SIZE_MAX = 12
REGION_MAX = 80
NOTE_MAX = 1000


class ItemKind(StrEnum):
    tool = "tool"
    toolbox = "toolbox"
    uniform = "uniform"
    vehicle = "vehicle"
    spare_unit = "spare_unit"
    part = "part"
    consumable = "consumable"


class Tracking(StrEnum):
    serial = "serial"
    quantity = "quantity"


# Kinds whose units are always individually tracked, and kinds that are always counted.
SERIAL_KINDS = frozenset({ItemKind.tool, ItemKind.toolbox, ItemKind.vehicle, ItemKind.spare_unit})
QUANTITY_KINDS = frozenset({ItemKind.uniform, ItemKind.consumable})


class ServiceKind(StrEnum):
    calibration = "calibration"
    inspection = "inspection"
    maintenance = "maintenance"


class LocationKind(StrEnum):
    depot = "depot"
    vehicle = "vehicle"
    person = "person"
    site = "site"
    repair = "repair"
    written_off = "written_off"


# Where stock is held by the company and can be handed out from.
STORE_KINDS = frozenset({LocationKind.depot})
# A technician's own custody.
CUSTODY_KINDS = frozenset({LocationKind.person, LocationKind.vehicle})


class AssetStatus(StrEnum):
    in_stock = "in_stock"  # at a depot
    in_custody = "in_custody"  # with a technician (their person or their van)
    in_transit = "in_transit"  # handed over, waiting for the receiver to accept
    installed = "installed"  # at a customer site: the installed base
    in_repair = "in_repair"
    written_off = "written_off"


class Condition(StrEnum):
    ok = "ok"
    damaged = "damaged"
    faulty = "faulty"
    lost = "lost"


class Operation(StrEnum):
    """Why a movement happened: one name per service-layer operation."""

    receive = "receive"
    opening = "opening"  # an imported opening balance (installed base, first stock)
    checkout = "checkout"
    return_ = "return"
    transfer = "transfer"
    consume = "consume"
    swap_install = "swap_install"
    swap_remove = "swap_remove"
    repair_send = "repair_send"
    repair_receive = "repair_receive"
    count_adjust = "count_adjust"
    vehicle_assign = "vehicle_assign"
    vehicle_unassign = "vehicle_unassign"
    uniform_issue = "uniform_issue"
    kit_content = "kit_content"  # a tool that moved because its toolbox moved
    handover_decision = "handover_decision"  # an operation record; its movement lines are ``transfer``


class Item(SyncedEntity, table=True):
    __tablename__ = "item"
    __entity_name__ = "item"

    sku: str = Field(max_length=SKU_MAX, unique=True, nullable=False)
    name: str = Field(max_length=NAME_MAX, nullable=False)
    kind: str = Field(max_length=20, nullable=False, index=True)
    tracking: str = Field(max_length=10, nullable=False)
    unit: str = Field(default="ea", max_length=12, nullable=False)
    # Uniform sizes in display order; empty for items without sizes.
    sizes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Assets of this item need a periodic service (a torque wrench's calibration, a spare ATM's
    # maintenance, a van's inspection) every ``service_interval_days``.
    service_kind: str | None = Field(default=None, max_length=20)
    service_interval_days: int | None = Field(default=None)
    # Tools lent from the depot are due back after this many days (overdue returns).
    loan_days: int | None = Field(default=None)
    is_active: bool = Field(default=True, nullable=False)


class KitComponent(SQLModel, table=True):
    """What a toolbox (a kit) holds. Serialized components travel as child assets of the toolbox."""

    __tablename__ = "kit_component"

    kit_item_id: UUID = Field(foreign_key="item.id", primary_key=True, ondelete="CASCADE")
    component_item_id: UUID = Field(foreign_key="item.id", primary_key=True, ondelete="RESTRICT")
    qty: int = Field(default=1, nullable=False)


class Location(SyncedEntity, table=True):
    __tablename__ = "location"
    __entity_name__ = "location"

    kind: str = Field(max_length=20, nullable=False, index=True)
    name: str = Field(max_length=NAME_MAX, nullable=False)
    code: str | None = Field(default=None, max_length=40, unique=True)
    region: str = Field(default="", max_length=REGION_MAX, nullable=False)
    address: str = Field(default="", max_length=300, nullable=False)
    # The holder for a person location and the assignee of a vehicle.
    # RESTRICT, not SET NULL: a database-side change would bypass the version and the change feed.
    user_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    is_active: bool = Field(default=True, nullable=False)


class Asset(SyncedEntity, table=True):
    """A serialized unit: a tool, a toolbox, a van, a spare unit, or an installed unit at a site."""

    __tablename__ = "asset"
    __entity_name__ = "asset"
    __table_args__ = (
        UniqueConstraint("item_id", "serial", name="uq_asset_item_serial"),
        # Covers the spare report and the shortage check (counted from the index alone).
        Index("ix_asset_item_region_status", "item_id", "region", "status", "condition"),
    )

    item_id: UUID = Field(foreign_key="item.id", nullable=False, ondelete="RESTRICT")
    serial: str = Field(max_length=SERIAL_MAX, nullable=False, index=True)
    status: str = Field(max_length=20, nullable=False)
    condition: str = Field(default=Condition.ok, max_length=20, nullable=False)
    location_id: UUID = Field(foreign_key="location.id", nullable=False, index=True, ondelete="RESTRICT")
    # The technician whose custody it is in (person or vehicle location), else none.
    holder_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    # The region whose spare pool (or installed base) it counts in; kept while it is away for repair.
    region: str = Field(default="", max_length=REGION_MAX, nullable=False)
    # A tool inside a toolbox travels with it.
    parent_asset_id: UUID | None = Field(
        default=None, foreign_key="asset.id", index=True, ondelete="RESTRICT"
    )
    # A van: the location that is its load space.
    vehicle_location_id: UUID | None = Field(
        default=None, foreign_key="location.id", unique=True, ondelete="RESTRICT"
    )
    due_at: datetime | None = Field(default=None, sa_type=DateTimeUTC, index=True)
    last_serviced_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    return_due_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    installed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class Balance(SyncedEntity, table=True):
    """How many of an item (of a size) a location holds: the ledger summed, kept in step with it."""

    __tablename__ = "balance"
    __entity_name__ = "balance"
    __table_args__ = (
        UniqueConstraint("location_id", "item_id", "size", name="uq_balance_location_item_size"),
    )

    location_id: UUID = Field(foreign_key="location.id", nullable=False, index=True, ondelete="RESTRICT")
    item_id: UUID = Field(foreign_key="item.id", nullable=False, index=True, ondelete="RESTRICT")
    size: str = Field(default="", max_length=SIZE_MAX, nullable=False)
    # May go below zero: a fact recorded in the field outranks the store's belief (a discrepancy is raised).
    qty: int = Field(default=0, nullable=False)


class InventoryOperation(SQLModel, table=True):
    """One operation per client ``move_id``: its arguments and its result, stored with its movements
    in one transaction, so a replay of the same ``move_id`` changes nothing and gets the same answer."""

    __tablename__ = "inventory_operation"

    move_id: UUID = Field(primary_key=True)
    operation: str = Field(max_length=20, nullable=False)
    actor_id: UUID = Field(foreign_key="user.id", nullable=False, index=True, ondelete="RESTRICT")
    job_id: UUID | None = Field(default=None, index=True)
    recorded_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    args: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Movement(Entity, table=True):
    """One line of the append-only ledger. An operation (one client ``move_id``) may write several
    lines (a toolbox and its tools, a swap's two units); ``line`` numbers them."""

    __tablename__ = "movement"
    __table_args__ = (
        UniqueConstraint("move_id", "line", name="uq_movement_move_line"),
        Index("ix_movement_to_item", "to_location_id", "item_id"),
        Index("ix_movement_from_item", "from_location_id", "item_id"),
    )

    move_id: UUID = Field(foreign_key="inventory_operation.move_id", nullable=False, ondelete="RESTRICT")
    line: int = Field(default=0, nullable=False)
    operation: str = Field(max_length=20, nullable=False)
    from_location_id: UUID | None = Field(default=None, foreign_key="location.id", ondelete="RESTRICT")
    to_location_id: UUID | None = Field(default=None, foreign_key="location.id", ondelete="RESTRICT")
    item_id: UUID = Field(foreign_key="item.id", nullable=False, ondelete="RESTRICT")
    asset_id: UUID | None = Field(default=None, foreign_key="asset.id", index=True, ondelete="RESTRICT")
    size: str = Field(default="", max_length=SIZE_MAX, nullable=False)
    qty: int = Field(nullable=False)
    condition: str | None = Field(default=None, max_length=20)
    # The job it was for; a plain id until the jobs domain adds its table.
    job_id: UUID | None = Field(default=None, index=True)
    actor_id: UUID = Field(foreign_key="user.id", nullable=False, ondelete="RESTRICT")
    # The technician whose custody gained or lost it (for team views and exceptions).
    custodian_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    reason: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    recorded_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)  # on the device
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)


class HandoverStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"


class Handover(SyncedEntity, table=True):
    """A hand-over between technicians: custody passes when the receiver accepts. Phones pull it (both
    people and their supervisors) while it is pending and for 30 days after it was decided; then
    compaction sets ``archived_at`` and it leaves their scope (``backend.sync.scopes``)."""

    __tablename__ = "handover"
    __entity_name__ = "handover"

    move_id: UUID = Field(nullable=False, unique=True)
    from_user_id: UUID = Field(foreign_key="user.id", nullable=False, index=True, ondelete="RESTRICT")
    to_user_id: UUID = Field(foreign_key="user.id", nullable=False, index=True, ondelete="RESTRICT")
    from_location_id: UUID = Field(foreign_key="location.id", nullable=False, ondelete="RESTRICT")
    item_id: UUID = Field(foreign_key="item.id", nullable=False, ondelete="RESTRICT")
    asset_id: UUID | None = Field(default=None, foreign_key="asset.id", ondelete="RESTRICT")
    size: str = Field(default="", max_length=SIZE_MAX, nullable=False)
    qty: int = Field(nullable=False)
    status: str = Field(default=HandoverStatus.pending, max_length=10, nullable=False, index=True)
    note: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    recorded_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    decided_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    decided_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    archived_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class AssetService(Entity, table=True):
    """A calibration, inspection or maintenance done on an asset; moves its ``due_at`` on."""

    __tablename__ = "asset_service"

    asset_id: UUID = Field(foreign_key="asset.id", nullable=False, index=True, ondelete="RESTRICT")
    kind: str = Field(max_length=20, nullable=False)
    performed_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    actor_id: UUID = Field(foreign_key="user.id", nullable=False, ondelete="RESTRICT")
    note: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    next_due_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


DEFAULT_SPARE_RATIO = 0.01


class SparePolicy(Entity, table=True):
    """How many spares a model needs in a region: ``max(ceil(installed × ratio), minimum)``.
    Without a row the ratio is ``DEFAULT_SPARE_RATIO`` and the minimum 0."""

    __tablename__ = "spare_policy"
    __table_args__ = (UniqueConstraint("item_id", "region", name="uq_spare_policy_item_region"),)

    item_id: UUID = Field(foreign_key="item.id", nullable=False, ondelete="CASCADE")
    region: str = Field(max_length=REGION_MAX, nullable=False)
    ratio: float = Field(default=DEFAULT_SPARE_RATIO, nullable=False)
    minimum: int = Field(default=0, nullable=False)


class SpareShortage(Entity, table=True):
    """A shortage of spares for a model in a region, from when it appeared until it cleared: the
    durable record behind the ``SpareShortageAppeared`` event."""

    __tablename__ = "spare_shortage"
    __table_args__ = (Index("ix_spare_shortage_open", "item_id", "region", "closed_at"),)

    item_id: UUID = Field(foreign_key="item.id", nullable=False, ondelete="CASCADE")
    region: str = Field(max_length=REGION_MAX, nullable=False)
    shortage: int = Field(nullable=False)
    required: int = Field(nullable=False)
    serviceable: int = Field(nullable=False)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    closed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
