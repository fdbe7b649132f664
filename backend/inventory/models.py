"""Inventory and custody tables. This foundation holds only locations (the demo
company needs its depot); items, assets, the movement ledger and balances come
with the inventory issue."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from sqlmodel import Field

from backend.db import SyncedEntity


class LocationKind(StrEnum):
    depot = "depot"
    vehicle = "vehicle"
    person = "person"
    site = "site"
    repair = "repair"
    written_off = "written_off"


class Location(SyncedEntity, table=True):
    __tablename__ = "location"
    __entity_name__ = "location"

    kind: str = Field(max_length=20, nullable=False, index=True)
    name: str = Field(max_length=160, nullable=False)
    code: str | None = Field(default=None, max_length=40, unique=True)
    region: str = Field(default="", max_length=80, nullable=False)
    address: str = Field(default="", max_length=300, nullable=False)
    # The holder for a person location and the assignee of a vehicle.
    # RESTRICT, not SET NULL: a database-side change would bypass the version and the change feed.
    user_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
